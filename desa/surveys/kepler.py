"""Kepler DR25 long-cadence light curves (`kplrNNNNNNNNN-STAMP_llc.fits`).

`read_quarter` is a direct astropy reader that returns exactly the rows and values that
`lightkurve.read(path, quality_bitmask=...)` (lightkurve 2.6.0, `io/kepler.py` + `io/generic.py`)
gives for the same file, at a fraction of its cost:

- rows whose TIME is NaN are dropped (lightkurve must, astropy `Time` cannot hold NaN);
- then rows with `(SAP_QUALITY & bitmask) != 0` are dropped;
- rows with NaN PDCSAP_FLUX / PDCSAP_FLUX_ERR are KEPT (lightkurve masks them, it does not
  drop them) -- callers that need finite flux must filter themselves.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from desa.surveys import open_fits
from desa.surveys.lean_fits import (
    HeaderCards,
    MalformedFits,
    file_bytes,
    find_extension,
    split_hdus,
    structure_problem,
    table_columns,
    unreadable,
)
from storage.errors import BadInputError

if TYPE_CHECKING:  # astropy is imported where a file needs it: `desa status` imports this
    from astropy.io import fits

# TIMEDEL card of every real DR25 long-cadence file (data_sources.md §2.4): 29.4244 min.
LONG_CADENCE_DAYS = 0.02043359821692

# BKJD = BJD - 2454833 (BJDREFI of every Kepler file) and MJD = JD - 2400000.5, so
# BKJD = MJD + MJD_TO_BKJD.
MJD_TO_BKJD = 2400000.5 - 2454833.0

# lightkurve 2.6.0 `KeplerQualityFlags.OPTIONS` (src/lightkurve/utils.py; data_sources.md §2.2).
# Hard-coded because importing lightkurve costs ~2 s; a test checks them against lightkurve.
# default = AttitudeTweak|SafeMode|CoarsePoint|EarthPoint|Desat|ManualExclude|DetectorAnomaly|
# NoData|ThrusterFiring.
QUALITY_BITMASKS: dict[str, int] = {
    "none": 0,
    "default": 1130799,
    "hard": 1664431,
    "hardest": 2096639,
}


@dataclass(frozen=True)
class QuarterInfo:
    """One Kepler quarter of long-cadence data.

    `first_cadenceno` / `n_cadences` are the first CADENCENO and the row count (NAXIS2) of the
    quarter's full-length file (the first stamp). `tstart_bkjd` is the mid-time of the first
    cadence in spacecraft time (header LC_START converted to BKJD); a star's first TIME differs
    from it only by its barycentric correction (< 0.005 d in the real files).
    """

    quarter: int
    stamps: tuple[str, ...]
    first_cadenceno: int
    n_cadences: int
    tstart_bkjd: float


# Stamps: MAST long-cadence file names (data_sources.md §2.1; exoplanet-ml kepler_io.py, after
# MAST get_kepler.py). Q4 has a second, partial stamp used for some targets (KIC 11442793: 1021
# rows starting at the same CADENCENO 11914). Cadence numbers, row counts and LC_START were
# measured once from the 70 real DR25 files in shared/real/kepler (identical for every KIC there);
# tests/desa/surveys/test_kepler.py re-derives them from those files.
QUARTERS: dict[int, QuarterInfo] = {
    q.quarter: q
    for q in (
        QuarterInfo(0, ("2009131105131",), 568, 476, 54953.03815242 + MJD_TO_BKJD),
        QuarterInfo(1, ("2009166043257",), 1105, 1639, 54964.01099382 + MJD_TO_BKJD),
        QuarterInfo(2, ("2009259160929",), 2965, 4354, 55002.01747542 + MJD_TO_BKJD),
        QuarterInfo(3, ("2009350155506",), 7404, 4370, 55092.72220972 + MJD_TO_BKJD),
        QuarterInfo(
            4, ("2010078095331", "2010009091648"), 11914, 4397, 55184.87773552 + MJD_TO_BKJD
        ),
        QuarterInfo(5, ("2010174085026",), 16373, 4634, 55275.99115492 + MJD_TO_BKJD),
        QuarterInfo(6, ("2010265121752",), 21069, 4398, 55371.94732782 + MJD_TO_BKJD),
        QuarterInfo(7, ("2010355172524",), 25509, 4375, 55462.67250542 + MJD_TO_BKJD),
        QuarterInfo(8, ("2011073133259",), 30657, 3279, 55567.86468242 + MJD_TO_BKJD),
        QuarterInfo(9, ("2011177032512",), 34237, 4768, 55641.01695842 + MJD_TO_BKJD),
        QuarterInfo(10, ("2011271113734",), 39049, 4573, 55739.34343282 + MJD_TO_BKJD),
        QuarterInfo(11, ("2012004120508",), 43667, 4754, 55833.70578622 + MJD_TO_BKJD),
        QuarterInfo(12, ("2012088054726",), 48473, 4044, 55931.90965952 + MJD_TO_BKJD),
        QuarterInfo(13, ("2012179063303",), 52551, 4421, 56015.23787102 + MJD_TO_BKJD),
        QuarterInfo(14, ("2012277125453",), 57024, 4757, 56106.63735722 + MJD_TO_BKJD),
        QuarterInfo(15, ("2013011073258",), 61886, 4780, 56205.98549922 + MJD_TO_BKJD),
        QuarterInfo(16, ("2013098041711",), 66712, 4203, 56304.59804202 + MJD_TO_BKJD),
        QuarterInfo(17, ("2013131215648",), 70976, 1556, 56391.72690412 + MJD_TO_BKJD),
    )
}

_QUARTER_OF_STAMP = {stamp: q.quarter for q in QUARTERS.values() for stamp in q.stamps}

_LLC_NAME = re.compile(r"^kplr(\d{9})-(\d{13})_llc\.fits$")

# Columns lightkurve's Kepler reader turns into time/flux/flux_err/quality/cadenceno.
_REQUIRED_COLUMNS = ("TIME", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "SAP_QUALITY", "CADENCENO")

_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, zlib.error)

# Which decoder read a file: the lean numpy one, or astropy's fits.open (anything unusual).
Reader = Literal["lean", "astropy"]


@dataclass(frozen=True, eq=False)
class KeplerQuarter:
    """One quarter of one star: the rows lightkurve keeps, PDCSAP flux in e-/s."""

    kic: int
    quarter: int
    time: np.ndarray  # BKJD (BJD - 2454833, TDB), float64
    flux: np.ndarray  # PDCSAP_FLUX, e-/s (may hold NaN)
    flux_err: np.ndarray  # PDCSAP_FLUX_ERR, e-/s (may hold NaN)
    quality: np.ndarray  # SAP_QUALITY bits
    cadenceno: np.ndarray
    path: str
    cards: HeaderCards  # primary header's values, parsed on demand
    reader: Reader = "astropy"

    @property
    def header(self) -> fits.Header:
        """The whole primary header as astropy parses it (built on first use)."""
        return self.cards.astropy()


def llc_filename(kic: int, stamp: str) -> str:
    """MAST long-cadence file name, e.g. `kplr002556081-2009259160929_llc.fits`."""
    return f"kplr{int(kic):09d}-{stamp}_llc.fits"


def parse_llc_filename(name: str | PathLike[str]) -> tuple[int, str]:
    """(kic, stamp) from a long-cadence file name or path; BadInputError if it is not one."""
    match = _LLC_NAME.match(Path(name).name)
    if match is None:
        raise BadInputError(
            name, "not a Kepler long-cadence file name kplrNNNNNNNNN-STAMP_llc.fits"
        )
    return int(match.group(1)), match.group(2)


def quarter_of_stamp(stamp: str) -> int:
    """Quarter of a long-cadence file stamp; ValueError for an unknown stamp."""
    try:
        return _QUARTER_OF_STAMP[stamp]
    except KeyError:
        raise ValueError(f"unknown Kepler long-cadence stamp {stamp!r}") from None


def season_of_quarter(quarter: int) -> int:
    """SEASON card (0-3) of a quarter, as in the real files (Q0 and Q1 are both season 3)."""
    if quarter not in QUARTERS:
        raise ValueError(f"unknown Kepler quarter {quarter!r}")
    return 3 if quarter == 0 else (quarter + 2) % 4


def resolve_bitmask(quality_bitmask: str | int) -> int:
    """Integer bitmask for a lightkurve bitmask name or an int."""
    if isinstance(quality_bitmask, str):
        try:
            return QUALITY_BITMASKS[quality_bitmask]
        except KeyError:
            raise ValueError(
                f"quality_bitmask={quality_bitmask!r}; expected one of "
                f"{sorted(QUALITY_BITMASKS)} or an int"
            ) from None
    if isinstance(quality_bitmask, bool) or not isinstance(quality_bitmask, int | np.integer):
        raise ValueError(f"quality_bitmask must be a name or an int, not {quality_bitmask!r}")
    if quality_bitmask < 0:
        raise ValueError(f"quality_bitmask must be >= 0, not {quality_bitmask}")
    return int(quality_bitmask)


def _int_card(path: str, header: HeaderCards, key: str) -> int:
    if key not in header:
        raise BadInputError(path, f"primary header has no {key} card")
    value = header[key]
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise BadInputError(path, f"{key} card is not an integer: {value!r}")
    return int(value)


def _native(array: Any, dtype: Any = None) -> np.ndarray:
    """A contiguous, native-byte-order copy (FITS columns are big-endian views)."""
    out = np.asarray(array)
    return np.ascontiguousarray(out, dtype=out.dtype.newbyteorder("=") if dtype is None else dtype)


def _lean_columns(raw: bytes) -> tuple[HeaderCards, dict[str, np.ndarray]] | None:
    """Primary header and the LIGHTCURVE columns by the lean decode; None for anything it
    does not read exactly as astropy does (astropy then reads it, or says what is wrong)."""
    hdus = split_hdus(raw)
    if hdus is None:
        return None
    table = find_extension(hdus, "LIGHTCURVE")
    columns = None if table is None else table_columns(raw, table, _REQUIRED_COLUMNS)
    if columns is None or any(column.ndim != 1 for column in columns.values()):
        return None
    return hdus[0].header, columns


def _astropy_columns(path: str, raw: bytes | None) -> tuple[HeaderCards, dict[str, np.ndarray]]:
    """Primary header and the LIGHTCURVE columns by astropy's fits.open (memmap=False: the
    columns stay valid once the file is closed)."""
    from astropy.io import fits

    with open_fits(path, raw) as hdul:
        header = HeaderCards.of(hdul[0].header)
        _int_card(path, header, "KEPLERID")  # card errors come before HDU errors
        _int_card(path, header, "QUARTER")
        if "LIGHTCURVE" not in hdul:
            raise BadInputError(path, "no LIGHTCURVE extension")
        hdu = hdul["LIGHTCURVE"]
        if not isinstance(hdu, fits.BinTableHDU):
            raise BadInputError(path, "LIGHTCURVE extension is not a binary table")
        names = {name.upper() for name in hdu.columns.names}
        missing = [c for c in _REQUIRED_COLUMNS if c not in names]
        if missing:
            raise BadInputError(path, f"LIGHTCURVE table lacks column(s) {missing}")
        data = hdu.data
        return header, {name: data[name] for name in _REQUIRED_COLUMNS}


def read_quarter(
    path: str | PathLike[str], quality_bitmask: str | int = "default", *, lean: bool = True
) -> KeplerQuarter:
    """Read one long-cadence file with lightkurve's row semantics (see module docstring).

    The lean decode reads plain files (`reader='lean'`); anything else, or every file when
    `lean=False`, goes through astropy's fits.open (`reader='astropy'`), with the same result.
    """
    bitmask = resolve_bitmask(quality_bitmask)
    spath = str(path)
    reader: Reader = "lean"
    raw: bytes | None = None
    try:
        raw = file_bytes(spath) if lean else None
        decoded = None if raw is None else _lean_columns(raw)
        if decoded is None:
            if raw is not None and (problem := structure_problem(raw)):
                raise MalformedFits(problem)
            reader = "astropy"
            decoded = _astropy_columns(spath, raw)
        header, data = decoded
        kic = _int_card(spath, header, "KEPLERID")
        quarter = _int_card(spath, header, "QUARTER")
        _check_quarter_of_name(spath, quarter)
        time = _native(data["TIME"], np.float64)
        quality = _native(data["SAP_QUALITY"])
        if not np.issubdtype(quality.dtype, np.integer):
            raise BadInputError(spath, f"SAP_QUALITY is not an integer column ({quality.dtype})")
        cadenceno = _native(data["CADENCENO"])
        _check_cadences(spath, cadenceno)
        keep = ~np.isnan(time)
        keep &= (quality & bitmask) == 0
        return KeplerQuarter(
            kic=kic,
            quarter=quarter,
            time=time[keep],
            flux=_native(data["PDCSAP_FLUX"])[keep],
            flux_err=_native(data["PDCSAP_FLUX_ERR"])[keep],
            quality=quality[keep],
            cadenceno=cadenceno[keep],
            path=spath,
            cards=header,
            reader=reader,
        )
    except BadInputError:
        raise
    except FileNotFoundError:
        raise
    except (MalformedFits, *_READ_ERRORS) as exc:
        raise unreadable(spath, "Kepler light-curve", raw, exc) from exc


def _check_quarter_of_name(path: str, quarter: int) -> None:
    """A MAST file name's stamp fixes its quarter (QUARTERS): a QUARTER card that disagrees
    means the file is not the one its name says. Other names are not checked."""
    match = _LLC_NAME.match(Path(path).name)
    stamp_quarter = _QUARTER_OF_STAMP.get(match.group(2)) if match else None
    if stamp_quarter is not None and stamp_quarter != quarter:
        raise BadInputError(
            path,
            f"QUARTER card is {quarter} but the file name's stamp {match.group(2)} is a "
            f"Q{stamp_quarter} file",
        )


def _check_cadences(path: str, cadenceno: np.ndarray) -> None:
    """CADENCENO rises by one per row in every real file (checked on the 70 in
    shared/real/kepler); rows out of order are not cadences, e.g. the zero padding a too-large
    NAXIS2 turns into rows."""
    step = np.diff(cadenceno)
    if not np.all(step > 0):
        i = int(np.flatnonzero(step <= 0)[0]) + 1
        raise BadInputError(
            path,
            f"CADENCENO is not increasing at row {i} ({cadenceno[i - 1]} then {cadenceno[i]}): "
            "rows that are not cadences (does NAXIS2 disagree with the data?)",
        )
