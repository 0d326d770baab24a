"""Write LAMOST LRS spectrum files in both real layouts (data_sources.md §1.4-1.5, §6.1-6.2).

- "image" (DR1-DR7, DR8 v1.0): one PrimaryHDU, float32 5xN image (flux, ivar, wavelength,
  andmask, ormask; masks stored as float), `EXTNAME='Flux'`, `N_EXTEN=1`, `EXTEN0`, old key
  names FIBERTYP/FIBERMAS/MAGTYPE/MAG1..7.
- "coadd" (DR9+): empty PrimaryHDU (`N_EXTEN=2`, `NORM`, FIB_TYPE/FIB_MASK, MAG_PS_G..Y) and a
  one-row BinTableHDU `EXTNAME='COADD'` with `{N}E` vector columns FLUX, IVAR, WAVELENGTH,
  ANDMASK, ORMASK, NORMALIZATION (all -9999 when there is no normalized spectrum, `NORM=0`).

Primary-header cards follow the real files' order; caller keys the template does not know are
appended after it. Output bytes are deterministic (gzip mtime 0) and written atomically.
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
from astropy.io import fits
from fsspec.implementations.local import LocalFileSystem

from storage.publish import atomic_write_bytes

# Card order of the real primary headers (real DR6 image file / real DR9 coadd file), without
# the structural SIMPLE/BITPIX/NAXIS*/EXTEND cards astropy writes itself.
_ORDER_HEAD = ("FILENAME", "OBSID", "AUTHOR", "DATA_V")
_ORDER_IMAGE_FILE = ("EXTEN0", "N_EXTEN", "EXTNAME")
_ORDER_COADD_FILE = ("N_EXTEN", "NORM")
_ORDER_OBS = (
    "ORIGIN", "DATE", "TELESCOP", "LONGITUD", "LATITUDE", "FOCUS", "CAMPRO", "CAMVER",
    "DATE-OBS", "DATE-BEG", "DATE-END", "LMJD", "MJD", "LMJMLIST", "PLANID", "RA", "DEC",
    "RA_OBS", "DEC_OBS", "OFFSET", "OFFSET_V", "DESIG", "FIBERID", "CELL_ID", "X_VALUE",
    "Y_VALUE", "OBJNAME", "OBJTYPE", "TSOURCE", "TCOMMENT", "TFROM",
)  # fmt: skip
_ORDER_IMAGE_FIBER = (
    "FIBERTYP", "FIBERMAS", "MAGTYPE", "MAG1", "MAG2", "MAG3", "MAG4", "MAG5", "MAG6", "MAG7",
)  # fmt: skip
_ORDER_COADD_FIBER = (
    "FIB_TYPE", "FIB_MASK", "MAG_PS_G", "MAG_PS_R", "MAG_PS_I", "MAG_PS_Z", "MAG_PS_Y",
)  # fmt: skip
_ORDER_TAIL = (
    "OBS_TYPE", "OBSCOMM", "RADECSYS", "EQUINOX", "LAMPLIST", "SKYLIST", "NEXP", "NEXP_B",
    "NEXP_R", "EXPT_B", "EXPT_R", "EXPTIME", "BESTEXP", "SCAMEAN", "SPID", "SPRA", "SPDEC",
    "SLIT_MOD", "TEMPCCDB", "TEMPCCDR", "SEEING", "MOONPHA", "TEMP_AIR", "TEMP_FP", "DEWPOINT",
    "DUST", "HUMIDITY", "WINDD", "WINDS", "SKYLEVEL", "EXTRACT", "SFLATTEN", "PCASKYSB",
    "NSKIES", "SKYCHI2", "SCHI2MIN", "SCHI2MAX", "NSTD", "FSTAR", "FCBY", "HELIO", "HELIO_RV",
    "VACUUM", "NWORDER", "WFITTYPE", "COEFF0", "COEFF1", "WAT0_001", "WAT1_001", "CRVAL1",
    "CD1_1", "CRPIX1", "CTYPE1", "DC-FLAG", "VERSPIPE", "CLASS", "SUBCLASS", "Z", "Z_ERR",
    "ZFLAG", "SNRU", "SNRG", "SNRR", "SNRI", "SNRZ",
)  # fmt: skip

ORDER: dict[str, tuple[str, ...]] = {
    "image": _ORDER_HEAD + _ORDER_IMAGE_FILE + _ORDER_OBS + _ORDER_IMAGE_FIBER + _ORDER_TAIL,
    "coadd": _ORDER_HEAD + _ORDER_COADD_FILE + _ORDER_OBS + _ORDER_COADD_FIBER + _ORDER_TAIL,
}

# Section banners of the real headers, written as COMMENT cards before these keys.
_SECTIONS = {
    "FILENAME": "--------FILE INFORMATION",
    "TELESCOP": "--------TELESCOPE PARAMETERS",
    "DATE-OBS": "--------OBSERVATION PARAMETERS",
    "SPID": "--------SPECTROGRAPH PARAMETERS",
    "TEMPCCDB": "--------WEATHER CONDITION",
    "EXTRACT": "--------DATA REDUCTION PARAMETERS",
    "VERSPIPE": "--------SPECTRA ANALYSIS RESULTS",
}

# The DR9 renames of the same cards (obsid 101005 in DR5 vs DR9, data_sources.md §1.5).
_RENAMES = {
    "image": {"FIB_TYPE": "FIBERTYP", "FIB_MASK": "FIBERMAS"},
    "coadd": {"FIBERTYP": "FIB_TYPE", "FIBERMAS": "FIB_MASK"},
}

# Cards that describe the file structure: always set by the writer; those of the other layout
# are dropped from the caller's header because they would misdescribe the file.
_STRUCTURE = {
    "image": {"EXTEN0", "N_EXTEN", "EXTNAME"},
    "coadd": {"N_EXTEN", "NORM"},
}
# Cards astropy writes itself, and commentary cards: never copied from the caller's header
# (so a real file's Header can be passed straight in).
_SKIPPED = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "XTENSION", "PCOUNT"}
_SKIPPED |= {"GCOUNT", "COMMENT", "HISTORY", ""}

# Defaults the caller may override (values as in the real files).
_DEFAULTS_COMMON: dict[str, Any] = {
    "AUTHOR": "LAMOST Pipeline",
    "ORIGIN": "NAOC-LAMOST",
    "TELESCOP": "LAMOST",
    "HELIO": True,
    "VACUUM": True,
    "WAT0_001": "system=linear",
    "WAT1_001": "wtype=linear label=Wavelength units=Angstroms",
}
_DEFAULTS = {
    "image": {
        **_DEFAULTS_COMMON,
        "FIBERTYP": "Obj",
        "FIBERMAS": 0,
        "VERSPIPE": "v2.9.7",
    },
    "coadd": {
        **_DEFAULTS_COMMON,
        "FIB_TYPE": "Obj",
        "FIB_MASK": 0,
        # -999.0 = no PS1 magnitude (real DR9 files).
        **{f"MAG_PS_{band}": -999.0 for band in "GRIZY"},
        "VERSPIPE": "v2.9.8",
    },
}
_COMMENTS = {
    "OBSID": "Unique number ID of this spectrum",
    "DATA_V": "Data release version",
    "N_EXTEN": "The extension number",
    "EXTNAME": "The extension name",
    "NORM": "1 if there exists a normalized spectrum",
    "HELIO_RV": "[km/s] Heliocentric correction",
    "COEFF0": "Central wavelength (log10) of first pixel",
    "COEFF1": "Log10 dispersion per pixel",
    "Z": "Redshift of object",
    "Z_ERR": "Redshift error of object",
}

# NORMALIZATION fill when NORM=0 (real DR9 obsids 101002, 101012).
MISSING = -9999.0

LAYOUTS = ("image", "coadd")


def lamost_filename(lmjd: int, planid: str, spid: int, fiberid: int) -> str:
    """Archive file name, e.g. `spec-57287-KP193637N444141V03_sp10-161.fits.gz`."""
    return f"spec-{int(lmjd):05d}-{planid}_sp{int(spid):02d}-{int(fiberid):03d}.fits.gz"


def hdul_bytes(hdul: fits.HDUList, *, compress: bool) -> bytes:
    """Serialized FITS; gzip with mtime 0 so equal input gives equal bytes."""
    buffer = io.BytesIO()
    hdul.writeto(buffer)
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def card_value(key: str, value: Any) -> Any:
    """A header value astropy can write (numpy scalars -> Python; NaN rejected by name)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"header card {key} = {value!r}: FITS headers cannot hold NaN/inf")
    return value


