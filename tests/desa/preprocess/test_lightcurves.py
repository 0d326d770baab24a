"""Light-curve stitching on the global grid, absolute-magnitude factor, ACF / FFT features."""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits

from desa.preprocess.lightcurves import (
    N_CADENCES,
    LightCurveError,
    absolute_magnitude,
    acf,
    acf_torch,
    cadence_grid,
    fft_features,
    fft_features_torch,
    luminosity_factor,
    process_stars,
    stitch_quarters,
)
from desa.sky.kepler_files import write_llc
from desa.surveys.kepler import QUARTERS, KeplerQuarter, llc_filename, read_quarter
from desa.surveys.lean_fits import HeaderCards

# Finite good (default bitmask) PDCSAP cadences per star, counted from the files
# (shared/real/SOURCES.md, "Totals after default bitmask with finite PDCSAP").
REAL_GOOD_CADENCES = {
    2556081: 64794,
    5899262: 2093,
    7660594: 65263,
    8374877: 65263,
    10424789: 42645,
    11442793: 9628,
}
ONE_QUARTER_KIC = 8417738


def _real_files(real_data: Path) -> dict[int, list[Path]]:
    files: dict[int, list[Path]] = defaultdict(list)
    for path in sorted((real_data / "kepler").glob("kplr*_llc.fits")):
        files[int(path.name[4:13])].append(path)
    return dict(files)


def _quarter(
    quarter: int,
    flux: np.ndarray | None = None,
    *,
    kic: int = 1234567,
    rows: int | None = None,
    start: int | None = None,
    quality: np.ndarray | None = None,
    path: str | None = None,
) -> KeplerQuarter:
    """A KeplerQuarter as read_quarter returns it, on the quarter's real cadences."""
    info = QUARTERS[quarter]
    if flux is None:
        flux = np.full(info.n_cadences if rows is None else rows, 100.0, dtype=np.float32)
    flux = np.asarray(flux, dtype=np.float32)
    first = info.first_cadenceno if start is None else start
    return KeplerQuarter(
        kic=kic,
        quarter=quarter,
        time=np.arange(flux.size, dtype=np.float64),
        flux=flux,
        flux_err=np.ones_like(flux),
        quality=np.zeros(flux.size, np.int32) if quality is None else quality,
        cadenceno=np.arange(first, first + flux.size, dtype=np.int32),
        path=path or f"/data/{llc_filename(kic, info.stamps[0])}",
        cards=HeaderCards.of(fits.Header()),
    )


def _index(cadenceno: np.ndarray) -> np.ndarray:
    return np.asarray(cadenceno, dtype=np.int64) - QUARTERS[0].first_cadenceno


@pytest.fixture(scope="module")
def lightkurve_read() -> Iterator[object]:
    logger = logging.getLogger("lightkurve")
    level = logger.level
    logger.setLevel(logging.ERROR)  # ">20 % of cadences masked" warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lightkurve

        yield lightkurve.read
    logger.setLevel(level)


# --- grid ----------------------------------------------------------------------------------


def test_cadence_grid_spans_q0_to_q17() -> None:
    grid = cadence_grid()
    assert grid.dtype == np.int64 and grid.shape == (N_CADENCES,)
    assert grid[0] == QUARTERS[0].first_cadenceno == 568
    assert grid[-1] == QUARTERS[17].first_cadenceno + QUARTERS[17].n_cadences - 1 == 72531
    assert np.all(np.diff(grid) == 1)


# --- real stars against lightkurve ---------------------------------------------------------


