"""Spectra preprocessing: the recipe against a plain per-spectrum implementation, the batch path
against the single one, the RV fix, the validity mask, bad input and the file-level entry point."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from scipy.signal import medfilt

import desa.preprocess.spectra as spectra_module
from desa.preprocess.spectra import (
    BLUE_ARM,
    N_PIXELS,
    RED_ARM,
    PreprocessError,
    SpectraRecipe,
    preprocess_batch,
    preprocess_files,
    preprocess_spectrum,
    rest_grid,
    validity_mask,
)
from desa.sky.lamost_files import write_lamost_spectrum
from desa.surveys.lamost import read_spectrum
from storage.errors import BadInputError

C_KMS = 299792.458


def _plain(wavelength: np.ndarray, flux: np.ndarray, rv_kms: float) -> np.ndarray:
    """The six steps of the recipe, one spectrum at a time, with plain numpy/scipy calls."""
    rest = np.asarray(wavelength, dtype=np.float64) / (1 + rv_kms / C_KMS)
    arms = []
    for lo, hi in (BLUE_ARM, RED_ARM):
        grid = 10 ** np.arange(np.log10(lo), np.log10(hi), 1e-4)
        arm = np.interp(grid, rest, np.asarray(flux, dtype=np.float64))
        arm = medfilt(arm, 3)
        x = np.arange(arm.size)
        arm = arm / np.polyval(np.polyfit(x, arm, 5), x)
        mu, sigma = arm.mean(), arm.std()
        arm = np.where((arm < mu - 3 * sigma) | (arm > mu + 3 * sigma), mu, arm)
        arms.append((arm - mu) / sigma)
    return np.concatenate(arms)


class Spectrum(NamedTuple):
    wavelength: np.ndarray
    flux: np.ndarray
    rv_kms: float
    ivar: np.ndarray | None
    andmask: np.ndarray | None


def _synthetic(
    n: int = 3909, start_log: float = 3.5682, rv_kms: float = 20.0, seed: int = 0
) -> Spectrum:
    """LAMOST-like log grid; smooth continuum, absorption lines, 1 % noise."""
    rng = np.random.default_rng(seed)
    wavelength = 10 ** (start_log + 1e-4 * np.arange(n))
    flux = 100 * (1 + 0.3 * np.sin(wavelength / 900)) * (1 + 0.01 * rng.standard_normal(n))
    for line in (4862.7, 5185.0, 6564.6, 8544.4):
        observed = line * (1 + rv_kms / C_KMS)
        flux *= 1 - 0.4 * np.exp(-0.5 * ((wavelength - observed) / 2.5) ** 2)
    return Spectrum(wavelength, flux, rv_kms, np.ones(n), np.zeros(n, dtype=np.int64))


def _real_files(real_data: Path) -> list[Path]:
    files = sorted((real_data / "lamost").glob("**/spec-*.fits*"))
    assert len(files) >= 10
    return files


def test_grid_is_the_reference_grid() -> None:
    grid = rest_grid()
    assert grid.shape == (N_PIXELS,) == (3600,)
    assert np.all(np.diff(grid) > 0)
    assert grid[0] == pytest.approx(3841.0)
    assert grid[1789] < 5800.0 <= grid[1790] == pytest.approx(5800.0)
    assert grid[-1] < 8798.0
    np.testing.assert_allclose(np.diff(np.log10(grid[:1790])), 1e-4, rtol=1e-6)
    grid[0] = 0.0  # a copy: the module's grid is untouched
    assert rest_grid()[0] == pytest.approx(3841.0)


def test_real_spectra_match_the_plain_recipe(real_data: Path) -> None:
    for path in _real_files(real_data):
        spectrum = read_spectrum(path)
        out = preprocess_spectrum(spectrum.wavelength, spectrum.flux, spectrum.rv_kms)
        assert out.dtype == np.float32 and out.shape == (3600,), path
        expected = _plain(spectrum.wavelength, spectrum.flux, spectrum.rv_kms)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5, err_msg=str(path))


def test_synthetic_spectrum_matches_the_plain_recipe() -> None:
    spectrum = _synthetic(n=3751, start_log=3.584)
    out = preprocess_spectrum(spectrum.wavelength, spectrum.flux, spectrum.rv_kms)
    expected = _plain(spectrum.wavelength, spectrum.flux, spectrum.rv_kms)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def _assert_rows_equal_single(spectra: list[Any], recipe: SpectraRecipe) -> None:
    batch = preprocess_batch(spectra, recipe)
    assert batch.flux.shape == (len(spectra), 3600) and batch.flux.dtype == np.float32
    assert batch.mask.shape == (len(spectra), 3600) and batch.mask.dtype == bool
    assert batch.errors == [None] * len(spectra)
    for i, s in enumerate(spectra):
        single = preprocess_spectrum(
            s.wavelength, s.flux, s.rv_kms, ivar=s.ivar, andmask=s.andmask, recipe=recipe
        )
        np.testing.assert_allclose(batch.flux[i], single, rtol=0, atol=1e-6, err_msg=str(i))
        mask = validity_mask(s.wavelength, s.rv_kms, s.ivar, s.andmask, flux=s.flux)
        np.testing.assert_array_equal(batch.mask[i], mask, err_msg=str(i))


def test_batch_equals_single_on_real_and_synthetic(real_data: Path) -> None:
    spectra: list[Any] = [read_spectrum(path) for path in _real_files(real_data)]
    assert len({s.wavelength.size for s in spectra}) >= 4  # 3751 ... 3909 pixels
    short = _synthetic(n=3390, start_log=3.575, seed=1)  # 3758-8200 Å: part of the red arm
    spectra[3:3] = [_synthetic(seed=2), short, _synthetic(n=3751, start_log=3.584, seed=3)]
    _assert_rows_equal_single(spectra, SpectraRecipe())


def test_batch_chunks_gaps_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several chunks; NaN gaps and bad pixels take the path that skips unusable pixels."""
    monkeypatch.setattr(spectra_module, "CHUNK_ROWS", 2)
    spectra = [_synthetic(n=3909 - 37 * i, seed=i, rv_kms=-60 + 25 * i) for i in range(5)]
    spectra[1].flux[400:420] = np.nan
    spectra[3].ivar[1000:1010] = 0
    spectra[4].andmask[3000] = 4
    _assert_rows_equal_single(spectra, SpectraRecipe())
    _assert_rows_equal_single(spectra, SpectraRecipe(mask_bad_pixels_before_fit=True))