def _wavelength_cards(wavelength: np.ndarray) -> dict[str, Any]:
    # Real files: COEFF0 = log10 of pixel 0 rounded to 4 decimals (3.5682, 3.584), COEFF1 = 1e-4;
    # CRVAL1/CD1_1 repeat them (data_sources.md §1.4).
    loglam = np.log10(wavelength.astype(np.float64))
    coeff0 = round(float(loglam[0]), 4)
    step = (loglam[-1] - loglam[0]) / (loglam.size - 1) if loglam.size > 1 else 1e-4
    coeff1 = round(float(step), 8)
    return {
        "NWORDER": 2,
        "WFITTYPE": "LOG-LINEAR",
        "COEFF0": coeff0,
        "COEFF1": coeff1,
        "CRVAL1": coeff0,
        "CD1_1": coeff1,
        "CRPIX1": 1,
        "CTYPE1": "LINEAR",
        "DC-FLAG": 1,
    }


def _primary_header(
    path: Path,
    layout: str,
    header: Mapping[str, Any],
    wavelength: np.ndarray,
    has_norm: bool,
) -> fits.Header:
    other = "coadd" if layout == "image" else "image"
    foreign = _STRUCTURE[other] - _STRUCTURE[layout]
    values: dict[str, Any] = dict(_DEFAULTS[layout])
    values["FILENAME"] = path.name.removesuffix(".gz")
    caller: dict[str, Any] = {}
    for raw_key, value in header.items():
        key = _RENAMES[layout].get(raw_key.upper(), raw_key.upper())
        if key in foreign or key in _SKIPPED:
            continue
        caller[key] = value
    values.update(caller)
    if layout == "image":
        values.update(
            {
                "EXTEN0": "Flux, Inverse, Wavelength, Andmask, Ormask",
                "N_EXTEN": 1,
                "EXTNAME": "Flux",
            }
        )
    else:
        values.update({"N_EXTEN": 2, "NORM": 1 if has_norm else 0})
    values.update(_wavelength_cards(wavelength))

    order = ORDER[layout]
    known = set(order)
    out = fits.Header()
    for key in (*order, *(k for k in caller if k not in known)):
        if key not in values:
            continue
        if key in _SECTIONS:
            out.append(("COMMENT", _SECTIONS[key]), end=True)
        out.append((key, card_value(key, values[key]), _COMMENTS.get(key, "")), end=True)
    return out


