"""LAMOST low-resolution (LRS) spectrum files `spec-{lmjd}-{planid}_sp{spid}-{fiberid}.fits[.gz]`.

Two layouts exist (data_sources.md §1.4-1.5, checked on the real DR5-DR9 files):

- "image": one PrimaryHDU holding a float32 5xN image, rows flux, ivar, wavelength, andmask,
  ormask (DR1-DR7 and DR8 v1.0, even though DR8 says `DATA_V='LAMOST DR8'`);
- "coadd": empty PrimaryHDU + BinTableHDU `EXTNAME='COADD'` with one row of vector columns
  FLUX, IVAR, WAVELENGTH, ANDMASK, ORMASK, NORMALIZATION (DR9 and later).

The layout is detected from the file structure, never from DATA_V. N varies per file (3751-3909
in the real files) and so does the start wavelength.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from os import PathLike
from typing import Any, Literal

import numpy as np
from astropy.io import fits

from desa.surveys import open_fits
from desa.surveys.lean_fits import (
    HeaderCards,
    MalformedFits,
    column_names,
    file_bytes,
    image,
    split_hdus,
    structure_problem,
    table_columns,
    unreadable,
)
from storage.errors import BadInputError

# Speed of light in km/s (exact, SI definition). LAMOST's catalog rv is z*c; Z is the redshift
# of the star after the heliocentric correction HELIO_RV (km/s) was applied to the wavelengths,
# so HELIO_RV is NOT the star's RV (data_sources.md §1.4; real DR6 file of KIC 8098300:
# Z=-0.00017162 -> -51.45 km/s while HELIO_RV=9.85119).
C_KMS = 299792.458

# LAMOST catalogs and headers use -9999 for "no value" (e.g. failed redshift, NORMALIZATION when
# NORM=0; data_sources.md §1.5).
MISSING = -9999.0

# Image-layout row order: EXTEN0 = 'Flux, Inverse, Wavelength, Andmask, Ormask' (real DR5-DR8).
IMAGE_ROWS = ("flux", "ivar", "wavelength", "andmask", "ormask")

# COADD column order in the real DR9 files.
COADD_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK", "NORMALIZATION")

SNR_BANDS = ("u", "g", "r", "i", "z")

Layout = Literal["image", "coadd"]
# Which decoder read a file: the lean numpy one, or astropy's fits.open (anything unusual).
Reader = Literal["lean", "astropy"]

# LAMOST-Kepler targets carry TSOURCE='Kepler', TCOMMENT='kplr008098300' (real DR6 file).
_KIC_COMMENT = re.compile(r"^\s*kplr0*(\d+)\s*$", re.IGNORECASE)

_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, zlib.error)
_KIND = "LAMOST"


@dataclass(frozen=True, eq=False)
class LamostSpectrum:
    """One LAMOST LRS spectrum and the header values DESA uses."""

    obsid: int
    wavelength: np.ndarray  # Å, vacuum, heliocentric frame (stored row, not COEFF0/COEFF1)
    flux: np.ndarray  # relative flux units
    ivar: np.ndarray  # inverse variance; 0 marks bad pixels
    andmask: np.ndarray  # int64; 0 = good
    ormask: np.ndarray  # int64; 0 = good
    ra: float  # deg
    dec: float  # deg
    rv_kms: float  # Z * c (NaN when Z is the -9999 sentinel)
    z: float
    z_err: float  # NaN when absent
    snr: dict[str, float]  # band u,g,r,i,z -> SNRU..SNRZ (NaN when absent)
    data_release: str  # DATA_V, e.g. 'LAMOST DR8' (does not tell the layout)
    kic: int | None  # from TCOMMENT when TSOURCE is Kepler
    designation: str | None  # DESIG, 'LAMOST Jhhmmss.ss+ddmmss.s'
    normalization: np.ndarray | None  # COADD NORMALIZATION, only when NORM=1
    layout: Layout
    path: str
    cards: HeaderCards  # primary header's values, parsed on demand
    reader: Reader = "astropy"

    @property
    def header(self) -> fits.Header:
        """The whole primary header as astropy parses it (built on first use)."""
        return self.cards.astropy()


def _number(path: str, header: HeaderCards, key: str, *, required: bool) -> float:
    if key not in header or header[key] is None or isinstance(header[key], fits.card.Undefined):
        if required:
            raise BadInputError(path, f"header has no {key} card")
        return math.nan
    value = header[key]
    if isinstance(value, bool):
        raise BadInputError(path, f"{key} is not a number: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadInputError(path, f"{key} is not a number: {value!r}") from None


def _obsid(path: str, header: HeaderCards) -> int:
    if "OBSID" not in header:
        raise BadInputError(path, "header has no OBSID card")
    value = header["OBSID"]
    if isinstance(value, bool):
        raise BadInputError(path, f"OBSID is not an integer: {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    text = str(value).strip()
    if not text.isdigit():
        raise BadInputError(path, f"OBSID is not an integer: {value!r}")
    return int(text)


def _text(header: HeaderCards, key: str) -> str | None:
    value = header.get(key)
    if value is None or isinstance(value, fits.card.Undefined):
        return None
    return str(value).strip()


def _kic(header: HeaderCards) -> int | None:
    if (_text(header, "TSOURCE") or "").lower() != "kepler":
        return None
    match = _KIC_COMMENT.match(_text(header, "TCOMMENT") or "")
    return int(match.group(1)) if match else None


def _float_array(values: Any) -> np.ndarray:
    out = np.asarray(values)
    if not np.issubdtype(out.dtype, np.floating):
        out = out.astype(np.float64)
    return np.ascontiguousarray(out, dtype=out.dtype.newbyteorder("="))


def _mask_array(path: str, name: str, values: Any) -> np.ndarray:
    """Masks are stored as float in the real files; they must hold whole numbers."""
    raw = np.asarray(values)
    if np.issubdtype(raw.dtype, np.integer):
        return raw.astype(np.int64)
    if not np.all(np.isfinite(raw)) or not np.array_equal(raw, np.round(raw)):
        raise BadInputError(path, f"{name} holds non-integer values")
    return raw.astype(np.int64)


def _require_float(path: str, layout: Layout, name: str, values: Any) -> None:
    """Every real file stores flux, ivar and wavelength as float32; integers mean a wrong
    BITPIX (image) or TFORM (COADD), and their values are not the spectrum's."""
    kind = np.asarray(values).dtype
    if not np.issubdtype(kind, np.floating):
        card = "BITPIX" if layout == "image" else f"TFORM of {name.upper()}"
        raise BadInputError(
            path,
            f"{name} is stored as {kind.name} integers, not floating point: {card} is wrong "
            "(LAMOST spectra are float32: BITPIX = -32, TFORM 'E')",
        )


