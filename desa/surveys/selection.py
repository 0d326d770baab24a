"""Which spectra and light curves the fetch stages ask for."""

from __future__ import annotations

from typing import Literal

import pandas as pd

Mode = Literal["all", "matched"]


def select_spectra(
    lamost: pd.DataFrame, matches: pd.DataFrame, mode: Mode, min_snrg: float = 0.0
) -> pd.DataFrame:
    """LAMOST catalog rows to download: every stellar spectrum (pretraining) or the matched ones."""
    rows = lamost[lamost["class"].fillna("STAR").str.strip().eq("STAR")]
    if min_snrg > 0:
        rows = rows[rows["snrg"] >= min_snrg]
    if mode == "matched":
        rows = rows[rows["obsid"].isin(matches["obsid"])]
    return rows.sort_values("obsid").reset_index(drop=True)


def select_kics(kepler: pd.DataFrame, matches: pd.DataFrame, mode: Mode) -> list[int]:
    """Kepler stars whose light curves to download: all (pretraining) or those with a spectrum."""
    kics = kepler["kic"] if mode == "all" else matches["kic"]
    return sorted(int(k) for k in pd.unique(kics.dropna()))
