"""The default demo sky is big enough for its headline comparisons to resolve (issue 10 §4):
at least 100 labelled test stars for each of the CMD, binary and age tasks.

Built as the pipeline builds it, without FITS files: the demo profile's sky, its catalogs,
the crossmatch and the labels stage's tables. A test star is one the evaluation scores: a
Kepler star with a spectrum and a light curve (a DualFormer pair) in the test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalogs.crossmatch import crossmatch
from catalogs.labels import build_labels
from catalogs.normalize import read_catalog
from catalogs.specs import SPECS
from desa.sky.catalogs import write_catalogs
from desa.sky.population import SkyConfig, draw_stars, draw_visits
from flows.settings import Settings


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    settings = Settings(profile="demo")
    sky, seed = settings.sky, settings.sky.seed
    stars = draw_stars(SkyConfig(n_stars=sky.n_stars, max_quarters=sky.max_quarters), seed)
    visits = draw_visits(stars, seed)
    for band, factor in zip("ugriz", (0.5, 1.0, 1.05, 0.8, 0.55), strict=True):
        visits[f"snr{band}"] = visits["snr_g_target"] * factor  # what the FITS files measure
    root = Path(tmp_path_factory.mktemp("demo-sky"))
    write_catalogs(root, stars, visits, seed)
    tables = {
        name: read_catalog(root / spec.mirror_path, spec).table
        for name, spec in SPECS.items()
        if spec.mirror_path is not None
    }
    matches = crossmatch(tables["lamost_lrs_stellar"], tables["kepler_gaia"])
    kics = pd.DataFrame({"kic": stars["kic"].dropna().to_numpy(dtype=np.int64)})
    return build_labels(tables, matches, visits[["obsid"]], kics, settings.labels.config())


def _test_kics(labels: dict[str, pd.DataFrame]) -> pd.Series:
    pairs = labels["pairs"]
    return pd.Series(pairs.loc[pairs["split"] == "test", "kic"].unique())


def test_each_headline_task_has_100_labelled_test_stars(labels: dict[str, pd.DataFrame]) -> None:
    test = _test_kics(labels)
    cmd = labels["cmd"].dropna(subset=["cmd_class"])
    binary = labels["binary"][labels["binary"]["label"].notna()]
    counts = {
        "cmd": test.isin(cmd["kic"]).sum(),
        "binary": test.isin(binary["kic"]).sum(),
        "ages": test.isin(labels["ages"]["kic"]).sum(),
    }
    assert min(counts.values()) >= 100, counts
    # Both classes, so that an AUC has positives to rank.
    positives = test.isin(binary.loc[binary["label"] == "binary", "kic"]).sum()
    assert positives >= 30, positives
