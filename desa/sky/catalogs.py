"""Catalogs of the synthetic sky, each in its real published format (docs/catalogs.md).

Every table is built from the truth (`population.draw_stars`, the visits of
`population.draw_visits` with measured SNRs) plus the errors and the coverage its source has;
the builders live by family: `lamost_catalog` (LAMOST DR8 LRS stellar), `stellar_catalogs`
(Kepler-Gaia, Berger 2020, Godoy-Rivera 2025, Chen 2021, Kepler EBs, DR25 CDPP) and
`rotation_catalogs` (rotation periods and gyrochronology ages), `apogee_catalog` (APOGEE DR17
allStar); `formats` writes the published formats.

Byte-identical for a seed: formats are fixed, gzip carries mtime 0, no dates are written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from fsspec.implementations.local import LocalFileSystem

from desa.sky.apogee_catalog import apogee_dr17
from desa.sky.lamost_catalog import lamost_stellar
from desa.sky.population import rng_for
from desa.sky.rotation_catalogs import (
    bouma2024,
    kamai_perets2025b,
    lightpred2025,
    lu2024,
    mcquillan2014,
    reinhold2023,
    santos2019,
    santos2021,
)
from desa.sky.stellar_catalogs import (
    berger2020,
    berger2020_input,
    chen2021,
    godoy_rivera2025,
    kepler_cdpp,
    kepler_eb,
    kepler_gaia,
)
from storage.publish import atomic_write_bytes

# Where each catalog sits under the mirror root (docs/catalogs.md, "mirror path").
CATALOG_PATHS: dict[str, str] = {
    "lamost_lrs_stellar": "lamost/dr8/v2.0/catalog/dr8_v2.0_LRS_stellar.csv.gz",
    "kepler_gaia": "gaia-kepler/kepler_dr3_1arcsec.fits",
    "berger2020_input": "berger2020/GKSPCPapTable1_Final.txt.gz",
    "berger2020": "berger2020/GKSPCPapTable2_Final.txt.gz",
    "godoy_rivera2025": "godoy-rivera2025/GodoyRivera25_TableA1.csv",
    "mcquillan2014": "mcquillan2014/Table_1_Periodic.txt",
    "santos2019": "vizier/J_ApJS_244_21.tsv",
    "santos2021": "vizier/J_ApJS_255_17.tsv",
    "reinhold2023": "vizier/J_A+A_678_A24.tsv",
    "lightpred2025": "kamai-perets2025a/kepler_predictions_clean_seg_0_1_2_median.csv",
    "kamai_perets2025b": "kamai-perets2025b/fast_rotators.csv",
    "lu2024": "lu2024/lu2024_ages_mrt.txt",
    "bouma2024": "bouma2024/apjad855ft1_mrt.txt",
    "chen2021": "vizier/J_AJ_162_100.tsv",
    "kepler_eb": "kepler-eb/kepler_eb.txt",
    "kepler_cdpp": "kepler/Kepler-Q1-Q17-DR25-CDPP3.csv",
    "apogee_dr17": "apogee/dr17/allStar-dr17-synspec_rev1.fits",
}

Builder = Callable[[pd.DataFrame, pd.DataFrame, np.random.Generator], bytes]

BUILDERS: dict[str, Builder] = {
    "lamost_lrs_stellar": lamost_stellar,
    "kepler_gaia": kepler_gaia,
    "berger2020_input": berger2020_input,
    "berger2020": berger2020,
    "godoy_rivera2025": godoy_rivera2025,
    "mcquillan2014": mcquillan2014,
    "santos2019": santos2019,
    "santos2021": santos2021,
    "reinhold2023": reinhold2023,
    "lightpred2025": lightpred2025,
    "kamai_perets2025b": kamai_perets2025b,
    "lu2024": lu2024,
    "bouma2024": bouma2024,
    "chen2021": chen2021,
    "kepler_eb": kepler_eb,
    "kepler_cdpp": kepler_cdpp,
    "apogee_dr17": apogee_dr17,
}


def write_catalogs(
    root: Path, stars: pd.DataFrame, spectra: pd.DataFrame, seed: int
) -> dict[str, str]:
    """Write every catalog at its mirror path under `root`; returns name -> relative path.

    `spectra` is the visits table with the measured band SNRs (snru..snrz) of each file.
    """
    out = {}
    for name, build in BUILDERS.items():
        # Berger tables 1 and 2 describe the same stars: they share one stream.
        key = "berger2020" if name.startswith("berger2020") else name
        data = build(stars, spectra, rng_for(seed, "catalog", key))
        atomic_write_bytes(LocalFileSystem(), str(root / CATALOG_PATHS[name]), data)
        out[name] = CATALOG_PATHS[name]
    return out