def test_real_stars_stitch_exactly_the_cadences_lightkurve_keeps(
    real_data: Path, lightkurve_read: object
) -> None:
    stitched_stars = 0
    for kic, paths in _real_files(real_data).items():
        if kic == ONE_QUARTER_KIC:
            continue
        expected = np.full(N_CADENCES, np.nan, dtype=np.float32)
        expected_quality = np.zeros(N_CADENCES, dtype=np.int32)
        quarters = set()
        for path in paths:
            lc = lightkurve_read(str(path), quality_bitmask="default")  # type: ignore[operator]
            flux = np.asarray(lc.flux.value, dtype=np.float32)
            index = _index(lc.cadenceno.value)
            finite = np.isfinite(flux)
            expected[index[finite]] = flux[finite] / np.nanmedian(flux)
            expected_quality[index] = lc.quality.value
            quarters.add(int(lc.meta["QUARTER"]))
        star = stitch_quarters([read_quarter(p) for p in paths])
        assert star.kic == kic
        assert star.flux.dtype == np.float32 and star.flux.shape == (N_CADENCES,)
        assert star.quality.dtype == np.int32
        assert star.quarters == tuple(sorted(quarters)) and star.n_quarters == len(quarters)
        got = np.isfinite(star.flux)
        np.testing.assert_array_equal(np.flatnonzero(got), np.flatnonzero(np.isfinite(expected)))
        assert got.sum() == REAL_GOOD_CADENCES[kic]
        np.testing.assert_allclose(star.flux[got], expected[got], rtol=1e-6, atol=0)
        np.testing.assert_array_equal(star.quality, expected_quality)
        stitched_stars += 1
    assert stitched_stars == len(REAL_GOOD_CADENCES)


def test_process_stars_on_real_files(real_data: Path) -> None:
    files = _real_files(real_data)
    batch = process_stars(files)
    assert batch.kics == [kic for kic in files if kic != ONE_QUARTER_KIC]
    assert batch.flux.shape == batch.quality.shape == (len(batch.kics), N_CADENCES)
    assert batch.flux.dtype == np.float32 and batch.quality.dtype == np.int32
    assert [int(np.isfinite(row).sum()) for row in batch.flux] == [
        REAL_GOOD_CADENCES[kic] for kic in batch.kics
    ]
    for kic, n_quarters, kepmag in zip(batch.kics, batch.n_quarters, batch.kepmag, strict=True):
        assert n_quarters == len(files[kic])  # one file per quarter here
        assert kepmag == fits.getval(files[kic][0], "KEPMAG")
    (kic, reason), *others = batch.failures
    assert kic == ONE_QUARTER_KIC and not others
    assert "KIC 8417738" in reason and "only 1 usable quarter" in reason
    assert batch.skipped == []
    star = stitch_quarters([read_quarter(p) for p in files[5899262]])
    np.testing.assert_array_equal(batch.flux[batch.kics.index(5899262)], star.flux)


def test_one_quarter_star_is_refused_with_a_clear_reason(real_data: Path) -> None:
    (path,) = _real_files(real_data)[ONE_QUARTER_KIC]
    with pytest.raises(LightCurveError, match=r"KIC 8417738: only 1 usable quarter\(s\) \(Q0\)"):
        stitch_quarters([read_quarter(path)])
    star = stitch_quarters([read_quarter(path)], min_quarters=1)
    assert star.quarters == (0,) and np.isfinite(star.flux).sum() == 469


def test_process_stars_skips_unreadable_quarters(real_data: Path, tmp_path: Path) -> None:
    files = _real_files(real_data)
    garbage = tmp_path / llc_filename(5899262, QUARTERS[2].stamps[0])
    garbage.write_bytes(b"not a FITS file" * 100)
    missing = tmp_path / llc_filename(5899262, QUARTERS[3].stamps[0])
    foreign = files[ONE_QUARTER_KIC][0]
    paths = [*files[5899262], garbage, missing, foreign]
    batch = process_stars({5899262: paths})
    assert batch.kics == [5899262] and batch.n_quarters == [2] and batch.failures == []
    reasons = [reason for _, reason in batch.skipped]
    assert len(reasons) == 3
    assert str(garbage) in reasons[0] and str(missing) in reasons[1]
    assert "KEPLERID is 8417738, expected 5899262" in reasons[2]
    failed = process_stars({5899262: paths}, min_quarters=3)
    assert failed.kics == [] and failed.flux.shape == (0, N_CADENCES)
    ((kic, reason),) = failed.failures
    assert kic == 5899262 and "only 2 usable quarter" in reason and str(garbage) in reason
    (_, reason), (_, none_reason) = process_stars({1: [missing], 2: []}).failures
    assert "KIC 1: no readable quarter file" in reason and str(missing) in reason
    assert "KIC 2: no readable quarter file" in none_reason
    with pytest.raises(ValueError, match="quality_bitmask"):
        process_stars({5899262: paths}, quality_bitmask="strict")
    with pytest.raises(ValueError, match="min_quarters"):
        process_stars({2: []}, min_quarters=0)


