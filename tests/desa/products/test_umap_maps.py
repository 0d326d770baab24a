"""UMAP maps: fitted on training stars, kept for new stars of an unchanged model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from desa.products import umap_maps
from desa.products.umap_maps import (
    UmapSettings,
    check_maps,
    load_maps,
    rows,
    update_maps,
    write_maps,
)
from storage.layout import DataRoot
from tests.support.products import write_embeddings_store

SETTINGS = UmapSettings(n_neighbors=5, seed=3)


def _sky(n_stars: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    kic = np.arange(1000, 1000 + n_stars)
    split = np.where(np.arange(n_stars) % 5 == 0, "test", "train")
    stars = pd.DataFrame({"kic": kic, "split": split})
    pairs = pd.DataFrame({"kic": kic, "obsid": kic * 10, "split": split})
    index = rows(stars, pairs)
    centres = rng.normal(size=(3, 6)) * 5
    x = np.concatenate([centres[i % 3] + rng.normal(size=(1, 6)) for i in range(n_stars)])
    return index, np.concatenate([x, x + 0.01]), (index["split"] == "train").to_numpy()


def test_new_stars_of_an_unchanged_model_are_placed_without_refitting(monkeypatch) -> None:
    index, x, train = _sky(40)
    state, done = update_maps(None, index, {"desa": x}, {"desa": "k1"}, train, SETTINGS)
    assert done == {"desa": "fitted"}
    assert len(state.coords) == 80 and np.isfinite(state.coords[["x", "y"]]).all().all()

    fits = []
    monkeypatch.setattr(umap_maps, "fit_reducer", lambda *a: fits.append(a))
    bigger, x2, train2 = _sky(50)  # the same 40 stars (same rows) and 10 new ones
    x2[:40] = x[:40]
    x2[50:90] = x[40:80]
    again, done = update_maps(state, bigger, {"desa": x2}, {"desa": "k1"}, train2, SETTINGS)
    assert fits == [] and again.reducers["desa"] is state.reducers["desa"]
    assert done == {"desa": "kept (20 new rows transformed)"}
    keys = ["level", "kic", "obsid"]
    old = state.coords.set_index(keys)[["x", "y"]]
    new = again.coords.set_index(keys)[["x", "y"]]
    pd.testing.assert_frame_equal(new.loc[old.index], old)
    assert np.isfinite(new.to_numpy()).all() and len(new) == 100


def test_a_changed_model_refits_its_map() -> None:
    index, x, train = _sky(30)
    state, _ = update_maps(None, index, {"desa": x}, {"desa": "k1"}, train, SETTINGS)
    again, done = update_maps(state, index, {"desa": x * 2}, {"desa": "k2"}, train, SETTINGS)
    assert done == {"desa": "fitted"} and again.reducers["desa"] is not state.reducers["desa"]


def test_bad_embeddings_are_refused() -> None:
    index, x, train = _sky(30)
    x[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        update_maps(None, index, {"desa": x}, {"desa": "k"}, train, SETTINGS)
    with pytest.raises(ValueError, match="at least 3"):
        update_maps(None, index, {"desa": x}, {"desa": "k"}, np.zeros(len(x), bool), SETTINGS)


def test_evaluation_refuses_maps_of_other_embeddings() -> None:
    stars = pd.DataFrame({"kic": [1, 2], "split": ["train", "test"]})
    pairs = pd.DataFrame({"kic": [1, 2], "obsid": [10, 20], "split": ["train", "test"]})
    index = rows(stars, pairs)
    maps = pd.concat(
        [index.assign(model=m, x=0.0, y=0.0) for m in ("desa", "moco")], ignore_index=True
    )
    check_maps(maps, stars, pairs, "umap.parquet")
    fewer = maps[~((maps["kic"] == 2) & (maps["level"] == "star"))]
    with pytest.raises(ValueError, match=r"umap.parquet: the desa map has 3 rows for 4"):
        check_maps(fewer, stars, pairs, "umap.parquet")


def test_write_maps_keeps_the_root_s_maps_until_forced(tmp_path) -> None:
    root = DataRoot(tmp_path)
    write_embeddings_store(root, 30, ("desa", "moco"))
    first = write_maps(root, SETTINGS)
    assert first.summary == {"desa": "fitted", "moco": "fitted"}
    assert first.paths == {
        "reducer:desa": root.path("umap/desa.pkl"),
        "reducer:moco": root.path("umap/moco.pkl"),
        "maps": root.path("umap.parquet"),
    }
    state = load_maps(root)
    assert set(state.reducers) == {"desa", "moco"} and len(state.coords) == 2 * 60

    again = write_maps(root, SETTINGS)
    assert again.summary["desa"] == "kept (0 new rows transformed)"
    assert again.outputs == first.outputs
    assert write_maps(root, SETTINGS, force=True).summary["desa"] == "fitted"
    other = write_maps(root, UmapSettings(n_neighbors=6, seed=3))  # other settings: other key
    assert other.summary["desa"] == "fitted"


def test_no_maps_before_the_first_run(tmp_path) -> None:
    assert load_maps(DataRoot(tmp_path)) is None
