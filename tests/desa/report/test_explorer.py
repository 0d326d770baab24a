"""The explorer's stars: the DESA map joined with the star labels, and nearest stars."""

from __future__ import annotations

import math

import pandas as pd

from desa.report.explorer import explorer_points, star_labels
from storage import layout
from storage.layout import DataRoot
from storage.tables import write_parquet
from tests.support.products import write_embeddings_store, write_star_labels


def test_star_labels_average_pairs_and_keep_every_star_of_either_table(tmp_path) -> None:
    root = DataRoot(tmp_path)
    write_star_labels(root)
    labels = star_labels(root, ("teff", "prot"))
    assert list(labels.columns) == ["teff", "prot", "cmd_class"]
    assert labels.loc[1000].tolist() == [5100.0, 11.0, "main_sequence"]
    assert math.isnan(labels.loc[1001, "prot"]) and pd.isna(labels.loc[1001, "cmd_class"])
    assert math.isnan(labels.loc[1002, "teff"]) and labels.loc[1002, "cmd_class"] == "giant"


def test_explorer_points_are_the_desa_map_s_stars_with_labels(tmp_path) -> None:
    root = DataRoot(tmp_path)
    write_embeddings_store(root, 4, ("desa", "moco"))
    write_star_labels(root)
    maps = pd.DataFrame(
        {
            "model": ["desa"] * 5 + ["moco"],
            "level": ["star"] * 4 + ["pair", "star"],
            "kic": [1000, 1001, 1002, 1003, 1000, 1000],
            "obsid": [-1, -1, -1, -1, 10000, -1],
            "split": ["test", "train", "train", "train", "test", "test"],
            "x": [0.0, 1.0, 2.0, 3.0, 9.0, 9.0],
            "y": [0.5, 1.5, 2.5, 3.5, 9.0, 9.0],
        }
    )
    write_parquet(maps, root.fs, root.of(layout.MAPS))
    points, neighbors = explorer_points(root, 2)
    assert [p["kic"] for p in points] == [1000, 1001, 1002, 1003]
    assert points[0] == {
        "kic": 1000,
        "x": 0.0,
        "y": 0.5,
        "teff": 5100.0,
        "logg": 4.5,
        "prot": 11.0,
        "cmd_class": "main_sequence",
    }
    assert points[1]["prot"] is None and points[1]["cmd_class"] is None
    assert points[3] == {
        "kic": 1003,
        "x": 3.0,
        "y": 3.5,
        **dict.fromkeys(("teff", "logg", "prot", "cmd_class")),
    }
    assert sorted(neighbors) == [1000, 1001, 1002, 1003]
    assert all(len(found) == 2 and kic not in found for kic, found in neighbors.items())