def test_a_row_is_bit_identical_whatever_rows_share_its_batch() -> None:
    """A rerun after SIGKILL reprocesses spectra in other shards than an uninterrupted run, so
    a row must not depend on its batch at all: exact equality, not a tolerance (a BLAS
    product's rounding depends on the number of rows, which once flipped float32 pixels)."""
    rng = np.random.default_rng(4)
    pixels = np.arange(N_PIXELS)
    rows = 1.0 + 0.3 * np.sin(pixels / 700.0) + 0.02 * rng.standard_normal((8, N_PIXELS))
    batch, _ = spectra_module._normalise(rows, SpectraRecipe())
    for i in range(len(rows)):
        single, _ = spectra_module._normalise(rows[i : i + 1], SpectraRecipe())
        np.testing.assert_array_equal(single[0], batch[i], err_msg=str(i))


def test_nan_pixels_are_bridged_like_np_interp_over_the_finite_ones() -> None:
    s = _synthetic()
    flux = s.flux.copy()
    flux[2000:2003] = np.nan
    finite = np.isfinite(flux)
    out = preprocess_spectrum(s.wavelength, flux, s.rv_kms)
    expected = _plain(s.wavelength[finite], flux[finite], s.rv_kms)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def _line_pixel(out: np.ndarray, rest_line: float) -> tuple[int, int]:
    """(pixel of the minimum near the line, pixel of the line's rest wavelength)."""
    grid = rest_grid()
    expected = int(np.argmin(np.abs(grid - rest_line)))
    window = slice(expected - 15, expected + 16)
    return window.start + int(np.argmin(out[window])), expected


