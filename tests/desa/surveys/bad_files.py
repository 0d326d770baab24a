"""A corpus of bad LAMOST spectra and Kepler light-curve files, made from real files and the
demo sky's writers, each with the words its refusal must hold.

Real files are edited at the byte level (cards rewritten in place, data changed through numpy
views of the decompressed bytes), so that each file differs from a real one by one fault.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desa.sky.kepler_files import write_llc
from desa.sky.lamost_files import write_lamost_spectrum
from desa.surveys.kepler import QUARTERS, llc_filename
from desa.surveys.lean_fits import file_bytes, image, split_hdus, table_columns

# Sources in shared/real: a DR6 image-layout file (LAMOST-Kepler target), a DR9 COADD file and
# the Q2 long-cadence file of KIC 2556081.
LAMOST_IMAGE = Path("lamost", "dr6", "spec-57287-KP193637N444141V03_sp10-161.fits.gz")
LAMOST_COADD = Path("lamost", "dr9", "spec-55859-F5902_sp01-001.fits.gz")
KEPLER_Q2 = Path("kepler", "kplr002556081-2009259160929_llc.fits")
Q2_STAMP = "2009259160929"

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    b"<body><h1>Service Unavailable</h1><p>The archive is down for maintenance.</p></body>"
    b"</html>\n"
)
C_KMS = 299792.458


@dataclass(frozen=True)
class BadFile:
    """One bad file: `make(folder, real, key)` writes it and returns its path (`key`: the
    obsid or KIC it claims, where the fault leaves the header readable); `words` must all
    appear in the refusal; `real`: whether it needs the real files."""

    name: str
    make: Callable[[Path, Path | None, int], Path]
    words: tuple[str, ...]
    real: bool = True


# --- byte-level editing ---------------------------------------------------------------------


def _card(key: str, value: str) -> bytes:
    return f"{key:<8}= {value:>20}".ljust(80).encode("ascii")


def _header_span(raw: bytes, hdu: int) -> tuple[int, int]:
    """Start and END-card offset of HDU `hdu`'s header (the file must be well formed)."""
    hdus = split_hdus(raw)
    assert hdus is not None
    starts = [0] + [h.data_offset + -(-h.data_size // 2880) * 2880 for h in hdus[:-1]]
    start = starts[hdu]
    return start, hdus[hdu].data_offset


def set_card(raw: bytes, key: str, value: str | None, hdu: int = 0) -> bytes:
    """`raw` with card `key` of HDU `hdu` given the value text (None: blanked out)."""
    start, stop = _header_span(raw, hdu)
    for offset in range(start, stop, 80):
        if raw[offset : offset + 8].decode("ascii").rstrip() == key:
            card = b" " * 80 if value is None else _card(key, value)
            return raw[:offset] + card + raw[offset + 80 :]
    raise KeyError(f"no {key} card in HDU {hdu}")


def _lamost_arrays(buffer: bytearray) -> dict[str, np.ndarray]:
    """Writable views of flux, ivar, wavelength in the decompressed bytes of a LAMOST file."""
    hdus = split_hdus(bytes(buffer))
    assert hdus is not None
    if len(hdus) == 1:
        rows = image(buffer, hdus[0])
        return {"flux": rows[0], "ivar": rows[1], "wavelength": rows[2]}
    columns = table_columns(buffer, hdus[1], ("FLUX", "IVAR", "WAVELENGTH"))
    assert columns is not None
    return {name.lower(): values[0] for name, values in columns.items()}


def _kepler_columns(buffer: bytearray) -> dict[str, np.ndarray]:
    hdus = split_hdus(bytes(buffer))
    assert hdus is not None
    names = ("TIME", "PDCSAP_FLUX", "SAP_QUALITY", "CADENCENO")
    columns = table_columns(buffer, hdus[1], names)
    assert columns is not None
    return columns


def _write(path: Path, data: bytes, *, compress: bool) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def _lamost_name(key: int) -> str:
    return f"spec-57287-BAD{key}_sp01-001.fits.gz"


def _real_lamost(source: Path, key: int) -> bytes:
    """The decompressed real file, its OBSID made `key` (so that obsids stay unique)."""
    return set_card(file_bytes(source), "OBSID", str(key))


def _lamost(
    source: Path = LAMOST_IMAGE,
    *,
    cards: dict[str, str | None] | None = None,
    hdu: int = 0,
    edit: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> Callable[[Path, Path | None, int], Path]:
    def make(folder: Path, real: Path | None, key: int) -> Path:
        assert real is not None
        raw = _real_lamost(real / source, key)
        buffer = bytearray(raw)
        if edit is not None:
            edit(_lamost_arrays(buffer))
        raw = bytes(buffer)
        for name, value in (cards or {}).items():
            raw = set_card(raw, name, value, hdu)
        return _write(folder / _lamost_name(key), raw, compress=True)

    return make


def _lamost_gzip(keep: Callable[[int], int]) -> Callable[[Path, Path | None, int], Path]:
    def make(folder: Path, real: Path | None, key: int) -> Path:
        assert real is not None
        data = gzip.compress(_real_lamost(real / LAMOST_IMAGE, key), mtime=0)
        return _write(folder / _lamost_name(key), data[: keep(len(data))], compress=False)

    return make


def _lamost_bytes(data: bytes, name: str = "") -> Callable[[Path, Path | None, int], Path]:
    def make(folder: Path, real: Path | None, key: int) -> Path:
        return _write(folder / (name or _lamost_name(key)), data, compress=False)

    return make


def _corrupt_gzip(folder: Path, real: Path | None, key: int) -> Path:
    assert real is not None
    data = bytearray(gzip.compress(_real_lamost(real / LAMOST_IMAGE, key), mtime=0))
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    return _write(folder / _lamost_name(key), bytes(data), compress=False)


def _demo_spectrum(**change: object) -> Callable[[Path, Path | None, int], Path]:
    """A spectrum from the demo sky's writer, with `change` applied to its arrays/cards."""

    def make(folder: Path, real: Path | None, key: int) -> Path:
        n = 3909
        wavelength = 10 ** (3.5682 + 1e-4 * np.arange(n))
        arrays = {
            "wavelength": wavelength,
            "flux": 1 + 0.1 * np.sin(wavelength / 300.0),
            "ivar": np.ones(n),
        }
        header: dict[str, object] = {
            "OBSID": key,
            "RA": 290.0,
            "DEC": 44.0,
            "Z": 20.0 / C_KMS,
            "DATA_V": "LAMOST DR9",
        }
        for name, value in change.items():
            if name in arrays:
                arrays[name] = value(arrays[name].copy()) if callable(value) else value
            elif value is None:
                header.pop(name)
            else:
                header[name] = value
        path = folder / _lamost_name(key)
        write_lamost_spectrum(
            path,
            layout="coadd",
            andmask=np.zeros(n),
            ormask=np.zeros(n),
            header=header,
            **arrays,
        )
        return path

    return make


def _set(index: int, value: float) -> Callable[[np.ndarray], np.ndarray]:
    def change(values: np.ndarray) -> np.ndarray:
        values[index] = value
        return values

    return change


def _fill(name: str, value: float) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(arrays: dict[str, np.ndarray]) -> None:
        arrays[name][:] = value

    return edit


def _negative_ivar(arrays: dict[str, np.ndarray]) -> None:
    arrays["ivar"][1000] = -arrays["ivar"][1000] - 1.0


def _swap_wavelengths(arrays: dict[str, np.ndarray]) -> None:
    wave = arrays["wavelength"]
    wave[[2000, 2001]] = wave[[2001, 2000]]


def _repeat_wavelength(arrays: dict[str, np.ndarray]) -> None:
    wave = arrays["wavelength"]
    wave[2001] = wave[2000]


REFUSED = "not a readable LAMOST FITS file"
LAMOST_FILES = [
    BadFile("gzip cut to its first 10 bytes", _lamost_gzip(lambda n: 10), ("gzip", "truncated")),
    BadFile("gzip cut in half", _lamost_gzip(lambda n: n // 2), ("gzip", "truncated")),
    BadFile("gzip without its trailer", _lamost_gzip(lambda n: n - 8), ("gzip", "truncated")),
    BadFile("gzip one byte short", _lamost_gzip(lambda n: n - 1), ("gzip", "truncated")),
    BadFile("gzip with zeroed bytes", _corrupt_gzip, ("gzip data are corrupt",)),
    BadFile("empty file", _lamost_bytes(b""), ("empty (0 bytes)",), real=False),
    BadFile("HTML page as .fits", _lamost_bytes(HTML_PAGE), ("HTML page", "DOCTYPE"), False),
    BadFile(
        "gzipped HTML page", _lamost_bytes(gzip.compress(HTML_PAGE)), ("HTML page",), real=False
    ),
    BadFile(
        "BITPIX -64 for float32 data",
        _lamost(cards={"BITPIX": "-64"}),
        ("HDU 0", "announces", "BITPIX = -64", "truncated, or BITPIX/NAXISn disagree"),
    ),
    BadFile(
        "BITPIX 32 (same size, integers)",
        _lamost(cards={"BITPIX": "32"}),
        ("flux is stored as int32 integers", "BITPIX is wrong"),
    ),
    BadFile(
        "BITPIX not a FITS value", _lamost(cards={"BITPIX": "12"}), ("BITPIX = 12", "not a FITS")
    ),
    BadFile(
        "COADD table with BITPIX 16",
        _lamost(LAMOST_COADD, cards={"BITPIX": "16"}, hdu=1),
        ("HDU 1 (COADD)", "BITPIX = 16 in a table"),
    ),
    BadFile(
        "NAXIS2 4 rows of 5",
        _lamost(cards={"NAXIS2": "4"}),
        ("bytes follow the end of HDU 0's data", "NAXIS2 = 4"),
    ),
    BadFile(
        "NAXIS1 twice the pixels",
        _lamost(cards={"NAXIS1": "7818"}),
        ("announces", "NAXIS1 = 7818", "truncated, or BITPIX/NAXISn disagree"),
    ),
    BadFile(
        "NAXIS1 one pixel more", _lamost(cards={"NAXIS1": "3910"}), ("not a positive, strictly",)
    ),
    BadFile(
        "COADD NAXIS2 two rows",
        _lamost(LAMOST_COADD, cards={"NAXIS2": "2"}, hdu=1),
        ("HDU 1 (COADD)", "NAXIS2 = 2", "truncated, or BITPIX/NAXISn disagree"),
    ),
    BadFile("no OBSID card", _lamost(cards={"OBSID": None}), ("no OBSID card",)),
    BadFile("no Z card", _lamost(cards={"Z": None}), ("no Z card",)),
    BadFile("no Z card (DR9)", _lamost(LAMOST_COADD, cards={"Z": None}), ("no Z card",)),
    BadFile("all flux NaN", _lamost(edit=_fill("flux", np.nan)), ("no finite value",)),
    BadFile("all flux infinite", _lamost(edit=_fill("flux", np.inf)), ("no finite value",)),
    BadFile("all flux zero", _lamost(edit=_fill("flux", 0.0)), ("flux is all zero",)),
    BadFile("a negative ivar", _lamost(edit=_negative_ivar), ("ivar has 1 negative", "1000")),
    BadFile("wavelength decreases", _lamost(edit=_swap_wavelengths), ("decreases at pixel 2001",)),
    BadFile("wavelength repeats", _lamost(edit=_repeat_wavelength), ("repeats at pixel 2001",)),
    BadFile(
        "demo: all-zero flux", _demo_spectrum(flux=np.zeros(3909)), ("flux is all zero",), False
    ),
    BadFile(
        "demo: negative ivar",
        _demo_spectrum(ivar=_set(7, -1.0)),
        ("ivar has 1 negative", "pixel 7"),
        real=False,
    ),
    BadFile(
        "demo: repeated wavelength",
        _demo_spectrum(wavelength=_set(3, 10**3.5684)),
        ("repeats at pixel 3",),
        real=False,
    ),
    BadFile("demo: no Z card", _demo_spectrum(Z=None), ("no Z card",), real=False),
]


# --- Kepler ---------------------------------------------------------------------------------


def _real_kepler(source: Path, kic: int) -> bytes:
    """The real Q2 file, its KEPLERID made `kic`."""
    return set_card(file_bytes(source), "KEPLERID", str(kic))


def _kepler(
    *,
    cards: dict[str, str | None] | None = None,
    hdu: int = 0,
    edit: Callable[[dict[str, np.ndarray]], None] | None = None,
    keep: Callable[[int], int] | None = None,
    compress: bool = False,
) -> Callable[[Path, Path | None, int], Path]:
    def make(folder: Path, real: Path | None, kic: int) -> Path:
        assert real is not None
        buffer = bytearray(_real_kepler(real / KEPLER_Q2, kic))
        if edit is not None:
            edit(_kepler_columns(buffer))
        raw = bytes(buffer)
        for name, value in (cards or {}).items():
            raw = set_card(raw, name, value, hdu)
        if compress:
            raw = gzip.compress(raw, mtime=0)
        if keep is not None:
            raw = raw[: keep(len(raw))]
        return _write(folder / llc_filename(kic, Q2_STAMP), raw, compress=False)

    return make


def _kepler_bytes(data: bytes) -> Callable[[Path, Path | None, int], Path]:
    def make(folder: Path, real: Path | None, kic: int) -> Path:
        return _write(folder / llc_filename(kic, Q2_STAMP), data, compress=False)

    return make


def _flag_every_cadence(columns: dict[str, np.ndarray]) -> None:
    columns["SAP_QUALITY"][:] |= 1  # AttitudeTweak, in lightkurve's "default" bitmask


def _fill_flux(value: float) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(columns: dict[str, np.ndarray]) -> None:
        columns["PDCSAP_FLUX"][:] = value

    return edit


def _demo_llc(quarter: int, *, header_quarter: int | None = None, quality: int = 0):
    """A quarter from the demo sky's writer, named by `quarter`'s stamp."""

    def make(folder: Path, real: Path | None, kic: int) -> Path:
        info = QUARTERS[quarter]
        n = 60
        flux = np.full(n, 1000.0)
        path = folder / llc_filename(kic, info.stamps[0])
        write_llc(
            path,
            kic=kic,
            quarter=quarter if header_quarter is None else header_quarter,
            time=info.tstart_bkjd + 0.0204 * np.arange(n),
            cadenceno=np.arange(info.first_cadenceno, info.first_cadenceno + n),
            sap_flux=flux,
            sap_flux_err=np.ones(n),
            pdcsap_flux=flux,
            pdcsap_flux_err=np.ones(n),
            sap_quality=np.full(n, quality),
            header={"KEPMAG": 12.0},
        )
        return path

    return make


KEPLER_REFUSED = "not a readable Kepler light-curve FITS file"
KEPLER_FILES = [
    BadFile("gzip cut in half", _kepler(compress=True, keep=lambda n: n // 2), ("truncated",)),
    BadFile("cut in the primary HDU", _kepler(keep=lambda n: 5000), ("HDU 0", "truncated")),
    BadFile(
        "cut in the LIGHTCURVE header", _kepler(keep=lambda n: 8000), ("no END card", "truncated")
    ),
    BadFile(
        "cut in the light-curve rows",
        _kepler(keep=lambda n: 100_000),
        ("HDU 1 (LIGHTCURVE)", "announces", "truncated"),
    ),
    BadFile("empty file", _kepler_bytes(b""), ("empty (0 bytes)",), real=False),
    BadFile("HTML page as .fits", _kepler_bytes(HTML_PAGE), ("HTML page",), real=False),
    BadFile(
        "LIGHTCURVE with BITPIX 16",
        _kepler(cards={"BITPIX": "16"}, hdu=1),
        ("HDU 1 (LIGHTCURVE)", "BITPIX = 16 in a table"),
    ),
    BadFile(
        "LIGHTCURVE with BITPIX -32",
        _kepler(cards={"BITPIX": "-32"}, hdu=1),
        ("HDU 1 (LIGHTCURVE)", "BITPIX = -32 in a table"),
    ),
    BadFile(
        "NAXIS2 one row more (padding read as a row)",
        _kepler(cards={"NAXIS2": "4355"}, hdu=1),
        ("CADENCENO is not increasing at row 4354", "NAXIS2"),
    ),
    BadFile(
        "NAXIS2 twice the rows",
        _kepler(cards={"NAXIS2": "8708"}, hdu=1),
        ("HDU 1 (LIGHTCURVE)", "NAXIS2 = 8708", "disagree with the data"),
    ),
    BadFile(
        "missing PDCSAP_FLUX column",
        _kepler(cards={"TTYPE8": "'PDCSAP_FLUY'"}, hdu=1),
        ("LIGHTCURVE table lacks column(s) ['PDCSAP_FLUX']",),
    ),
    BadFile("no KEPLERID card", _kepler(cards={"KEPLERID": None}), ("no KEPLERID card",)),
    BadFile(
        "QUARTER 5 in a Q2 file",
        _kepler(cards={"QUARTER": "5"}),
        ("QUARTER card is 5", "stamp 2009259160929 is a Q2 file"),
    ),
    BadFile(
        "every cadence flagged",
        _kepler(edit=_flag_every_cadence),
        ("every cadence is flagged by the quality bitmask",),
    ),
    BadFile(
        "all flux NaN",
        _kepler(edit=_fill_flux(np.nan)),
        ("NaN PDCSAP flux",),
    ),
    BadFile("all flux zero", _kepler(edit=_fill_flux(0.0)), ("median PDCSAP flux 0",)),
    BadFile(
        "demo: QUARTER 3 in a Q2 file",
        _demo_llc(2, header_quarter=3),
        ("QUARTER card is 3", "is a Q2 file"),
        real=False,
    ),
    BadFile(
        "demo: every cadence flagged",
        _demo_llc(2, quality=4),  # CoarsePoint, in lightkurve's "default" bitmask
        ("every cadence is flagged by the quality bitmask",),
        real=False,
    ),
]