# --- synthetic stars -------------------------------------------------------------------------


def test_all_flagged_star_is_refused(tmp_path: Path) -> None:
    paths = []
    for quarter in (2, 3):
        info = QUARTERS[quarter]
        n = 50
        path = tmp_path / llc_filename(42, info.stamps[0])
        values = np.full(n, 100.0, dtype=np.float32)
        write_llc(
            path,
            kic=42,
            quarter=quarter,
            time=info.tstart_bkjd + 0.0204 * np.arange(n),
            cadenceno=np.arange(info.first_cadenceno, info.first_cadenceno + n, dtype=np.int32),
            sap_flux=values,
            sap_flux_err=values / 100,
            pdcsap_flux=values,
            pdcsap_flux_err=values / 100,
            sap_quality=np.full(n, 32, dtype=np.int32),  # Desat: removed by "default"
            header={"KEPMAG": 12.5},
        )
        paths.append(path)
    ((kic, reason),) = process_stars({42: paths}).failures
    assert kic == 42 and "KIC 42: no good cadence" in reason and "flagged" in reason
    with pytest.raises(LightCurveError, match="flagged"):
        stitch_quarters([read_quarter(p) for p in paths])
    # With nothing masked the same files stitch, and KEPMAG comes from the header.
    batch = process_stars({42: paths}, quality_bitmask="none")
    assert batch.n_quarters == [2] and batch.kepmag == [12.5]
    assert np.all(batch.quality[0][np.isfinite(batch.flux[0])] == 32)


def test_quarter_median_ignores_nan_and_only_good_cells_are_finite() -> None:
    q2 = _quarter(2, [np.nan, 2.0, 4.0, 6.0])
    q3 = _quarter(3, [10.0, 30.0], quality=np.array([0, 128], dtype=np.int32))
    q5 = _quarter(5, [np.nan, np.nan])  # no finite flux: does not count
    star = stitch_quarters([q5, q3, q2])
    assert star.quarters == (2, 3) and star.n_quarters == 2
    i2, i3 = _index(q2.cadenceno), _index(q3.cadenceno)
    np.testing.assert_array_equal(star.flux[i2], [np.nan, 0.5, 1.0, 1.5])
    np.testing.assert_array_equal(star.flux[i3], [0.5, 1.5])
    assert star.quality[i3[1]] == 128 and star.quality.sum() == 128
    assert np.isfinite(star.flux).sum() == 5


def test_non_positive_median_quarter_does_not_count() -> None:
    with pytest.raises(LightCurveError, match=r"only 1 usable quarter\(s\) \(Q2\)"):
        stitch_quarters([_quarter(2, [1.0, 2.0]), _quarter(3, [-1.0, -2.0, 5.0])])


def test_duplicate_quarter_files_choice_is_deterministic() -> None:
    partial_name = llc_filename(1234567, QUARTERS[4].stamps[1])
    full = _quarter(4, np.full(QUARTERS[4].n_cadences, 2.0))
    partial = _quarter(4, np.full(1021, 3.0), path=f"/data/{partial_name}")
    q3 = _quarter(3)
    first = stitch_quarters([q3, partial, full])
    second = stitch_quarters([full, q3, partial])
    np.testing.assert_array_equal(first.flux, second.flux)
    assert first.quarters == (3, 4)
    assert np.isfinite(first.flux[_index(full.cadenceno)]).all()  # the full file won
    # Equal good cadences: the larger path (the later stamp) wins, in any order.
    a = _quarter(4, np.full(10, 2.0), path="/a/x.fits")
    b = _quarter(4, np.r_[np.full(10, 2.0), np.nan], path="/b/x.fits")
    for order in ([a, b, q3], [b, q3, a]):
        star = stitch_quarters(order)
        assert np.isfinite(star.flux[_index(b.cadenceno)]).sum() == 10
        assert np.isnan(star.flux[_index(b.cadenceno)][-1])


