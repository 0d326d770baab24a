"""The report stage's pages, from what evaluate wrote and the DESA map."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from desa.report.build import write_report
from storage import layout
from storage.layout import DataRoot
from storage.publish import atomic_write_bytes
from storage.tables import write_parquet
from tests.support.products import write_embeddings_store, write_star_labels

METRICS = {
    "models": ["desa", "moco"],
    "headline": ["binary_auc"],
    "higher_is_better": {"binary_auc": True},
    "sizes": {"stars": 5, "train_stars": 4, "val_stars": 0, "test_stars": 1, "pairs": 5},
    "bootstrap": {
        "resamples": 1000,
        "level": 0.95,
        "seed": 7,
        "unit": "test star",
        "held_fixed": "the heads",
        "reference": "desa",
    },
    "desa": {"binary_auc": 0.91, "binary_auc_ci": [0.85, 0.96], "notes": {}},
    "moco": {"binary_auc": 0.8, "notes": {"few-shot": "too few stars"}},
}


def test_write_report_writes_both_pages_from_the_evaluate_outputs(tmp_path) -> None:
    root = DataRoot(tmp_path)
    write_embeddings_store(root, 5, ("desa", "moco"))
    write_star_labels(root)
    maps = pd.DataFrame(
        {
            "model": "desa",
            "level": "star",
            "kic": np.arange(1000, 1005),
            "obsid": -1,
            "split": "train",
            "x": np.arange(5.0),
            "y": np.arange(5.0),
        }
    )
    write_parquet(maps, root.fs, root.of(layout.MAPS))
    atomic_write_bytes(root.fs, root.of(layout.METRICS), json.dumps(METRICS).encode())
    index = [{"section": "Maps", "figures": [["umap-desa-class", "The DESA map."]]}]
    atomic_write_bytes(root.fs, root.path(layout.FIGURE_INDEX), json.dumps(index).encode())
    atomic_write_bytes(root.fs, root.path(layout.figure("umap-desa-class")), b"\x89PNG")

    result = write_report(root, ("teff", "logg"), 2)
    assert result.paths == {"report": root.of(layout.REPORT), "explorer": root.of(layout.EXPLORER)}
    assert result.summary["figures"] == 1 and set(result.outputs) == {"report", "explorer"}
    assert [row["model"] for row in result.rows] == ["desa", "moco"]
    page = root.fs.cat(root.of(layout.REPORT)).decode()
    assert "The DESA map." in page and "moco: few-shot: too few stars" in page
    assert "5 stars (4 train, 0 val, 1 test) with 5 LAMOST–Kepler pairs." in page
    explorer = root.fs.cat(root.of(layout.EXPLORER)).decode()
    assert "main_sequence" in explorer and "1004" in explorer
