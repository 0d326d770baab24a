"""Lean FITS decode: the same arrays and header values as the astropy path, on every real file
and both synthetic layouts of each survey; astropy takes over for anything unusual."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from bench.real_data import real_data_dir
from desa.sky.kepler_files import write_llc
from desa.sky.lamost_files import write_lamost_spectrum
from desa.surveys.kepler import KeplerQuarter, read_quarter
from desa.surveys.lamost import LamostSpectrum, read_spectrum
from desa.surveys.lean_fits import HeaderCards, file_bytes
from storage.errors import BadInputError

_REAL = real_data_dir()
REAL_LAMOST = sorted((_REAL / "lamost").rglob("spec-*.fits*")) if _REAL.is_dir() else []
REAL_KEPLER = sorted((_REAL / "kepler").glob("kplr*_llc.fits")) if _REAL.is_dir() else []

_SPECTRUM_ARRAYS = ("wavelength", "flux", "ivar", "andmask", "ormask")
# Every LamostSpectrum value the pipeline takes from the header.
_SPECTRUM_VALUES = ("obsid", "ra", "dec", "rv_kms", "z", "z_err", "data_release", "kic")
_QUARTER_ARRAYS = ("time", "flux", "flux_err", "quality", "cadenceno")


def _same_bytes(got: np.ndarray | None, want: np.ndarray | None, name: str) -> None:
    assert (got is None) == (want is None), name
    if got is not None and want is not None:
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        assert got.tobytes() == want.tobytes(), name  # byte for byte, NaN payloads included


def _same_cards(cards: HeaderCards, header: fits.Header) -> None:
    """Every valued card reads the same (type and value) as from astropy's header."""
    keys = {key for key in header if key not in ("", "COMMENT", "HISTORY")}
    assert keys
    for key in keys:
        assert key in cards, key
        got, want = cards[key], header[key]
        assert type(got) is type(want) and got == want, (key, got, want)
        assert cards.get(key.lower()) == want  # case-blind, as astropy
    assert "NO_SUCH_KEY" not in cards and cards.get("NO_SUCH_KEY", 7) == 7
    assert list(cards.astropy().items()) == list(header.items())


def _assert_spectrum_parity(path: Path) -> LamostSpectrum:
    lean, full = read_spectrum(path), read_spectrum(path, lean=False)
    assert (lean.reader, full.reader) == ("lean", "astropy")
    assert lean.layout == full.layout
    for name in _SPECTRUM_ARRAYS:
        _same_bytes(getattr(lean, name), getattr(full, name), name)
    _same_bytes(lean.normalization, full.normalization, "normalization")
    for name in _SPECTRUM_VALUES:
        assert getattr(lean, name) == getattr(full, name) or (
            getattr(lean, name) != getattr(lean, name)
            and getattr(full, name) != getattr(full, name)
        ), name
    assert lean.snr == full.snr or all(np.isnan(list(lean.snr.values())))
    assert lean.designation == full.designation
    # The values came from the lean card parser; astropy parsed nothing.
    assert not lean.cards.parsed_by_astropy
    _same_cards(lean.cards, full.header)
    return lean


def _assert_quarter_parity(path: Path, bitmask: str | int = "default") -> KeplerQuarter:
    lean, full = read_quarter(path, bitmask), read_quarter(path, bitmask, lean=False)
    assert (lean.reader, full.reader) == ("lean", "astropy")
    for name in _QUARTER_ARRAYS:
        _same_bytes(getattr(lean, name), getattr(full, name), name)
    assert (lean.kic, lean.quarter) == (full.kic, full.quarter)
    assert not lean.cards.parsed_by_astropy
    _same_cards(lean.cards, full.header)
    return lean