def _vector(name: str, values: Any, n: int | None) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1 or out.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {out.shape}")
    if n is not None and out.size != n:
        raise ValueError(f"{name} has {out.size} pixels, wavelength has {n}")
    return out


def write_lamost_spectrum(
    path: str | PathLike[str],
    *,
    layout: Literal["image", "coadd"],
    wavelength: Any,
    flux: Any,
    ivar: Any,
    andmask: Any,
    ormask: Any,
    header: Mapping[str, Any],
    normalization: Any = None,
    compress: bool = True,
) -> None:
    """Write one spectrum file; arrays are stored as float32 (as in every real file).

    `header` carries the per-observation cards (OBSID, DATA_V, RA, DEC, DESIG, LMJD, ..., Z,
    Z_ERR, SNRU..SNRZ, HELIO_RV, TSOURCE, TCOMMENT); FIBERTYP/FIB_TYPE and FIBERMAS/FIB_MASK
    are accepted in either spelling. `normalization` is only stored by the "coadd" layout.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    wave = _vector("wavelength", wavelength, None)
    n = wave.size
    rows = [
        _vector("flux", flux, n),
        _vector("ivar", ivar, n),
        wave,
        _vector("andmask", andmask, n),
        _vector("ormask", ormask, n),
    ]
    if normalization is not None and layout == "image":
        raise ValueError("the image layout has no NORMALIZATION; pass normalization=None")
    norm = None if normalization is None else _vector("normalization", normalization, n)
    dest = Path(path)
    primary_header = _primary_header(dest, layout, header, wave, norm is not None)

    if layout == "image":
        image = np.vstack(rows).astype(">f4")
        primary = fits.PrimaryHDU(data=image, header=primary_header)
        # Real image files carry EXTEND = T although they have no extension.
        primary.header.set("EXTEND", True, after="NAXIS2")
        hdul = fits.HDUList([primary])
    else:
        norm_row = np.full(n, MISSING) if norm is None else norm
        names = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK", "NORMALIZATION")
        columns = [
            fits.Column(name=name, format=f"{n}E", array=row.astype(">f4")[np.newaxis, :])
            for name, row in zip(names, [*rows, norm_row], strict=True)
        ]
        table = fits.BinTableHDU.from_columns(columns, name="COADD")
        hdul = fits.HDUList([fits.PrimaryHDU(header=primary_header), table])
    atomic_write_bytes(LocalFileSystem(), str(dest), hdul_bytes(hdul, compress=compress))