def test_cadences_off_the_grid_or_overlapping_are_refused() -> None:
    late = _quarter(17, rows=10, start=72531 - 5, path="/data/late.fits")
    with pytest.raises(LightCurveError, match=r"/data/late.fits: KIC 1234567 Q17: .*outside"):
        stitch_quarters([_quarter(16), late])
    early = _quarter(0, rows=3, start=560)
    with pytest.raises(LightCurveError, match="outside"):
        stitch_quarters([early, _quarter(1)])
    overlap = _quarter(3, rows=10, start=QUARTERS[2].first_cadenceno + 5)
    with pytest.raises(LightCurveError, match="overlap"):
        stitch_quarters([_quarter(2), overlap])
    with pytest.raises(LightCurveError, match="different stars"):
        stitch_quarters([_quarter(2), _quarter(3, kic=7)])
    with pytest.raises(LightCurveError, match="no quarters"):
        stitch_quarters([])
    with pytest.raises(ValueError, match="min_quarters"):
        stitch_quarters([_quarter(2)], min_quarters=0)


# --- absolute magnitude ----------------------------------------------------------------------


def test_absolute_magnitude_and_luminosity_factor() -> None:
    assert absolute_magnitude(10.0, 10.0) == 10.0
    assert isinstance(absolute_magnitude(12.0, 100.0), float)
    np.testing.assert_allclose(
        absolute_magnitude([12.0, 12.0, 12.0, np.nan, 12.0], [100.0, 1000.0, 0.0, 50.0, np.nan]),
        [7.0, 2.0, np.nan, np.nan, np.nan],
    )
    np.testing.assert_allclose(absolute_magnitude([[10.0], [11.0]], [10, 100]), [[10, 5], [11, 6]])
    np.testing.assert_allclose(
        luminosity_factor([0.0, 5.0, -2.5, np.nan]), [1.0, 0.01, 10.0, np.nan]
    )
    np.testing.assert_allclose(
        luminosity_factor([0.0, 5.0, -1.0, np.nan], reference=True), [1.0, 32.0, 0.5, np.nan]
    )
    assert luminosity_factor(absolute_magnitude(15.0, 1000.0)) == pytest.approx(1e-2)


# --- ACF / FFT features ----------------------------------------------------------------------


def _direct_acf(x: np.ndarray) -> np.ndarray:
    y = np.asarray(x, dtype=np.float64)
    y = np.where(np.isnan(y), 0.0, y - np.nanmean(y))
    n = y.size
    return np.array([np.sum(y[: n - k] * y[k:]) for k in range(n)]) / np.sum(y * y)


def _direct_fft_features(x: np.ndarray) -> np.ndarray:
    amplitude = np.log1p(np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64))))
    m = amplitude.size
    return np.interp(np.linspace(0, m - 1, x.size), np.arange(m), amplitude)


