"""Write Kepler DR25 long-cadence light-curve files (`kplrNNNNNNNNN-STAMP_llc.fits`).

Plain (not gzip) FITS, as MAST serves them (data_sources.md §2.4, §6.4): HDU0 header-only with
the cards lightkurve's file-type detection needs (CREATOR containing 'FluxExporter2PipelineModule',
ORIGIN, TELESCOP/MISSION = 'Kepler'; lightkurve io/detect.py), HDU1 `LIGHTCURVE` with the 20 real
columns in the real order, formats and units, HDU2 `APERTURE` (int32 image). Columns the caller
does not give (TIMECORR, SAP_BKG*, PSF_CENTR*, MOM_CENTR*, POS_CORR*) are NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import Any

import numpy as np
from astropy.io import fits
from fsspec.implementations.local import LocalFileSystem

from desa.sky.lamost_files import card_value, hdul_bytes
from desa.surveys.kepler import LONG_CADENCE_DAYS, season_of_quarter
from storage.publish import atomic_write_bytes

# Primary-header card order of the real files (kplr002556081-2009259160929_llc.fits).
_PRIMARY_ORDER = (
    "NEXTEND", "EXTNAME", "EXTVER", "ORIGIN", "DATE", "CREATOR", "PROCVER", "FILEVER",
    "TIMVERSN", "TELESCOP", "INSTRUME", "OBJECT", "KEPLERID", "CHANNEL", "SKYGROUP", "MODULE",
    "OUTPUT", "QUARTER", "SEASON", "DATA_REL", "OBSMODE", "MISSION", "TTABLEID", "RADESYS",
    "RA_OBJ", "DEC_OBJ", "EQUINOX", "PMRA", "PMDEC", "PMTOTAL", "PARALLAX", "GLON", "GLAT",
    "GMAG", "RMAG", "IMAG", "ZMAG", "D51MAG", "JMAG", "HMAG", "KMAG", "KEPMAG", "GRCOLOR",
    "JKCOLOR", "GKCOLOR", "TEFF", "LOGG", "FEH", "EBMINUSV", "AV", "RADIUS", "TMINDEX", "SCPID",
)  # fmt: skip

# Values every real DR25 long-cadence file has (SOURCES.md §1, data_sources.md §2.4).
_PRIMARY_DEFAULTS: dict[str, Any] = {
    "ORIGIN": "NASA/Ames",
    "CREATOR": "FluxExporter2PipelineModule",
    "FILEVER": "6.1",
    "TIMVERSN": "OGIP/93-003",
    "TELESCOP": "Kepler",
    "INSTRUME": "Kepler Photometer",
    "DATA_REL": 25,
    "OBSMODE": "long cadence",
    "MISSION": "Kepler",
    "RADESYS": "ICRS",
    "EQUINOX": 2000.0,
}

# Object cards repeated in HDU1/HDU2 headers of the real files.
_OBJECT_CARDS = (
    "TELESCOP", "INSTRUME", "OBJECT", "KEPLERID", "RADESYS", "RA_OBJ", "DEC_OBJ", "EQUINOX",
)  # fmt: skip

# Cards astropy writes itself, or that the writer owns.
_SKIPPED = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "NEXTEND", "EXTNAME", "EXTVER", "KEPLERID"}
_SKIPPED |= {"QUARTER", "COMMENT", "HISTORY", "CHECKSUM", "DATASUM", ""}

# (name, TFORM, TUNIT, TDISP) of the 20 LIGHTCURVE columns, in the real order.
_COLUMNS = (
    ("TIME", "D", "BJD - 2454833", "D14.7"),
    ("TIMECORR", "E", "d", "E13.6"),
    ("CADENCENO", "J", None, "I10"),
    ("SAP_FLUX", "E", "e-/s", "E14.7"),
    ("SAP_FLUX_ERR", "E", "e-/s", "E14.7"),
    ("SAP_BKG", "E", "e-/s", "E14.7"),
    ("SAP_BKG_ERR", "E", "e-/s", "E14.7"),
    ("PDCSAP_FLUX", "E", "e-/s", "E14.7"),
    ("PDCSAP_FLUX_ERR", "E", "e-/s", "E14.7"),
    ("SAP_QUALITY", "J", None, "B16.16"),
    ("PSF_CENTR1", "D", "pixel", "F10.5"),
    ("PSF_CENTR1_ERR", "E", "pixel", "E14.7"),
    ("PSF_CENTR2", "D", "pixel", "F10.5"),
    ("PSF_CENTR2_ERR", "E", "pixel", "E14.7"),
    ("MOM_CENTR1", "D", "pixel", "F10.5"),
    ("MOM_CENTR1_ERR", "E", "pixel", "E14.7"),
    ("MOM_CENTR2", "D", "pixel", "F10.5"),
    ("MOM_CENTR2_ERR", "E", "pixel", "E14.7"),
    ("POS_CORR1", "E", "pixels", "E14.7"),
    ("POS_CORR2", "E", "pixels", "E14.7"),
)
_DTYPES = {"D": ">f8", "E": ">f4", "J": ">i4"}

# A small optimal aperture like the real 5x4 one: bit 1 = pixel collected, bit 2 = in the
# optimal aperture (Kepler Archive Manual, aperture image).
_DEFAULT_APERTURE = np.array(
    [[1, 1, 1, 1, 1], [1, 3, 3, 3, 1], [1, 3, 3, 1, 1], [1, 1, 1, 1, 1]], dtype=np.int32
)


def _column(name: str, values: Any, n: int | None) -> np.ndarray:
    out = np.asarray(values)
    if out.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {out.shape}")
    if n is not None and out.size != n:
        raise ValueError(f"{name} has {out.size} rows, time has {n}")
    return out


def _primary(kic: int, quarter: int, header: Mapping[str, Any]) -> fits.PrimaryHDU:
    values: dict[str, Any] = dict(_PRIMARY_DEFAULTS)
    values.update({"OBJECT": f"KIC {kic}", "SEASON": season_of_quarter(quarter)})
    caller = {k.upper(): v for k, v in header.items() if k.upper() not in _SKIPPED}
    values.update(caller)
    values.update({"NEXTEND": 2, "EXTNAME": "PRIMARY", "EXTVER": 1})
    values.update({"KEPLERID": kic, "QUARTER": quarter})
    known = set(_PRIMARY_ORDER)
    out = fits.Header()
    for key in (*_PRIMARY_ORDER, *(k for k in caller if k not in known)):
        if key in values:
            out.append((key, card_value(key, values[key])), end=True)
    primary = fits.PrimaryHDU(header=out)
    primary.header.set("EXTEND", True, after="NAXIS")
    return primary


def _object_cards(primary: fits.Header, extname: str) -> fits.Header:
    out = fits.Header([("INHERIT", True), ("EXTNAME", extname), ("EXTVER", 1)])
    for key in _OBJECT_CARDS:
        if key in primary:
            out.append((key, primary[key]), end=True)
    return out


def write_llc(
    path: str | PathLike[str],
    *,
    kic: int,
    quarter: int,
    time: Any,
    cadenceno: Any,
    sap_flux: Any,
    sap_flux_err: Any,
    pdcsap_flux: Any,
    pdcsap_flux_err: Any,
    sap_quality: Any,
    header: Mapping[str, Any],
    aperture: Any = None,
) -> None:
    """Write one quarter of one star as a DR25-style long-cadence file (atomically).

    `time` is BKJD (NaN allowed: real files have NaN-time gap rows). `header` adds primary
    cards (KEPMAG, RA_OBJ, DEC_OBJ, TEFF, LOGG, FEH, RADIUS, MODULE, ...); KEPLERID, QUARTER
    and the structure cards come from the arguments. `aperture`: int image for HDU2
    (default: a 5x4 mask with 5 optimal-aperture pixels, like the real Q2 file).
    """
    kic = int(kic)
    quarter = int(quarter)
    time_col = _column("time", time, None).astype(np.float64)
    n = time_col.size
    given = {
        "TIME": time_col,
        "CADENCENO": _column("cadenceno", cadenceno, n),
        "SAP_FLUX": _column("sap_flux", sap_flux, n),
        "SAP_FLUX_ERR": _column("sap_flux_err", sap_flux_err, n),
        "PDCSAP_FLUX": _column("pdcsap_flux", pdcsap_flux, n),
        "PDCSAP_FLUX_ERR": _column("pdcsap_flux_err", pdcsap_flux_err, n),
        "SAP_QUALITY": _column("sap_quality", sap_quality, n),
    }
    for name in ("CADENCENO", "SAP_QUALITY"):
        values = given[name]
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name.lower()} must be an integer array, got {values.dtype}")

    primary = _primary(kic, quarter, header)
    columns = []
    for name, tform, unit, disp in _COLUMNS:
        values = given.get(name)
        if values is None:
            values = np.full(n, np.nan)
        columns.append(
            fits.Column(
                name=name, format=tform, unit=unit, disp=disp, array=values.astype(_DTYPES[tform])
            )
        )
    lightcurve = fits.BinTableHDU.from_columns(
        columns, header=_object_cards(primary.header, "LIGHTCURVE")
    )
    finite = time_col[np.isfinite(time_col)]
    # Real TSTART/TSTOP are the edges of the first/last cadence: TIME -/+ TIMEDEL/2 (checked on
    # the real Q2 file: 169.51062349 = 169.52084053 - 0.01021680).
    half = LONG_CADENCE_DAYS / 2
    timing: list[tuple[str, Any]] = [
        ("TIMEREF", "SOLARSYSTEM"),
        ("TASSIGN", "SPACECRAFT"),
        ("TIMESYS", "TDB"),
        ("BJDREFI", 2454833),
        ("BJDREFF", 0.0),
        ("TIMEUNIT", "d"),
    ]
    if finite.size:
        tstart, tstop = float(finite.min()) - half, float(finite.max()) + half
        timing += [("TELAPSE", tstop - tstart), ("TSTART", tstart), ("TSTOP", tstop)]
    timing += [("TIMEPIXR", 0.5), ("NUM_FRM", 270), ("TIMEDEL", LONG_CADENCE_DAYS)]
    for key, value in timing:
        lightcurve.header.append((key, value), end=True)

    mask = _DEFAULT_APERTURE if aperture is None else np.asarray(aperture)
    aperture_hdu = fits.ImageHDU(
        data=mask.astype(">i4"), header=_object_cards(primary.header, "APERTURE")
    )
    aperture_hdu.header.append(("NPIXSAP", int(np.sum((mask & 2) != 0))), end=True)
    hdul = fits.HDUList([primary, lightcurve, aperture_hdu])
    atomic_write_bytes(LocalFileSystem(), str(path), hdul_bytes(hdul, compress=False))
