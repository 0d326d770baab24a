"""2-D UMAP maps of every model's embeddings, kept stable as stars are added.

A reducer per model is fitted on the training stars' embeddings (a seeded sample of at most
``fit_max`` of them for large N) and every star and pair is placed with it. The reducers are
kept; when a later run brings new stars and the model that made the embeddings is unchanged
(same key), only the new rows are transformed with the stored reducer: nothing is refitted
and the old stars keep their coordinates. A changed model refits its map from scratch.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from desa.products.embeddings import read_embeddings
from desa.products.umap_import import import_umap
from desa.products.umap_settings import UmapSettings
from storage import layout
from storage.fingerprint import fingerprint_frame, fingerprint_json
from storage.layout import DataRoot
from storage.publish import atomic_write_bytes
from storage.state import StageResult
from storage.tables import read_parquet, read_parquet_metadata, write_parquet

if TYPE_CHECKING:
    import umap

ROW_KEYS = ("level", "kic", "obsid")  # obsid is -1 on star rows


@dataclass
class UmapState:
    """The maps of every model and what made them."""

    coords: pd.DataFrame  # model, level, kic, obsid, split, x, y
    reducers: dict[str, umap.UMAP] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # model -> key of its embeddings


def rows(stars: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Every row a map has: the stars, then the pairs (level, kic, obsid, split)."""
    star_rows = stars[["kic", "split"]].assign(level="star", obsid=-1)
    pair_rows = pairs[["kic", "obsid", "split"]].assign(level="pair")
    return pd.concat([star_rows, pair_rows], ignore_index=True)[["level", "kic", "obsid", "split"]]


def fit_reducer(train: np.ndarray, settings: UmapSettings) -> umap.UMAP:
    """A reducer fitted on (a seeded sample of at most ``fit_max`` of) the training rows."""
    if len(train) < 3:
        raise ValueError(f"UMAP needs at least 3 training stars; got {len(train)}")
    if not np.isfinite(train).all():
        raise ValueError("embeddings contain NaN or inf; cannot fit UMAP")
    if len(train) > settings.fit_max:
        pick = np.random.default_rng(settings.seed).choice(len(train), settings.fit_max, False)
        train = train[np.sort(pick)]
    umap = import_umap()  # here, not at the top: importing it costs seconds, fitting is rare
    reducer = umap.UMAP(
        n_neighbors=min(settings.n_neighbors, len(train) - 1),
        min_dist=settings.min_dist,
        random_state=settings.seed,
        n_jobs=1,  # random_state makes UMAP single-threaded anyway; say so explicitly
    )
    return reducer.fit(train)


def update_maps(
    previous: UmapState | None,
    index: pd.DataFrame,
    values: dict[str, np.ndarray],
    keys: dict[str, str],
    train_mask: np.ndarray,
    settings: UmapSettings,
) -> tuple[UmapState, dict[str, str]]:
    """The maps of ``values`` (model -> (len(index), d) rows of ``index``, from `rows`).

    Returns the new state and, per model, what was done: "fitted" (new or changed model) or
    "kept" (same key: old rows kept, ``n`` new rows transformed with the stored reducer).
    """
    frames, reducers, done = [], {}, {}
    for model, x in values.items():
        old = previous is not None and previous.keys.get(model) == keys[model]
        if old and model in previous.reducers:
            reducer = previous.reducers[model]
            before = previous.coords[previous.coords["model"] == model]
            merged = index.merge(before[[*ROW_KEYS, "x", "y"]], on=list(ROW_KEYS), how="left")
            new = merged["x"].isna().to_numpy()
            if new.any():
                merged.loc[new, ["x", "y"]] = reducer.transform(x[new])
            done[model] = f"kept ({int(new.sum())} new rows transformed)"
        else:
            reducer = fit_reducer(x[train_mask], settings)
            merged = index.assign(x=np.nan, y=np.nan)
            merged[["x", "y"]] = reducer.transform(x)
            done[model] = "fitted"
        reducers[model] = reducer
        frames.append(merged.assign(model=model))
    coords = pd.concat(frames, ignore_index=True)[["model", *index.columns, "x", "y"]]
    return UmapState(coords, reducers, dict(keys)), done


def check_maps(maps: pd.DataFrame, stars: pd.DataFrame, pairs: pd.DataFrame, path: str) -> None:
    """Refuse maps made from other embeddings: each model's map must place exactly these rows."""
    wanted = len(stars) + len(pairs)
    for model in maps["model"].unique():
        placed = maps[maps["model"] == model]
        missing = set(stars["kic"]) - set(placed.loc[placed["level"] == "star", "kic"])
        if len(placed) != wanted or missing:
            raise ValueError(
                f"{path}: the {model} map has {len(placed)} rows for {wanted} stars and pairs "
                f"({len(missing)} stars missing): it was made from other embeddings; rerun umap"
            )


def load_maps(root: DataRoot) -> UmapState | None:
    """The maps and reducers the root holds (None before the first run)."""
    fs, path = root.fs, root.of(layout.MAPS)
    if not fs.exists(path):
        return None
    keys = read_parquet_metadata(fs, path).get("keys", {})
    import_umap()  # before unpickling: the reducers' kernels from the cache
    reducers = {}
    for model in keys:
        reducer_path = root.path(layout.reducer(model))
        if fs.exists(reducer_path):
            with fs.open(reducer_path, "rb") as handle:
                reducers[model] = pickle.load(handle)  # our own reducers, from our data root
    return UmapState(read_parquet(fs, path), reducers, keys)


def write_maps(root: DataRoot, settings: UmapSettings, force: bool = False) -> StageResult:
    """The umap stage: every model's map of the root's embeddings, kept stable (see above)."""
    url = root.url_of(layout.EMBEDDINGS)
    stars, star_values, attrs = read_embeddings(url, "stars")
    pairs, pair_values, _ = read_embeddings(url, "pairs")
    index = rows(stars, pairs)
    models = attrs["models"]  # binary-only models get no map
    values = {m: np.concatenate([star_values[m], pair_values[m]]) for m in models}
    # A map is kept only for the same model and the same UMAP settings.
    keys = {
        m: fingerprint_json({"model": attrs["model_keys"][m], "umap": vars(settings)})
        for m in models
    }
    train = ((index["level"] == "star") & (index["split"] == "train")).to_numpy()
    previous = None if force else load_maps(root)
    state, done = update_maps(previous, index, values, keys, train, settings)
    paths = {}
    for model, reducer in state.reducers.items():
        paths[f"reducer:{model}"] = root.path(layout.reducer(model))
        atomic_write_bytes(root.fs, paths[f"reducer:{model}"], pickle.dumps(reducer))
    fingerprint = fingerprint_frame(state.coords)
    paths["maps"] = root.of(layout.MAPS)
    write_parquet(state.coords, root.fs, paths["maps"], metadata={"keys": state.keys})
    actions = [{"model": m, "action": what} for m, what in done.items()]
    return StageResult({"maps": fingerprint}, paths, dict(done), actions)