def _light_curve_like(rows: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    period = rng.uniform(200, 2000, size=(rows, 1))
    signal = 1.0 + 3e-3 * np.sin(2 * np.pi * t / period) + 1e-4 * rng.standard_normal((rows, n))
    return signal.astype(np.float32)


@pytest.mark.parametrize("n", [1, 2, 255, 256])
def test_acf_equals_the_direct_sum(n: int) -> None:
    x = np.random.default_rng(n).normal(5.0, 2.0, n)
    if n > 10:
        x[[3, 7, 100]] = np.nan
    if n == 1:
        assert np.isnan(acf(x)).all()  # zero variance
        return
    got = acf(x)
    assert got.dtype == np.float64 and got.shape == (n,)
    np.testing.assert_allclose(got, _direct_acf(x), rtol=0, atol=1e-12)
    assert got[0] == 1.0


def test_acf_batched_float32_and_constant() -> None:
    x = _light_curve_like(4, 300)
    x[1, 50:80] = np.nan
    batched = acf(x)
    assert batched.dtype == np.float32 and batched.shape == x.shape
    np.testing.assert_allclose(batched, np.stack([acf(row) for row in x]), rtol=0, atol=1e-7)
    np.testing.assert_allclose(batched[1], _direct_acf(x[1]), rtol=0, atol=1e-6)
    assert np.isnan(acf(np.full(10, 3.0))).all() and np.isnan(acf([np.nan, np.nan])).all()
    with pytest.raises(ValueError, match="non-empty"):
        acf(np.zeros((3, 0)))


def test_acf_of_a_sinusoid_peaks_at_its_period() -> None:
    period = 48
    t = np.arange(2000)
    x = np.sin(2 * np.pi * t / period) + 0.1 * np.random.default_rng(1).standard_normal(t.size)
    r = acf(x)
    assert period // 2 + int(np.argmax(r[period // 2 : 3 * period // 2])) == period
    assert r[period // 2] < -0.8 and r[period] > 0.9


@pytest.mark.parametrize("n", [1, 2, 9, 10, 301])
def test_fft_features_equal_the_direct_computation(n: int) -> None:
    x = np.random.default_rng(n).normal(1.0, 0.5, n)
    got = fft_features(x)
    assert got.shape == (n,) and got.dtype == np.float64
    np.testing.assert_allclose(got, _direct_fft_features(x), rtol=1e-12, atol=1e-12)


def test_fft_features_batched_and_nan_filled_with_the_mean() -> None:
    x = _light_curve_like(3, 500)
    batched = fft_features(x)
    assert batched.dtype == np.float32
    np.testing.assert_allclose(batched, np.stack([fft_features(r) for r in x]), atol=1e-6)
    np.testing.assert_allclose(batched[2], _direct_fft_features(x[2]), rtol=1e-6)
    gappy = x[0].astype(np.float64)
    gappy[10:40] = np.nan
    filled = np.where(np.isnan(gappy), np.nanmean(gappy), gappy)
    np.testing.assert_allclose(
        fft_features(gappy), _direct_fft_features(filled), rtol=1e-10, atol=1e-12
    )


def test_torch_variants_match_numpy() -> None:
    x = _light_curve_like(3, 34560)  # the reference crop length (desa_reference.md §8.2)
    x[0, 1000:1500] = np.nan
    for numpy_fn, torch_fn in ((acf, acf_torch), (fft_features, fft_features_torch)):
        expected = numpy_fn(x.astype(np.float64))
        got32 = torch_fn(torch.from_numpy(x))
        assert got32.dtype == torch.float32 and got32.shape == x.shape
        np.testing.assert_allclose(got32.numpy(), expected, rtol=0, atol=1e-5)
        got64 = torch_fn(torch.from_numpy(x.astype(np.float64)))
        np.testing.assert_allclose(got64.numpy(), expected, rtol=0, atol=1e-10)
        one = torch_fn(torch.from_numpy(x[1]))
        np.testing.assert_allclose(one.numpy(), got32[1].numpy(), rtol=0, atol=1e-5)
    for n in (1, 2, 9):
        short = np.arange(n, dtype=np.float64) ** 2
        np.testing.assert_allclose(
            fft_features_torch(torch.from_numpy(short)).numpy(), fft_features(short)
        )
    with pytest.raises(ValueError, match="non-empty"):
        acf_torch(torch.zeros(0))


def test_torch_variants_are_differentiable_with_gaps() -> None:
    x = torch.from_numpy(_light_curve_like(2, 200).astype(np.float64))
    x[0, 20:30] = float("nan")
    x.requires_grad_(True)
    (acf_torch(x)[:, 1:50].sum() + fft_features_torch(x).sum()).backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all() and (x.grad[0, 20:30] == 0).all()
    assert x.grad.abs().sum() > 0
