"""The task tables of the ``labels`` stage (issue 3, "labels"; paper §4, §6).

Every table has ``star_id`` (``catalogs.labels.identity``) and ``split``
(``catalogs.labels.splits.split_of`` of the star id). A missing catalog leaves the columns it feeds
missing (NaN / <NA> / None), or the table empty when the catalog is the table's only source.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from catalogs.labels.binary import binary_labels
from catalogs.labels.columns import keys_of, lookup
from catalogs.labels.config import LabelConfig
from catalogs.labels.identity import StarIds, star_ids
from catalogs.labels.splits import splits_for

LABEL_TABLES = (
    "spectra_labels",
    "lightcurve_labels",
    "pairs",
    "cmd",
    "hr",
    "binary",
    "ages",
    "fast_rotators",
    "kinematics",
)
LAMOST_LABELS = ("teff", "teff_err", "logg", "logg_err", "feh", "feh_err")
LAMOST_SNR = ("snru", "snrg", "snrr", "snri", "snrz")
# Published age and upper/lower error columns of each age catalog, and their factor to Gyr.
_AGE_COLUMNS = {
    "lu2024": ("age_gyr", "age_err_hi", "age_err_lo", 1.0),
    "bouma2024": ("age_myr", "age_err_hi_myr", "age_err_lo_myr", 1e-3),
}


def build_labels(
    tables: Mapping[str, pd.DataFrame],
    crossmatch: pd.DataFrame,
    spectra_index: pd.DataFrame,
    lightcurve_index: pd.DataFrame,
    config: LabelConfig,
) -> dict[str, pd.DataFrame]:
    """All of ``LABEL_TABLES`` from normalised catalogs (spec name -> table, any may be missing).

    ``spectra_index`` has an ``obsid`` column (spectra that were preprocessed),
    ``lightcurve_index`` a ``kic`` column (stars with a stored light curve); ``crossmatch`` is
    ``catalogs.crossmatch.crossmatch`` output (obsid -> kic).
    """
    ids = star_ids(tables.get("lamost_lrs_stellar"), crossmatch, tables.get("kepler_gaia"))
    obsids = np.unique(spectra_index["obsid"].to_numpy(dtype=np.int64))
    lc_kics = np.unique(lightcurve_index["kic"].to_numpy(dtype=np.int64))
    periods = rotation_periods(tables, config.prot_priority)
    raw = {
        "spectra_labels": _spectra(tables, ids, obsids),
        "lightcurve_labels": _with_periods(pd.DataFrame({"kic": lc_kics}), periods),
        "pairs": _pairs(tables, ids, crossmatch, obsids, lc_kics, periods),
        "cmd": _catalog(
            tables.get("godoy_rivera2025"), ("cmd_class", "bp_rp0", "m_g0"), ("cmd_class",)
        ),
        "hr": _hr(tables.get("berger2020")),
        "binary": binary_labels(tables, config),
        "ages": ages(tables, config.age_priority),
        "fast_rotators": _fast_rotators(tables.get("kamai_perets2025b"), config),
        "kinematics": _kinematics(tables.get("chen2021")),
    }
    out = {}
    for name, frame in raw.items():
        labelled = frame.reset_index(drop=True)
        if "obsid" in labelled:  # a spectrum's id: a matched one shares its Kepler star's
            star = ids.of_obsids(labelled["obsid"])
        else:
            star = ids.of_kics(labelled["kic"])
        at = list(labelled.columns).index("kic") + 1
        labelled.insert(at, "star_id", star)
        labelled.insert(
            at + 1, "split", splits_for(star, config.split_fractions, config.split_salt)
        )
        out[name] = labelled
    return out


def rotation_periods(
    tables: Mapping[str, pd.DataFrame | None], priority: tuple[str, ...]
) -> pd.DataFrame:
    """kic, prot, prot_err (days) and prot_source: the first catalog of ``priority`` with a
    finite positive period for the star (issue 3: LightPred > Santos > McQuillan > Reinhold)."""
    parts = []
    for rank, name in enumerate(priority):
        table = tables.get(name)
        if table is None or "prot" not in table.columns:
            continue
        kics = table["kic"].to_numpy(dtype=np.int64)
        part = pd.DataFrame(
            {
                "kic": kics,
                "prot": lookup(table, kics, "prot", "float"),
                "prot_err": lookup(table, kics, "prot_err", "float"),
                "prot_source": name,
                "rank": rank,
            }
        )
        parts.append(part[np.isfinite(part["prot"]) & (part["prot"] > 0)])
    if not parts:
        return pd.DataFrame(
            {
                "kic": pd.Series(dtype=np.int64),
                "prot": pd.Series(dtype=float),
                "prot_err": pd.Series(dtype=float),
                "prot_source": pd.Series(dtype=object),
            }
        )
    merged = pd.concat(parts).sort_values(["kic", "rank"], kind="stable").drop_duplicates("kic")
    return merged.drop(columns="rank").reset_index(drop=True)


def ages(tables: Mapping[str, pd.DataFrame | None], priority: tuple[str, ...]) -> pd.DataFrame:
    """kic, age_gyr, age_err_hi, age_err_lo, age_err (mean of the two), age_source.

    Per star the first catalog of ``priority`` with a finite age wins (paper §6.4 merges Lu
    2024 and Bouma 2024; ``LabelConfig`` documents the precedence). Bouma's Myr become Gyr.
    """
    parts = []
    for rank, name in enumerate(priority):
        table = tables.get(name)
        age, hi, lo, to_gyr = _AGE_COLUMNS[name]
        if table is None or age not in table.columns:
            continue
        kics = table["kic"].to_numpy(dtype=np.int64)
        part = pd.DataFrame({"kic": kics, "rank": rank, "age_source": name})
        part["age_gyr"] = lookup(table, kics, age, "float") * to_gyr
        # Lower errors are published positive or negative (Berger style): keep magnitudes.
        part["age_err_hi"] = lookup(table, kics, hi, "float").abs() * to_gyr
        part["age_err_lo"] = lookup(table, kics, lo, "float").abs() * to_gyr
        parts.append(part[np.isfinite(part["age_gyr"])])
    columns = ["kic", "age_gyr", "age_err", "age_err_hi", "age_err_lo", "age_source"]
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype=np.int64 if c == "kic" else float) for c in columns}
        )
    merged = pd.concat(parts).sort_values(["kic", "rank"], kind="stable").drop_duplicates("kic")
    # A published one-sided error stands for both sides.
    merged["age_err"] = merged[["age_err_hi", "age_err_lo"]].mean(axis=1, skipna=True)
    return merged[columns].reset_index(drop=True)


def main_sequence(teff: pd.Series, logg: pd.Series) -> pd.Series:
    """Ciardi et al. 2011 dwarf cut as DESA's ``giant_cond`` (data_sources.md §0): logg >= 3.5
    at Teff >= 6000 K, >= 4.0 at Teff <= 4250 K, else >= 5.2 - 2.8e-4 Teff; <NA> when unknown."""
    teff, logg = teff.astype(float), logg.astype(float)
    floor = np.where(teff >= 6000, 3.5, np.where(teff <= 4250, 4.0, 5.2 - 2.8e-4 * teff))
    dwarf = pd.Series(logg.to_numpy() >= floor, index=teff.index, dtype="boolean")
    return dwarf.mask(teff.isna() | logg.isna())


def _spectra(tables: Mapping[str, pd.DataFrame], ids: StarIds, obsids: np.ndarray) -> pd.DataFrame:
    """Spectra pretraining labels: LAMOST LASP Teff, logg, [Fe/H] with errors, SNR per band."""
    lamost = tables.get("lamost_lrs_stellar")
    out = pd.DataFrame({"obsid": obsids})
    out["kic"] = lookup(ids.spectra, obsids, "kic", "int", key="obsid")
    for column in (*LAMOST_LABELS, *LAMOST_SNR):
        out[column] = lookup(lamost, obsids, column, "float", key="obsid")
    return out


def _with_periods(frame: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with ``kic``) plus prot, prot_err, prot_source; rows and order kept."""
    out = frame.merge(periods, on="kic", how="left", validate="many_to_one")
    out["prot_source"] = out["prot_source"].astype(object).where(out["prot_source"].notna(), None)
    return out