def test_line_lands_at_its_rest_wavelength() -> None:
    """Hα (vacuum 6564.6 Å) observed at +150 km/s comes out at its rest pixel.

    A broad trough at 8200 Å gives the red arm enough spread that step 5 (values beyond μ ± 3σ
    -> μ) keeps the line core; a lone line on a flat continuum would be clipped away.
    """
    rest_line, rv = 6564.6, 150.0
    wavelength = 10 ** (3.5682 + 1e-4 * np.arange(3909))
    rng = np.random.default_rng(5)
    flux = 1 + 1e-3 * rng.standard_normal(wavelength.size)
    for center, depth, width in ((rest_line, 0.3, 2.0), (8200.0, 0.7, 60.0)):
        observed = center * (1 + rv / C_KMS)
        flux -= depth * np.exp(-0.5 * ((wavelength - observed) / width) ** 2)

    out = preprocess_spectrum(wavelength, flux, rv)
    found, expected = _line_pixel(out, rest_line)
    assert abs(found - expected) <= 1
    assert out[found] < -1.5  # the core itself, not a clipped wing
    # The shift is ~2.2 pixels: ignoring the RV, or the reference's λ·(1 + v/c) (the same as
    # dividing with -v), puts the line 2-5 pixels off.
    for wrong_rv in (0.0, -rv):
        found, expected = _line_pixel(preprocess_spectrum(wavelength, flux, wrong_rv), rest_line)
        assert abs(found - expected) >= 2, wrong_rv


def test_validity_mask_marks_ivar_zero_and_andmask_pixels() -> None:
    s = _synthetic(start_log=3.59)  # starts at 3890 Å: the first blue pixels are out of range
    ivar, andmask = s.ivar.copy(), s.andmask.copy()
    ivar[1000] = 0
    andmask[2500] = 16
    mask = validity_mask(s.wavelength, s.rv_kms, ivar, andmask)
    grid = rest_grid()
    rest = s.wavelength / (1 + s.rv_kms / C_KMS)
    expected = (grid >= rest[0]) & (grid <= rest[-1])
    for bad in (1000, 2500):  # grid pixels interpolated from the bad pixel
        expected &= ~((grid >= rest[bad - 1]) & (grid < rest[bad + 1]))
    np.testing.assert_array_equal(mask, expected)
    assert 0 < (~expected[:1790]).sum() < 1790 and (~expected[1790:]).sum() > 0
    in_range = (grid >= rest[0]) & (grid <= rest[-1])
    np.testing.assert_array_equal(validity_mask(s.wavelength, s.rv_kms), in_range)
    flux = s.flux.copy()
    flux[1800] = np.nan
    assert not validity_mask(s.wavelength, s.rv_kms, flux=flux).all()

    batch = preprocess_batch([s._replace(ivar=ivar, andmask=andmask)])
    assert batch.errors == [None]
    np.testing.assert_array_equal(batch.mask[0], expected)


def test_real_mask_flags_zero_ivar(real_data: Path) -> None:
    # DR7 677503031 has 48 ivar == 0 pixels (data_sources.md §1.5).
    spectrum = read_spectrum(real_data / "lamost/dr7/spec-58397-EG014118N254444M01_sp03-031.fits")
    mask = validity_mask(spectrum.wavelength, spectrum.rv_kms, spectrum.ivar, spectrum.andmask)
    assert 0 < (~mask).sum() < 100
    assert validity_mask(spectrum.wavelength, spectrum.rv_kms).all()