def _check_wavelength(path: str, wavelength: np.ndarray) -> None:
    """The stored wavelength row is exact; COEFF0 is rounded to 4 decimals (≤0.003 Å off,
    data_sources.md §1.4). A non-increasing row means a different product (e.g. pilot data
    kept a continuum-subtracted spectrum in row 2: lamost.org/public/dr/algorithms/ff)."""
    problem = ""
    step = np.diff(wavelength)
    if not np.all(np.isfinite(wavelength)):
        problem = f"{np.count_nonzero(~np.isfinite(wavelength))} value(s) are NaN or infinite"
    elif wavelength[0] <= 0:
        problem = f"it starts at {wavelength[0]:g} Å"
    elif np.any(step <= 0):
        i = int(np.flatnonzero(step <= 0)[0])
        a, b = wavelength[i], wavelength[i + 1]
        verb = "repeats" if a == b else "decreases"
        problem = f"it {verb} at pixel {i + 1} ({a:.4f} Å then {b:.4f} Å)"
    if problem:
        raise BadInputError(
            path, f"wavelength is not a positive, strictly increasing array: {problem}"
        )


def _check_ivar(path: str, ivar: np.ndarray) -> None:
    """An inverse variance is ≥ 0, and 0 marks a bad pixel (data_sources.md §1.5): a negative
    or NaN value is not a pixel to mask but a file that is not what it claims, so the whole
    file is refused rather than guessed at."""
    bad = ~(ivar >= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BadInputError(
            path,
            f"ivar has {np.count_nonzero(bad)} negative or NaN value(s) (first at pixel {i}: "
            f"{ivar[i]:g}); an inverse variance is ≥ 0, with 0 marking a bad pixel",
        )


def detect_layout(hdul: fits.HDUList) -> Layout | None:
    """'coadd', 'image' or None, from the HDU structure alone."""
    if (
        len(hdul) >= 2
        and isinstance(hdul[1], fits.BinTableHDU)
        and str(hdul[1].header.get("EXTNAME", "")).strip().upper() == "COADD"
    ):
        return "coadd"
    # Any primary image counts; its (5, N) shape is checked when it is read.
    if hdul[0].header.get("NAXIS", 0):
        return "image"
    return None


def _image_arrays(path: str, hdul: fits.HDUList) -> dict[str, Any]:
    data = hdul[0].data
    if data is None or data.ndim != 2 or data.shape[0] != 5 or data.shape[1] == 0:
        shape = None if data is None else data.shape
        raise BadInputError(path, f"primary image has shape {shape}, expected (5, N)")
    arrays: dict[str, Any] = dict(zip(IMAGE_ROWS, data, strict=True))
    arrays["normalization"] = None
    return arrays


def _coadd_arrays(path: str, hdul: fits.HDUList) -> dict[str, Any]:
    table = hdul[1]
    names = [name.upper() for name in table.columns.names]
    missing = [c for c in COADD_COLUMNS[:5] if c not in names]
    if missing:
        raise BadInputError(path, f"COADD table lacks column(s) {missing}")
    data = table.data
    if data is None or len(data) != 1:
        nrows = 0 if data is None else len(data)
        raise BadInputError(path, f"COADD table has {nrows} rows, expected 1")
    arrays: dict[str, Any] = {c.lower(): np.ravel(data[c][0]) for c in COADD_COLUMNS[:5]}
    norm_flag = hdul[0].header.get("NORM", 0)
    if norm_flag == 1 and "NORMALIZATION" in names:
        arrays["normalization"] = np.ravel(data["NORMALIZATION"][0])
    else:
        arrays["normalization"] = None
    return arrays


def _lean_decode(raw: bytes) -> tuple[Layout, dict[str, Any], HeaderCards] | None:
    """Layout, arrays and primary header by the lean decode; None for anything it does not
    read exactly as the astropy path does (that path then reads the file, or says what is
    wrong with it)."""
    hdus = split_hdus(raw)
    if hdus is None:
        return None
    header = hdus[0].header
    if (
        len(hdus) >= 2
        and str(hdus[1].header.get("XTENSION", "")).strip() == "BINTABLE"
        and str(hdus[1].header.get("EXTNAME", "")).strip().upper() == "COADD"
    ):
        names = COADD_COLUMNS[:5]
        with_norm = header.get("NORM", 0) == 1 and "NORMALIZATION" in column_names(hdus[1])
        columns = table_columns(raw, hdus[1], names + ("NORMALIZATION",) * with_norm)
        if columns is None or len(columns["FLUX"]) != 1:
            return None
        arrays: dict[str, Any] = {name.lower(): np.ravel(columns[name][0]) for name in names}
        arrays["normalization"] = np.ravel(columns["NORMALIZATION"][0]) if with_norm else None
        return "coadd", arrays, header
    data = image(raw, hdus[0])
    if data is None or data.ndim != 2 or data.shape[0] != 5 or data.shape[1] == 0:
        return None
    arrays = dict(zip(IMAGE_ROWS, data, strict=True))
    arrays["normalization"] = None
    return "image", arrays, header


def _astropy_decode(path: str, raw: bytes | None) -> tuple[Layout, dict[str, Any], HeaderCards]:
    """Layout, arrays and primary header by astropy's fits.open (memmap=False: the arrays
    stay valid once the file is closed)."""
    with open_fits(path, raw) as hdul:
        layout = detect_layout(hdul)
        if layout is None:
            raise BadInputError(
                path,
                f"neither LAMOST layout: {len(hdul)} HDU(s), no 'COADD' table in HDU1 "
                "and no 5xN primary image",
            )
        read_arrays = _coadd_arrays if layout == "coadd" else _image_arrays
        return layout, read_arrays(path, hdul), HeaderCards.of(hdul[0].header)


def read_header(path: str | PathLike[str]) -> fits.Header:
    """Primary header of a LAMOST spectrum file (cheap: no pixel data is converted)."""
    spath = str(path)
    try:
        with fits.open(spath, memmap=False) as hdul:
            return hdul[0].header
    except FileNotFoundError:
        raise
    except _READ_ERRORS as exc:
        raise BadInputError(spath, f"not a readable FITS file ({exc})") from exc


def read_spectrum(path: str | PathLike[str], *, lean: bool = True) -> LamostSpectrum:
    """Read a LAMOST LRS spectrum of either layout (gzip or not, any pixel count).

    The lean decode reads the plain layouts (`reader='lean'`); anything else, or every file
    when `lean=False`, goes through astropy's fits.open (`reader='astropy'`). Both give the
    same arrays and header values (tests/desa/surveys/test_lamost_lean.py).
    """
    spath = str(path)
    reader: Reader = "lean"
    raw: bytes | None = None
    try:
        raw = file_bytes(spath) if lean else None
        decoded = None if raw is None else _lean_decode(raw)
        if decoded is None:
            if raw is not None and (problem := structure_problem(raw)):
                raise MalformedFits(problem)
            reader = "astropy"
            decoded = _astropy_decode(spath, raw)
        layout, arrays, header = decoded
        for name in ("flux", "ivar", "wavelength"):
            _require_float(spath, layout, name, arrays[name])
        wavelength = _float_array(arrays["wavelength"])
        flux = _float_array(arrays["flux"])
        ivar = _float_array(arrays["ivar"])
        andmask = _mask_array(spath, "ANDMASK", arrays["andmask"])
        ormask = _mask_array(spath, "ORMASK", arrays["ormask"])
        normalization = arrays["normalization"]
        if normalization is not None:
            normalization = _float_array(normalization)
    except BadInputError:
        raise
    except FileNotFoundError:
        raise
    except (MalformedFits, *_READ_ERRORS) as exc:
        raise unreadable(spath, _KIND, raw, exc) from exc

    n = wavelength.size
    sizes = {"flux": flux.size, "ivar": ivar.size, "andmask": andmask.size, "ormask": ormask.size}
    if normalization is not None:
        sizes["normalization"] = normalization.size
    if n == 0 or any(size != n for size in sizes.values()):
        raise BadInputError(spath, f"array lengths differ: wavelength {n}, {sizes}")
    _check_wavelength(spath, wavelength)
    _check_ivar(spath, ivar)

    z = _number(spath, header, "Z", required=True)
    if z == MISSING:
        z = math.nan
    return LamostSpectrum(
        obsid=_obsid(spath, header),
        wavelength=wavelength,
        flux=flux,
        ivar=ivar,
        andmask=andmask,
        ormask=ormask,
        ra=_number(spath, header, "RA", required=True),
        dec=_number(spath, header, "DEC", required=True),
        rv_kms=z * C_KMS,
        z=z,
        z_err=_number(spath, header, "Z_ERR", required=False),
        snr={b: _number(spath, header, f"SNR{b.upper()}", required=False) for b in SNR_BANDS},
        data_release=_text(header, "DATA_V") or "",
        kic=_kic(header),
        designation=_text(header, "DESIG"),
        normalization=normalization,
        layout=layout,
        path=spath,
        cards=header,
        reader=reader,
    )
