"""LAMOST LRS reader: every real file against a plain astropy read, and bad input."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from bench.real_data import real_data_dir
from desa.sky.lamost_files import write_lamost_spectrum
from desa.surveys.lamost import read_header, read_spectrum
from storage.errors import BadInputError

_LAMOST_DIR = real_data_dir() / "lamost"
REAL_LAMOST = sorted(_LAMOST_DIR.rglob("spec-*.fits*")) if _LAMOST_DIR.is_dir() else []
DR6_KEPLER = "dr6/spec-57287-KP193637N444141V03_sp10-161.fits.gz"


def _rel(path: Path) -> str:
    return path.relative_to(_LAMOST_DIR).as_posix()


def _astropy_arrays(path: Path) -> tuple[fits.Header, dict[str, np.ndarray]]:
    """The plain astropy read the reader must agree with."""
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        if len(hdul) == 1:
            names = ("flux", "ivar", "wavelength", "andmask", "ormask")
            return header, {n: np.array(row) for n, row in zip(names, hdul[0].data, strict=True)}
        row = hdul["COADD"].data[0]
        return header, {n.lower(): np.array(row[n]) for n in hdul["COADD"].columns.names}


@pytest.mark.parametrize("path", REAL_LAMOST, ids=_rel)
def test_real_file_matches_astropy(real_data: Path, path: Path) -> None:
    spec = read_spectrum(path)
    header, arrays = _astropy_arrays(path)

    for name in ("flux", "ivar", "wavelength"):
        np.testing.assert_array_equal(getattr(spec, name), arrays[name], err_msg=name)
    for name in ("andmask", "ormask"):
        got = getattr(spec, name)
        assert np.issubdtype(got.dtype, np.integer)
        np.testing.assert_array_equal(got, arrays[name].astype(np.int64), err_msg=name)
    assert spec.obsid == int(header["OBSID"])
    assert (spec.ra, spec.dec) == (header["RA"], header["DEC"])
    assert spec.z == header["Z"]
    assert spec.z_err == header["Z_ERR"]
    assert spec.rv_kms == header["Z"] * 299792.458
    assert spec.snr == {b: header[f"SNR{b.upper()}"] for b in "ugriz"}
    assert spec.data_release == header["DATA_V"]
    assert spec.designation == header["DESIG"]
    assert spec.path == str(path)
    assert spec.header["OBSID"] == header["OBSID"]
    # Layout from the structure: DR5-DR8 (v1.0) files are images, DR9 files COADD tables.
    assert spec.layout == ("coadd" if _rel(path).startswith("dr9/") else "image")
    assert spec.wavelength.size == spec.flux.size == spec.andmask.size


@pytest.mark.parametrize("path", REAL_LAMOST, ids=_rel)
def test_real_normalization_only_when_norm_is_1(real_data: Path, path: Path) -> None:
    spec = read_spectrum(path)
    header, arrays = _astropy_arrays(path)
    if header.get("NORM") == 1:
        assert spec.normalization is not None
        np.testing.assert_array_equal(spec.normalization, arrays["normalization"])
        assert not np.all(spec.normalization == -9999)
    else:
        assert spec.normalization is None
        if "normalization" in arrays:  # NORM=0 DR9 files store an all -9999 column
            assert np.all(arrays["normalization"] == -9999)


def test_real_layouts_and_pixel_counts(real_data: Path) -> None:
    got = {_rel(p): read_spectrum(p) for p in REAL_LAMOST}
    assert {s.layout for k, s in got.items() if k.startswith("dr8/")} == {"image"}
    assert {s.data_release for k, s in got.items() if k.startswith("dr8/")} == {"LAMOST DR8"}
    assert {s.layout for k, s in got.items() if k.startswith("dr9/")} == {"coadd"}
    assert {s.wavelength.size for s in got.values()} == {3751, 3890, 3904, 3908, 3909}
    short = got["dr8/spec-55915-F5591503_sp05-112.fits.gz"]
    assert short.wavelength.size == 3751
    assert short.wavelength[0] == pytest.approx(3837.07, abs=0.01)
    # NORM=0 files (obsids 101002, 101012) have no normalization, NORM=1 ones do.
    dr9 = {s.obsid: s.normalization is not None for k, s in got.items() if k.startswith("dr9/")}
    assert dr9 == {101001: True, 101002: False, 101005: True, 101012: False}


def test_real_kepler_target_and_rv(real_data: Path) -> None:
    spec = read_spectrum(_LAMOST_DIR / DR6_KEPLER)
    assert spec.obsid == 359910161
    assert spec.kic == 8098300
    assert spec.rv_kms == pytest.approx(-51.45, abs=0.01)  # Z*c, not HELIO_RV (9.85119)
    assert spec.header["HELIO_RV"] == pytest.approx(9.85119)
    assert spec.designation == "LAMOST J192814.09+435530.8"
    assert spec.snr["g"] == pytest.approx(87.63)
    others = [read_spectrum(p).kic for p in REAL_LAMOST if _rel(p) != DR6_KEPLER]
    assert others and set(others) == {None}


def test_real_plain_and_gzip_files(real_data: Path) -> None:
    plain = _LAMOST_DIR / "dr7/spec-58397-EG014118N254444M01_sp03-031.fits"
    assert plain.read_bytes()[:6] == b"SIMPLE"
    assert read_spectrum(plain).obsid == 677503031
    assert read_header(plain)["OBSID"] == 677503031
    assert read_header(_LAMOST_DIR / DR6_KEPLER)["TCOMMENT"] == "kplr008098300"


def test_same_obsid_in_two_releases_and_layouts(real_data: Path) -> None:
    old = read_spectrum(_LAMOST_DIR / "dr5/spec-55859-F5902_sp01-005.fits.gz")
    new = read_spectrum(_LAMOST_DIR / "dr9/spec-55859-F5902_sp01-005.fits.gz")
    assert (old.layout, new.layout) == ("image", "coadd")
    assert old.obsid == new.obsid == 101005
    np.testing.assert_array_equal(old.wavelength, new.wavelength)
    np.testing.assert_array_equal(old.ormask, new.ormask)
    assert old.z != new.z  # reprocessing changed Z (-0.00025044 vs -0.00025064)


# ---------------------------------------------------------------- bad input


def _write(path: Path, *, layout: str = "image", n: int = 50, **header: object) -> Path:
    base: dict[str, object] = {"OBSID": 42, "RA": 10.0, "DEC": -5.0, "Z": 1e-4, "Z_ERR": 1e-5}
    base.update(header)
    wave = 10 ** (3.5682 + 1e-4 * np.arange(n))
    write_lamost_spectrum(
        path,
        layout=layout,  # type: ignore[arg-type]
        wavelength=wave,
        flux=np.ones(n),
        ivar=np.ones(n),
        andmask=np.zeros(n),
        ormask=np.zeros(n),
        header={k: v for k, v in base.items() if v is not None},
    )
    return path


def _assert_bad(path: Path, *words: str) -> None:
    with pytest.raises(BadInputError) as info:
        read_spectrum(path)
    message = str(info.value)
    assert str(path) in message
    assert info.value.path == str(path)
    for word in words:
        assert word in message, message


def test_bad_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.fits"
    path.write_bytes(b"")
    _assert_bad(path, "FITS")


def test_bad_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.fits"
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    _assert_bad(path, "FITS")


@pytest.mark.parametrize("cut", [4, 8, 200, 0.5])
def test_bad_truncated_gzip(real_data: Path, tmp_path: Path, cut: float) -> None:
    # Losing only the gzip trailer (CRC, size) still leaves every FITS byte decodable; it
    # must be refused all the same.
    data = (_LAMOST_DIR / "dr9/spec-55859-F5902_sp01-001.fits.gz").read_bytes()
    keep = int(len(data) * cut) if cut < 1 else len(data) - int(cut)
    path = tmp_path / "cut.fits.gz"
    path.write_bytes(data[:keep])
    _assert_bad(path, "not a readable")


@pytest.mark.filterwarnings("ignore:non-ASCII characters")
def test_bad_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.fits.gz"
    raw = bytearray(gzip.compress(_write(tmp_path / "x.fits", n=2000).read_bytes()))
    raw[200:260] = b"\x00" * 60
    path.write_bytes(bytes(raw))
    _assert_bad(path, "not a readable")


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
@pytest.mark.parametrize("size", [1000, 2880 * 3, 50000, 92000])
def test_bad_truncated_plain_real_file(real_data: Path, tmp_path: Path, size: int) -> None:
    source = _LAMOST_DIR / "dr7/spec-58397-EG014118N254444M01_sp03-031.fits"
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes()[:size])
    with pytest.raises(BadInputError, match=r"truncated|not a readable") as info:
        read_spectrum(path)
    assert str(path) in str(info.value)


def test_bad_image_shape(tmp_path: Path) -> None:
    path = tmp_path / "four_rows.fits"
    fits.PrimaryHDU(np.ones((4, 30), dtype=np.float32)).writeto(path)
    _assert_bad(path, "shape (4, 30)", "(5, N)")


def test_bad_no_known_layout(tmp_path: Path) -> None:
    path = tmp_path / "other_table.fits"
    table = fits.BinTableHDU.from_columns([fits.Column("FLUX", "3E", array=np.ones((1, 3)))])
    table.name = "SPECTRUM"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    _assert_bad(path, "neither LAMOST layout", "COADD")


def test_bad_coadd_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "no_ivar.fits"
    cols = [fits.Column(n, "3E", array=np.ones((1, 3))) for n in ("FLUX", "WAVELENGTH")]
    table = fits.BinTableHDU.from_columns(cols, name="COADD")
    header = fits.Header({"OBSID": 1, "Z": 0.0, "RA": 1.0, "DEC": 2.0})
    fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(path)
    _assert_bad(path, "IVAR", "ANDMASK")


def test_bad_coadd_two_rows(tmp_path: Path) -> None:
    path = tmp_path / "two_rows.fits"
    names = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK", "NORMALIZATION")
    cols = [fits.Column(n, "3E", array=np.ones((2, 3))) for n in names]
    table = fits.BinTableHDU.from_columns(cols, name="COADD")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    _assert_bad(path, "2 rows")


@pytest.mark.parametrize("key", ["OBSID", "Z", "RA", "DEC"])
def test_bad_missing_required_card(tmp_path: Path, key: str) -> None:
    path = _write(tmp_path / "spec.fits.gz", layout="coadd", **{key: None})
    _assert_bad(path, f"no {key} card")


@pytest.mark.parametrize(("key", "value"), [("Z", "abc"), ("OBSID", "12x"), ("RA", True)])
def test_bad_non_numeric_card(tmp_path: Path, key: str, value: object) -> None:
    path = _write(tmp_path / "spec.fits", **{key: value})
    _assert_bad(path, key, "not a")


def test_bad_non_integer_mask(tmp_path: Path) -> None:
    path = tmp_path / "mask.fits"
    data = np.ones((5, 10), dtype=np.float32)
    data[2] = 4000 + np.arange(10)
    data[3, 4] = 0.5
    header = fits.Header({"OBSID": 1, "Z": 0.0, "RA": 1.0, "DEC": 2.0})
    fits.PrimaryHDU(data, header=header).writeto(path)
    _assert_bad(path, "ANDMASK", "non-integer")


def test_bad_wavelength_not_increasing(tmp_path: Path) -> None:
    path = tmp_path / "pilot.fits"
    data = np.ones((5, 10), dtype=np.float32)  # row 2 all ones, like a continuum-divided row
    header = fits.Header({"OBSID": 1, "Z": 0.0, "RA": 1.0, "DEC": 2.0})
    fits.PrimaryHDU(data, header=header).writeto(path)
    _assert_bad(path, "wavelength", "increasing")


def test_missing_file_is_not_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_spectrum(tmp_path / "absent.fits.gz")


def test_read_header_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "empty.fits.gz"
    path.write_bytes(b"")
    with pytest.raises(BadInputError, match=r"empty\.fits\.gz"):
        read_header(path)


def test_missing_optional_cards_and_sentinel_z(tmp_path: Path) -> None:
    path = _write(tmp_path / "spec.fits", Z=-9999.0, Z_ERR=None, TSOURCE="Kepler", TCOMMENT="x")
    spec = read_spectrum(path)
    assert math.isnan(spec.z) and math.isnan(spec.rv_kms)  # -9999 = no redshift
    assert math.isnan(spec.z_err)
    assert all(math.isnan(v) for v in spec.snr.values())
    assert spec.kic is None  # TSOURCE Kepler but TCOMMENT is not kplrNNNNNNNNN
    assert spec.designation is None
