"""Binary vs single labels per §6.3 of the DESA paper (Kamai, Bronstein & Perets 2025).

Binaries: flagged by "the most common methods: RUWE, NSS, RV Variable, and Eclipsing" of
Godoy-Rivera et al. 2025 (GR25), whatever else is known about the star:
- ``by_ruwe``: RUWE > ``ruwe_binary_min`` (GR25's Gaia DR3 RUWE, else the nearest Gaia row of
  the Kepler-Gaia table, also DR3); GR25's flag_RUWE where no RUWE value is known;
- ``by_nss``: GR25 flag_NSS (a Gaia DR3 non-single-star solution);
- ``by_rv``: GR25 flag_RVvariable (Gaia DR3 RV variability);
- ``by_eclipse``: GR25 flag_EB_Kepler or flag_EB_Gaia, or listed in the Kepler EB catalog
  (Kirk et al. 2016).
Singles: every one of the four §6.3 criteria, and no binary flag above:
1. not flagged in GR25's flag_Binary_Union (must be known: a star absent from GR25 is no single);
2. RUWE < ``ruwe_single_max`` (the same DR3 RUWE; must be known);
3. not a synchronised-binary candidate of Kamai & Perets 2025b (KP25b); that table lists fast
   rotators only, so a star absent from it is not a candidate;
4. ΔK_iso > ``delta_k_single_min`` (KP25b's kmag_diff, §6.2: lower = more over-luminous);
   unknown for stars KP25b does not list, which passes unless ``require_delta_k``.
Everything else (e.g. only SB9 or photometric-binary flags, or RUWE between the cuts) has no
label (None). Comparisons are strict, so a value on a cut is neither single nor binary by it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from catalogs.labels.columns import empty, keys_of, lookup
from catalogs.labels.config import LabelConfig
from catalogs.labels.identity import nearest_gaia_rows

SOURCES = ("godoy_rivera2025", "kepler_gaia", "kepler_eb", "kamai_perets2025b")
COLUMNS = (
    "kic", "label", "in_binary_union", "ruwe", "by_ruwe", "by_nss", "by_rv", "by_eclipse",
    "sync_binary_candidate", "delta_k_iso",
)  # fmt: skip


def binary_labels(tables: Mapping[str, pd.DataFrame | None], config: LabelConfig) -> pd.DataFrame:
    """One row per KIC of any source table, with the label and the evidence behind it."""
    godoy, eb, kp = (tables.get(n) for n in ("godoy_rivera2025", "kepler_eb", "kamai_perets2025b"))
    kics = keys_of(tables, SOURCES)
    out = pd.DataFrame({"kic": kics})
    out["in_binary_union"] = lookup(godoy, kics, "flag_binary_union", "bool")
    ruwe = lookup(godoy, kics, "ruwe", "float")
    out["ruwe"] = ruwe.fillna(
        lookup(nearest_gaia_rows(tables.get("kepler_gaia")), kics, "ruwe", "float")
    )
    by_value = pd.Series(out["ruwe"] > config.ruwe_binary_min, dtype="boolean")
    out["by_ruwe"] = by_value.mask(out["ruwe"].isna(), lookup(godoy, kics, "flag_ruwe", "bool"))
    out["by_nss"] = lookup(godoy, kics, "flag_nss", "bool")
    out["by_rv"] = lookup(godoy, kics, "flag_rvvariable", "bool")
    listed_eb = (
        empty(len(kics), "bool")
        if eb is None
        else pd.Series(np.isin(kics, eb["kic"]), dtype="boolean")
    )
    out["by_eclipse"] = (
        lookup(godoy, kics, "flag_eb_kepler", "bool")
        | lookup(godoy, kics, "flag_eb_gaia", "bool")
        | listed_eb
    )
    candidate = lookup(kp, kics, "sync_binary_candidate", "bool")
    if kp is not None:
        candidate = candidate.mask(~np.isin(kics, kp["kic"]), False)
    out["sync_binary_candidate"] = candidate
    out["delta_k_iso"] = lookup(kp, kics, "delta_k_iso", "float")

    # Kleene logic: a missing flag neither makes a binary nor clears a single.
    flags = out["by_ruwe"] | out["by_nss"] | out["by_rv"] | out["by_eclipse"]
    binary = flags.fillna(False).to_numpy(dtype=bool)
    delta_k_ok = out["delta_k_iso"] > config.delta_k_single_min
    if not config.require_delta_k:
        delta_k_ok |= out["delta_k_iso"].isna()
    single = (
        ~binary
        & out["in_binary_union"].eq(False).fillna(False)
        & (out["ruwe"] < config.ruwe_single_max)
        & ~out["sync_binary_candidate"].eq(True).fillna(False)
        & delta_k_ok
    ).to_numpy(dtype=bool)
    out["label"] = np.where(binary, "binary", np.where(single, "single", None))
    return out[list(COLUMNS)]