@pytest.mark.parametrize("path", REAL_LAMOST, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_lamost_lean_equals_astropy(real_data: Path, path: Path) -> None:
    _assert_spectrum_parity(path)


@pytest.mark.parametrize("path", REAL_KEPLER, ids=lambda p: p.name)
def test_real_kepler_lean_equals_astropy(real_data: Path, path: Path) -> None:
    _assert_quarter_parity(path)


def test_real_files_present(real_data: Path) -> None:
    assert len(REAL_LAMOST) == 13 and len(REAL_KEPLER) == 70


def _spectrum_file(path: Path, layout: str, *, norm: bool = False, **header: Any) -> Path:
    n = 300
    rng = np.random.default_rng(3)
    cards: dict[str, Any] = {
        "OBSID": 123456,
        "RA": 291.5,
        "DEC": 43.9,
        "Z": -1.7e-4,
        "Z_ERR": 2.5e-5,
        "SNRG": 55.25,
        "DATA_V": "LAMOST DR9",
        "DESIG": "LAMOST J192814.09+435530.8",
        "TSOURCE": "Kepler",
        "TCOMMENT": "kplr008098300",
        "NORM": int(norm),
        "NOTE": "it's quoted",
    }
    cards.update(header)
    write_lamost_spectrum(
        path,
        layout=layout,  # type: ignore[arg-type]
        wavelength=10 ** (3.5682 + 1e-4 * np.arange(n)),
        flux=rng.normal(size=n),
        ivar=np.abs(rng.normal(size=n)),
        andmask=rng.integers(0, 4, n),
        ormask=rng.integers(0, 4, n),
        header=cards,
        normalization=np.linspace(1, 2, n) if norm else None,
        compress=path.suffix == ".gz",
    )
    return path


@pytest.mark.parametrize("name", ["spec.fits.gz", "spec.fits"])
@pytest.mark.parametrize(("layout", "norm"), [("image", False), ("coadd", False), ("coadd", True)])
def test_synthetic_lamost_layouts(tmp_path: Path, name: str, layout: str, norm: bool) -> None:
    spec = _assert_spectrum_parity(_spectrum_file(tmp_path / name, layout, norm=norm))
    assert spec.layout == layout
    assert (spec.normalization is not None) == norm
    assert spec.kic == 8098300 and spec.header["NOTE"] == "it's quoted"


def _llc_file(path: Path, *, tzero: bool = False) -> Path:
    n = 200
    rng = np.random.default_rng(4)
    quality = rng.choice([0, 0, 0, 1, 128, 2048], n).astype(np.int32)
    time = 169.5 + 0.0204 * np.arange(n)
    time[5] = np.nan
    write_llc(
        path,
        kic=2556081,
        quarter=2,
        time=time,
        cadenceno=2965 + np.arange(n),
        sap_flux=rng.normal(100, 1, n),
        sap_flux_err=np.ones(n),
        pdcsap_flux=rng.normal(100, 1, n),
        pdcsap_flux_err=np.ones(n),
        sap_quality=quality,
        header={"KEPMAG": 11.5},
    )
    if tzero:  # the same numbers, stored offset: astropy applies TZERO, the lean path must not
        with fits.open(path) as hdul:
            hdul = fits.HDUList([h.copy() for h in hdul])
        table = hdul["LIGHTCURVE"]
        cols = [
            fits.Column(
                c.name,
                c.format,
                array=table.data[c.name],
                bzero=5 if c.name == "CADENCENO" else None,
            )
            for c in table.columns
        ]
        hdul["LIGHTCURVE"] = fits.BinTableHDU.from_columns(cols, header=table.header)
        hdul.writeto(path, overwrite=True)
    return path


@pytest.mark.parametrize("bitmask", ["default", "none", 128])
def test_synthetic_kepler_file(tmp_path: Path, bitmask: str | int) -> None:
    quarter = _assert_quarter_parity(_llc_file(tmp_path / "kplr.fits"), bitmask)
    assert quarter.cards["KEPMAG"] == 11.5 and len(quarter.time) > 100


# ---------------------------------------------------------------- astropy takes over


def test_scaled_image_goes_to_astropy(tmp_path: Path) -> None:
    path = _spectrum_file(tmp_path / "spec.fits", "image")
    with fits.open(path) as hdul:
        data = hdul[0].data.astype(np.float64)
        scaled = fits.PrimaryHDU(data, header=hdul[0].header)
    scaled.scale("int32", bscale=1e-3, bzero=0.5)  # BSCALE/BZERO: astropy unscales
    scaled.writeto(path, overwrite=True)
    spec = read_spectrum(path)
    assert spec.reader == "astropy" and spec.obsid == 123456
    assert fits.getheader(path).get("BSCALE") is not None


def test_tzero_column_goes_to_astropy(tmp_path: Path) -> None:
    path = _llc_file(tmp_path / "kplr.fits", tzero=True)
    quarter = read_quarter(path, "none")
    assert quarter.reader == "astropy"
    assert quarter.cadenceno[0] == 2965  # astropy applied TZERO
    plain = read_quarter(_llc_file(tmp_path / "plain.fits"), "none")
    np.testing.assert_array_equal(quarter.cadenceno, plain.cadenceno)


def test_two_coadd_rows_go_to_astropy_and_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "two_rows.fits"
    names = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")
    cols = [fits.Column(n, "3E", array=np.ones((2, 3))) for n in names]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="COADD")]).writeto(
        path
    )
    with pytest.raises(BadInputError, match="2 rows"):
        read_spectrum(path)


def test_two_gzip_members_read_as_one_file(tmp_path: Path) -> None:
    plain = _spectrum_file(tmp_path / "spec.fits", "coadd").read_bytes()
    path = tmp_path / "members.fits.gz"
    path.write_bytes(gzip.compress(plain[:5760]) + gzip.compress(plain[5760:]))
    assert file_bytes(path) == plain
    assert read_spectrum(path).reader == "lean"


def test_gzip_with_trailing_junk_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(_spectrum_file(tmp_path / "spec.fits", "image").read_bytes())
    path = tmp_path / "junk.fits.gz"
    path.write_bytes(data + b"junk")
    with pytest.raises(BadInputError, match=r"junk\.fits\.gz.*not a readable"):
        read_spectrum(path)


@pytest.mark.parametrize(
    "card",
    [
        "A       = 'it''s  '           / quote doubled, trailing blanks",
        "B       =                    T",
        "C       =                  -12 / an int",
        "D       =           1.5D-03 / a D exponent",
        "E       =                 .5E2",
        "F       =                      / no value",
        "G       = '   lead'",
        "H       = 'AXIS.1: 3'          / record-valued",
        "I       =             1.0E+300",
        "J       = (1.0, 2.0)           / complex",
        "K       = 'ends with &'",
    ],
)
def test_card_values_as_astropy_reads_them(card: str) -> None:
    text = card.ljust(80)
    key = card[:8].strip()
    cards = HeaderCards(text)
    header = fits.Header.fromstring(text)
    got, want = cards[key], header[key]
    assert type(got) is type(want) and (got == want or got is want), (got, want)


def test_long_string_cards_are_left_to_astropy() -> None:
    header = fits.Header()
    header["LONG"] = "x" * 120
    header["AFTER"] = 3
    text = header.tostring()
    cards = HeaderCards(text[: text.index("END ")])
    assert cards["LONG"] == "x" * 120 and cards["AFTER"] == 3
    assert cards.parsed_by_astropy