def _pairs(
    tables: Mapping[str, pd.DataFrame],
    ids: StarIds,
    crossmatch: pd.DataFrame,
    obsids: np.ndarray,
    lc_kics: np.ndarray,
    periods: pd.DataFrame,
) -> pd.DataFrame:
    """DualFormer pairs: every processed spectrum of a Kepler star with a stored light curve,
    with the §6.2 priors (LAMOST Teff, logg, [Fe/H] of this spectrum; Prot; Berger 2020 radius
    and RUWE, the latter Gaia DR2 as Berger published it), the spectrum's g-band SNR and the
    crossmatch method and ``ambiguous`` flag (blends are kept: the consumer decides)."""
    link = crossmatch[["obsid", "kic", *(c for c in ("method", "ambiguous") if c in crossmatch)]]
    link = link[link["obsid"].isin(obsids) & link["kic"].isin(lc_kics)]
    out = link.rename(columns={"method": "match_method"}).sort_values("obsid", ignore_index=True)
    out = out.astype({"obsid": np.int64, "kic": np.int64})
    lamost = tables.get("lamost_lrs_stellar")
    for column in ("teff", "logg", "feh", "snrg"):
        out[column] = lookup(lamost, out["obsid"], column, "float", key="obsid")
    out = _with_periods(out, periods)
    out["rstar"] = lookup(tables.get("berger2020"), out["kic"], "radius", "float")
    out["ruwe"] = lookup(tables.get("berger2020_input"), out["kic"], "ruwe", "float")
    out["main_sequence"] = main_sequence(out["teff"], out["logg"])
    return out