def test_masking_bad_pixels_before_the_fit_is_off_by_default() -> None:
    s = _synthetic()
    spiked = s.flux.copy()
    spiked[2200] *= 50  # a cosmic ray on a pixel the pipeline flagged
    ivar = s.ivar.copy()
    ivar[2200] = 0
    on = SpectraRecipe(mask_bad_pixels_before_fit=True)

    def run(flux: np.ndarray, recipe: SpectraRecipe) -> np.ndarray:
        return preprocess_spectrum(s.wavelength, flux, s.rv_kms, ivar=ivar, recipe=recipe)

    np.testing.assert_array_equal(run(spiked, on), run(s.flux, on))
    assert np.abs(run(spiked, SpectraRecipe()) - run(s.flux, SpectraRecipe())).max() > 0.1
    np.testing.assert_allclose(
        run(spiked, SpectraRecipe()), _plain(s.wavelength, spiked, s.rv_kms), atol=1e-5
    )


def _bad(case: str) -> Spectrum:
    s = _synthetic()
    wavelength, flux = s.wavelength.copy(), s.flux.copy()
    rv = s.rv_kms
    if case == "all NaN":
        flux[:] = np.nan
    elif case == "all zero":
        flux[:] = 0.0
    elif case == "unknown RV":
        rv = math.nan
    elif case == "RV missing":
        rv = None  # type: ignore[assignment]
    elif case == "text flux":
        flux = np.array(["n/a"] * flux.size)  # type: ignore[assignment]
    elif case == "no red arm":
        wavelength, flux = wavelength[:1900], flux[:1900]  # ends at 5700 Å
    elif case == "blue arm mostly NaN":
        flux[wavelength < 5100] = np.nan
    elif case == "lengths differ":
        flux = flux[:-1]
    elif case == "not increasing":
        wavelength = wavelength[::-1].copy()
    elif case == "red arm zero":
        flux[wavelength > 5700] = 0.0
    elif case == "flat blue arm":
        flux[wavelength < 5900] = 7.0
    return Spectrum(wavelength, flux, rv, s.ivar[: flux.size], s.andmask[: flux.size])


