"""APOGEE DR17 stars usable as reference labels, and their match to LAMOST spectra.

Bit meanings from the SDSS DR17 APOGEE bitmask page
(https://www.sdss4.org/dr17/irspec/apogee-bitmasks/): ``APOGEE_EXTRATARG`` bit 4 (DUPLICATE)
marks every row of a star observed more than once except the one with the highest S/N, and
``APOGEE_ASPCAPFLAG`` bit 23 (STAR_BAD) marks fits ASPCAP itself considers unreliable (any
parameter BAD flag, e.g. at a grid edge).

The match reuses ``catalogs.crossmatch.crossmatch`` with APOGEE in the role of the target list:
a shared Gaia source id first (APOGEE DR17 carries Gaia EDR3 ids, which DR3 keeps; LAMOST DR8
v2.0 is reported to carry DR3 ids, data_sources.md §1.1 [M]), then the nearest APOGEE star within
the radius, which also catches spectra whose id is a DR2 one that changed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from catalogs.crossmatch import crossmatch

EXTRATARG_DUPLICATE_BIT = 4
ASPCAPFLAG_STAR_BAD_BIT = 23
APOGEE_LABELS = ("teff", "logg", "feh")
_MATCH_COLUMNS = ["obsid", "apogee_id", "method", "sep_arcsec"]


def _bit_set(flags: pd.Series, bit: int) -> np.ndarray:
    """True where ``bit`` is set; a missing flag value counts as not set."""
    values = flags.astype("Int64").fillna(0).to_numpy(dtype=np.int64)
    return (values >> bit) & 1 == 1


def usable_apogee(apogee: pd.DataFrame) -> pd.DataFrame:
    """The normalised ``apogee_dr17`` rows to compare against: no duplicate rows, no STAR_BAD
    fits, finite Teff, logg and [Fe/H], a position; one row per ``apogee_id``."""
    keep = ~_bit_set(apogee["extratarg"], EXTRATARG_DUPLICATE_BIT)
    keep &= ~_bit_set(apogee["aspcapflag"], ASPCAPFLAG_STAR_BAD_BIT)
    keep &= np.isfinite(apogee[list(APOGEE_LABELS)].to_numpy(dtype=float)).all(axis=1)
    keep &= np.isfinite(apogee[["ra", "dec"]].to_numpy(dtype=float)).all(axis=1)
    # A star can still repeat if its duplicate bit was not set (e.g. an ID reused per field).
    return apogee[keep].drop_duplicates("apogee_id").reset_index(drop=True)


def match_apogee(
    lamost: pd.DataFrame, apogee: pd.DataFrame, radius_arcsec: float = 3.0
) -> pd.DataFrame:
    """One row per LAMOST spectrum with an APOGEE star: ``obsid``, ``apogee_id``, ``method``
    (``gaia_id`` or ``position``) and ``sep_arcsec``.

    ``lamost`` needs ``obsid``, ``ra``, ``dec`` and may have ``gaia_source_id`` and ``uid``;
    ``apogee`` is ``usable_apogee`` output. The LAMOST-Kepler link columns are left out: they
    name KICs, not APOGEE stars. A position match is refused when the spectrum and the
    APOGEE star both have Gaia ids and they differ (a neighbour, not the star).
    """
    # The APOGEE row number stands in the crossmatch's integer ``kic`` slot.
    targets = pd.DataFrame(
        {
            "kic": np.arange(len(apogee), dtype=np.int64),
            "ra": apogee["ra"].to_numpy(dtype=float),
            "dec": apogee["dec"].to_numpy(dtype=float),
            "gaia_source_id": apogee["gaia_source_id"].astype(object).to_numpy(),
        }
    )
    spectra = lamost.drop(columns=["tsource", "tcomment"], errors="ignore")
    matches = crossmatch(spectra, targets, radius_arcsec=radius_arcsec)
    row = matches["kic"].to_numpy()
    matches["apogee_id"] = apogee["apogee_id"].to_numpy()[row]
    # A position match to a star whose Gaia id differs from the spectrum's is a neighbour (a
    # blend within the fibre), not the star: both ids are known and they disagree.
    if "gaia_source_id" in lamost.columns:
        spectrum_id = matches["obsid"].map(lamost.set_index("obsid")["gaia_source_id"])
        star_id = pd.Series(targets["gaia_source_id"].to_numpy()[row], index=matches.index)
        known = spectrum_id.notna() & star_id.notna()
        differ = known & (spectrum_id.astype(str) != star_id.astype(str))
        matches = matches[~((matches["method"] == "position") & differ)]
    return matches[_MATCH_COLUMNS].reset_index(drop=True)