def _catalog(
    table: pd.DataFrame | None, columns: tuple[str, ...], text: tuple[str, ...] = ()
) -> pd.DataFrame:
    """``columns`` (numbers, or text when in ``text``) of a kic-keyed catalog, one row per KIC;
    empty when the catalog is missing."""
    kics = keys_of({"table": table}, ("table",))
    out = pd.DataFrame({"kic": kics})
    for column in columns:
        out[column] = lookup(table, kics, column, "text" if column in text else "float")
    return out


def _hr(berger: pd.DataFrame | None) -> pd.DataFrame:
    """HR diagram (Berger 2020 isochrone Teff and luminosity) and the dwarf flag."""
    out = _catalog(berger, ("teff", "logg", "lum"))
    out["main_sequence"] = main_sequence(out["teff"], out["logg"])
    return out


def _fast_rotators(kp: pd.DataFrame | None, config: LabelConfig) -> pd.DataFrame:
    """Kamai & Perets 2025b fast rotators (§6.2) with ΔK_iso, below the period cut."""
    out = _catalog(kp, ("prot", "delta_k_iso", "binary_prob"))
    out["sync_binary_candidate"] = lookup(kp, out["kic"], "sync_binary_candidate", "bool")
    if config.fast_rotator_prot_max is not None:
        out = out[out["prot"] < config.fast_rotator_prot_max]
    return out


def _kinematics(chen: pd.DataFrame | None) -> pd.DataFrame:
    """Chen et al. 2021 U, V, W (km/s, as published) and the per-star velocity dispersion.

    ``sigma`` = sqrt((U² + V² + W²) / 3): the star's peculiar speed as a 1-D dispersion, as DESA's
    code computes it (desa_reference.md §9); a group's dispersion (the paper's "kinematic age",
    §6.2) is the root mean square of its members' ``sigma``. ``v_pec`` is the speed itself.
    """
    out = _catalog(chen, ("u", "v", "w", "u_err", "v_err", "w_err"))
    speed2 = out["u"] ** 2 + out["v"] ** 2 + out["w"] ** 2
    out["v_pec"] = np.sqrt(speed2)
    out["sigma"] = np.sqrt(speed2 / 3.0)
    return out