BAD_CASES = {
    "all NaN": r"flux has no finite value",
    "all zero": r"flux is all zero",
    "unknown RV": r"unknown radial velocity \(rv_kms = nan\)",
    "RV missing": r"unknown radial velocity \(rv_kms = None\)",
    "text flux": r"not numeric input \(could not convert string to float",
    "no red arm": r"coverage 3699.7-57\d\d.\d Å \(rest frame\) misses the red arm 5800-8798 Å",
    "blue arm mostly NaN": r"blue arm: finite flux covers 3\d% of its 1790 rest-grid pixels",
    "lengths differ": r"flux has shape \(3908,\), wavelength has 3909 pixels",
    "not increasing": r"wavelength is not a positive, strictly increasing array",
    "red arm zero": r"red arm: flux / continuum is not finite",
    "flat blue arm": r"blue arm: no variation left after continuum division",
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_has_a_clear_reason(case: str) -> None:
    bad = _bad(case)
    with pytest.raises(PreprocessError, match=BAD_CASES[case]) as info:
        preprocess_spectrum(bad.wavelength, bad.flux, bad.rv_kms)
    assert isinstance(info.value, BadInputError) and info.value.path == "spectrum"

    good = _synthetic()
    batch = preprocess_batch([good, bad, good])
    assert batch.errors[0] is None and batch.errors[2] is None
    assert batch.errors[1] is not None
    assert batch.errors[1].startswith("spectrum 1: ")
    assert np.isnan(batch.flux[1]).all() and not batch.mask[1].any()
    np.testing.assert_array_equal(batch.flux[0], batch.flux[2])
    assert np.isfinite(batch.flux[0]).all()


def test_arm_coverage_threshold_is_configurable() -> None:
    s = _synthetic()
    flux = s.flux.copy()
    flux[s.wavelength < 4500] = np.nan  # the blue arm keeps ~62 % of its pixels
    out = preprocess_spectrum(s.wavelength, flux, s.rv_kms)
    assert np.isfinite(out).all()
    with pytest.raises(PreprocessError, match=r"blue arm: finite flux covers 6\d% .*need ≥ 70%"):
        preprocess_spectrum(
            s.wavelength, flux, s.rv_kms, recipe=SpectraRecipe(min_arm_coverage=0.7)
        )
    ivar = s.ivar.copy()
    ivar[s.wavelength > 6000] = 0  # unusable only when bad pixels are masked
    recipe = SpectraRecipe(mask_bad_pixels_before_fit=True)
    with pytest.raises(PreprocessError, match=r"red arm: unmasked finite flux covers"):
        preprocess_spectrum(s.wavelength, s.flux, s.rv_kms, ivar=ivar, recipe=recipe)


def test_recipe_knobs_and_provenance() -> None:
    recipe = SpectraRecipe()
    assert recipe.as_dict() == {
        "rest_frame": "lambda / (1 + rv/c)",
        "c_kms": C_KMS,
        "blue_arm": [3841.0, 5800.0],
        "red_arm": [5800.0, 8798.0],
        "log10_step": 1e-4,
        "n_pixels": 3600,
        "poly_degree": 5,
        "medfilt_width": 3,
        "clip_sigma": 3.0,
        "min_arm_coverage": 0.5,
        "mask_bad_pixels_before_fit": False,
    }
    for bad in (
        {"poly_degree": -1},
        {"medfilt_width": 4},
        {"medfilt_width": 0},
        {"clip_sigma": 0.0},
        {"min_arm_coverage": 0.0},
        {"min_arm_coverage": 1.5},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SpectraRecipe(**bad)


def test_other_knob_values_follow_scipy_and_numpy() -> None:
    s = _synthetic()
    recipe = SpectraRecipe(poly_degree=3, medfilt_width=5, clip_sigma=2.0)
    out = preprocess_spectrum(s.wavelength, s.flux, s.rv_kms, recipe=recipe)
    rest = s.wavelength / (1 + s.rv_kms / C_KMS)
    arms = []
    for lo, hi in (BLUE_ARM, RED_ARM):
        grid = 10 ** np.arange(np.log10(lo), np.log10(hi), 1e-4)
        arm = medfilt(np.interp(grid, rest, s.flux), 5)
        x = np.arange(arm.size)
        arm = arm / np.polyval(np.polyfit(x, arm, 3), x)
        mu, sigma = arm.mean(), arm.std()
        arm = np.where((arm < mu - 2 * sigma) | (arm > mu + 2 * sigma), mu, arm)
        arms.append((arm - mu) / sigma)
    np.testing.assert_allclose(out, np.concatenate(arms), rtol=0, atol=1e-5)


# --- preprocess_files ----------------------------------------------------------------------

_HEADER: dict[str, Any] = {
    "DATA_V": "LAMOST DR9",
    "RA": 292.05872,
    "DEC": 43.925228,
    "TSOURCE": "Kepler",
    "TCOMMENT": "kplr008098300",
    "HELIO_RV": 9.85,
    "Z_ERR": 2.7e-5,
    "SNRU": 25.0,
    "SNRG": 87.0,
    "SNRR": 128.0,
    "SNRI": 158.0,
    "SNRZ": 119.0,
}


def _write(path: Path, obsid: int, z: float, seed: int, layout: str = "coadd") -> Spectrum:
    rv = z * C_KMS if z != -9999 else 0.0
    s = _synthetic(rv_kms=rv, seed=seed)
    write_lamost_spectrum(
        path,
        layout=layout,  # type: ignore[arg-type]
        wavelength=s.wavelength,
        flux=s.flux,
        ivar=s.ivar,
        andmask=s.andmask,
        ormask=s.andmask,
        header={**_HEADER, "OBSID": obsid, "Z": z},
    )
    return s


def test_preprocess_files_quarantines_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spectra_module, "CHUNK_ROWS", 2)
    paths = [tmp_path / f"spec-{i}.fits.gz" for i in range(5)]
    written = {
        0: _write(paths[0], 11, 1e-4, seed=0),
        2: _write(paths[2], 13, -2e-4, seed=2, layout="image"),
        4: _write(paths[4], 15, 5e-5, seed=4),
    }
    paths[1].write_bytes(b"<html>502 Bad Gateway</html>")  # an error page saved as the file
    _write(paths[3], 14, -9999.0, seed=3)  # the pipeline found no redshift
    missing = tmp_path / "spec-gone.fits.gz"

    batch = preprocess_files([*paths, missing], rv_override={13: 42.0, 15: math.nan})

    assert batch.obsids == [11, 13, 15]
    assert [path for path, _ in batch.failures] == [str(paths[1]), str(paths[3]), str(missing)]
    assert batch.failures[0][1].startswith(f"{paths[1]}: ")
    assert batch.failures[1][1] == f"{paths[3]}: unknown radial velocity (rv_kms = nan)"
    assert "No such file" in batch.failures[2][1]
    assert batch.flux.shape == (3, 3600) and batch.mask.shape == (3, 3600)
    for row, (index, rv) in enumerate([(0, 1e-4 * C_KMS), (2, 42.0), (4, 5e-5 * C_KMS)]):
        s = written[index]
        flux32 = s.flux.astype(np.float32)  # the files store float32
        wave32 = s.wavelength.astype(np.float32)
        expected = preprocess_spectrum(wave32, flux32, rv)
        np.testing.assert_allclose(batch.flux[row], expected, rtol=0, atol=1e-6)
        assert batch.snr["rv_kms"][row] == pytest.approx(rv)

    snr = batch.snr
    assert list(snr.columns) == [
        "obsid", "snru", "snrg", "snrr", "snri", "snrz", "rv_kms", "kic", "ra", "dec", "release"
    ]  # fmt: skip
    assert snr["obsid"].tolist() == [11, 13, 15]
    assert snr["kic"].tolist() == [8098300] * 3
    assert snr["snrg"].tolist() == [87.0] * 3
    assert snr["release"].tolist() == ["LAMOST DR9"] * 3
    assert snr["ra"][0] == pytest.approx(292.05872)


def test_preprocess_files_with_nothing_usable(tmp_path: Path) -> None:
    bad = tmp_path / "spec-bad.fits.gz"
    bad.write_bytes(b"\x1f\x8b garbage")
    batch = preprocess_files([bad])
    assert batch.obsids == [] and batch.flux.shape == (0, 3600) and batch.mask.shape == (0, 3600)
    assert batch.snr.empty and batch.snr["kic"].dtype == pd.Int64Dtype()
    assert [path for path, _ in batch.failures] == [str(bad)]


def test_preprocess_files_on_a_real_folder_with_a_corrupt_file(
    real_data: Path, tmp_path: Path
) -> None:
    files = _real_files(real_data)
    folder = tmp_path / "shard"
    folder.mkdir()
    for i, path in enumerate(files):
        (folder / f"{i:02d}-{path.name}").symlink_to(path)
    corrupt = folder / "99-spec-corrupt.fits.gz"
    corrupt.write_bytes(files[1].read_bytes()[:5000])  # a download cut short
    batch = preprocess_files(sorted(folder.iterdir()))
    assert len(batch.obsids) == len(files)
    assert len(batch.failures) == 1 and batch.failures[0][0] == str(corrupt)
    assert "99-spec-corrupt.fits.gz" in batch.failures[0][1]
    assert np.isfinite(batch.flux).all()
    dr6 = batch.obsids.index(359910161)
    assert batch.snr["kic"][dr6] == 8098300
    assert batch.snr["rv_kms"][dr6] == pytest.approx(-0.00017162 * C_KMS)
