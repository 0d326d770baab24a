"""The spectra and lightcurves stages: bring a store's rows up to date with what was fetched.

Each run allocates rows for new objects (and marks changed or interrupted ones) in the row
manifest before any data are written, grows the store, writes each shard's rows (the caller
decides where shards run: Dask workers under the flows), records each shard's outcomes after
its data, and consolidates the store last. A run killed anywhere is completed by the next one,
with the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from catalogs.labels.identity import StarIds, star_ids
from desa.preprocess.spectra import SpectraRecipe
from desa.preprocess.stores import (
    NO_KIC,
    SPECTRA_CATALOG_COORDS,
    STRING,
    lightcurve_catalog_coords,
    lightcurve_template,
    spectra_template,
    write_catalog_coords,
    write_lightcurve_shard,
    write_spectra_shard,
)
from desa.surveys.kepler import parse_llc_filename
from storage import layout, zarr_store
from storage.fingerprint import fingerprint_frame, fingerprint_json
from storage.layout import DataRoot, Product
from storage.manifest import read_manifest
from storage.progress import Silent, Tracker
from storage.rows import allocate, by_shard, empty, mark_stale, record
from storage.state import StageResult
from storage.tables import read_parquet, write_parquet

STORE_VERSION = "1"  # bump when the layout of a store changes

# Runs the shard function on each argument tuple, yielding each shard's outcomes as it ends.
ShardRunner = Callable[[Callable[..., pd.DataFrame], list[tuple[Any, ...]]], Iterable[pd.DataFrame]]


def run_serially(
    shard: Callable[..., pd.DataFrame], jobs: list[tuple[Any, ...]]
) -> Iterable[pd.DataFrame]:
    return (shard(*args) for args in jobs)


def spectra_shard(
    url: str, rows: list[int], items: pd.DataFrame, rv: dict[int, float] | None, recipe: Any
) -> pd.DataFrame:
    obsids = items["obsid"].tolist()
    return write_spectra_shard(url, rows, obsids, items["path"].tolist(), rv, recipe)


def lightcurve_shard(url: str, rows: list[int], items: pd.DataFrame, options: dict) -> pd.DataFrame:
    kics, files = items["kic"].tolist(), items["files"].tolist()
    return write_lightcurve_shard(url, rows, kics, files, **options)


def run_sharded(
    root: DataRoot,
    store: Product,
    row_manifest: str,
    template: Callable[[], Any],
    recipe: dict[str, Any],
    wanted: pd.DataFrame,
    shard_jobs: Callable[[list[int], list[str]], tuple[Any, ...]],
    run_shards: ShardRunner,
    shard: Callable[..., pd.DataFrame],
    track: Tracker,
    *,
    dim: str,
    chunk_rows: int,
    shard_rows: int,
) -> tuple[pd.DataFrame, int]:
    """Bring the store's rows up to date with ``wanted`` (key, input).

    Returns (manifest, number processed); the caller writes its catalog coordinates and
    consolidates the store, which publishes the run.
    """
    fs, manifest_path, url = root.fs, root.path(row_manifest), root.url_of(store)
    recipe_key = fingerprint_json({"store": STORE_VERSION, **recipe})
    if not zarr_store.exists(url) or zarr_store.attrs(url).get("recipe_key") != recipe_key:
        # A new recipe means every object is redone: start over, forgetting the old rows first
        # so that a kill between the two steps cannot leave old outcomes beside a new store.
        manifest = empty()
        write_parquet(manifest, fs, manifest_path)
        zarr_store.create(url, template(), dim, chunk_rows, {"recipe_key": recipe_key, **recipe})
    else:
        manifest = read_parquet(fs, manifest_path) if fs.exists(manifest_path) else empty()
    manifest, todo = allocate(manifest, wanted)
    write_parquet(manifest, fs, manifest_path)  # allocations first, data next, outcomes last
    zarr_store.resize(url, dim, len(manifest))
    row_of = manifest.set_index("key")["row"]
    key_of = manifest.set_index("row")["key"]
    rows_by_shard = by_shard(row_of[todo].tolist(), shard_rows)
    jobs = [shard_jobs(rows, key_of[rows].tolist()) for rows in rows_by_shard.values()]
    with track(store.stage, "objects", len(todo)) as progress:
        for outcomes in run_shards(shard, jobs):  # one row per object of the shard
            manifest = record(manifest, outcomes)
            write_parquet(manifest, fs, manifest_path)
            progress.advance(len(outcomes))
    return manifest, len(todo)


def _stale_unless_listed(
    root: DataRoot,
    row_manifest: str,
    manifest: pd.DataFrame,
    listed: Iterable[str],
    catalog: Product,
) -> pd.DataFrame:
    """Rows of objects the current catalog no longer lists are 'stale': kept, never read
    downstream (labels take 'ok' rows only), 'ok' again when the object comes back."""
    why = f"not in the current {catalog.output} catalog"
    manifest = mark_stale(manifest, listed, why)
    write_parquet(manifest, root.fs, root.path(row_manifest))
    return manifest


def _result(
    root: DataRoot,
    store: Product,
    row_manifest: str,
    manifest: pd.DataFrame,
    processed: int,
    coords: dict,
) -> StageResult:
    failed = manifest[manifest["status"] == "failed"]
    summary = {
        "objects": len(manifest),
        "processed": processed,
        "ok": int((manifest["status"] == "ok").sum()),
        "quarantined": len(failed),
        "stale": int((manifest["status"] == "stale").sum()),
    }
    rows = [{"key": k, "reason": r} for k, r in zip(failed["key"], failed["reason"], strict=True)]
    # What the rows hold (by input and outcome) and the catalog coordinates written last.
    fingerprint = fingerprint_json(
        [
            fingerprint_frame(manifest[["key", "row", "input", "status"]]),
            fingerprint_frame(
                pd.DataFrame({k: np.asarray(v, dtype=object) for k, v in coords.items()})
            ),
        ]
    )
    paths = {"store": root.url_of(store), "manifest": root.path(row_manifest)}
    return StageResult({store.output: fingerprint}, paths, summary, rows or [summary])


def _identities(root: DataRoot) -> StarIds:
    return star_ids(
        read_parquet(root.fs, root.of(layout.LAMOST_CATALOG)),
        read_parquet(root.fs, root.of(layout.CROSSMATCH)),
        read_parquet(root.fs, root.of(layout.KEPLER_GAIA)),
    )


def preprocess_spectra(
    root: DataRoot,
    *,
    rv_source: str,
    mask_bad_pixels_before_fit: bool,
    chunk_rows: int,
    shard_rows: int,
    run_shards: ShardRunner = run_serially,
    track: Tracker = Silent,
) -> StageResult:
    """Every fetched spectrum onto the rest-frame grid of ``spectra.zarr``."""
    url = root.url_of(layout.SPECTRA)
    fetched = read_manifest(root.fs, root.of(layout.FETCHED_SPECTRA))
    fetched = fetched[fetched["status"] == "ok"].rename(columns={"sha256": "input"})
    fetched["path"] = [root.resolve(path) for path in fetched["path"]]  # recorded relative
    fetched["obsid"] = fetched["key"].astype("int64")
    fetched = fetched.set_index("key", drop=False)
    lamost = read_parquet(root.fs, root.of(layout.LAMOST_CATALOG)).set_index("obsid")
    rv = lamost["rv"].dropna().astype(float).to_dict() if rv_source == "catalog" else None
    recipe = SpectraRecipe(mask_bad_pixels_before_fit=mask_bad_pixels_before_fit)

    def jobs(rows: list[int], keys: list[str]) -> tuple[Any, ...]:
        items = fetched.loc[keys]
        rv_part = None if rv is None else {o: rv[o] for o in items["obsid"] if o in rv}
        return url, rows, items, rv_part, recipe

    manifest, processed = run_sharded(
        root,
        layout.SPECTRA,
        layout.SPECTRA_ROWS,
        spectra_template,
        {"stage": "spectra", "rv_source": rv_source, **recipe.as_dict()},
        fetched[["key", "input"]],
        jobs,
        run_shards,
        spectra_shard,
        track,
        dim="obs",
        chunk_rows=chunk_rows,
        shard_rows=shard_rows,
    )
    manifest = _stale_unless_listed(
        root, layout.SPECTRA_ROWS, manifest, lamost.index.astype(str), layout.LAMOST_CATALOG
    )
    obsids = manifest.sort_values("row")["key"].astype("int64").to_numpy()
    labels = lamost.reindex(obsids)
    ids = _identities(root)
    kic = ids.spectra.set_index("obsid")["kic"].reindex(obsids).fillna(NO_KIC)
    values = {
        "star_id": np.asarray(ids.of_obsids(obsids), dtype=STRING),
        "kic": kic.to_numpy("i8"),
        **{c: labels[c].to_numpy("f4") for c in SPECTRA_CATALOG_COORDS if c in labels.columns},
    }
    write_catalog_coords(url, "obs", values)
    zarr_store.consolidate(url)
    return _result(root, layout.SPECTRA, layout.SPECTRA_ROWS, manifest, processed, values)


def _lightcurve_inputs(root: DataRoot) -> pd.DataFrame:
    """One row per star with fetched quarters: its files and their fingerprint."""
    fetched = read_manifest(root.fs, root.of(layout.FETCHED_LIGHTCURVES))
    fetched = fetched[fetched["status"] == "ok"].copy()
    fetched["path"] = [root.resolve(path) for path in fetched["path"]]  # recorded relative
    fetched["kic"] = [parse_llc_filename(k)[0] for k in fetched["key"]]
    fetched = fetched.sort_values(["kic", "key"])
    stars = fetched.groupby("kic").agg(
        files=("path", list), input=("sha256", lambda s: fingerprint_json(list(s)))
    )
    stars = stars.reset_index()
    stars["key"] = stars["kic"].astype(str)
    return stars.set_index("key", drop=False)


def preprocess_lightcurves(
    root: DataRoot,
    *,
    quality_bitmask: str,
    min_quarters: int,
    reference_luminosity: bool,
    chunk_rows: int,
    shard_rows: int,
    run_shards: ShardRunner = run_serially,
    track: Tracker = Silent,
) -> StageResult:
    """Every star's fetched quarters stitched onto the Kepler cadence grid of
    ``lightcurves.zarr``, with distances and absolute-unit factors as coordinates."""
    url = root.url_of(layout.LIGHTCURVES)
    stars = _lightcurve_inputs(root)
    options = {"quality_bitmask": quality_bitmask, "min_quarters": min_quarters}

    def jobs(rows: list[int], keys: list[str]) -> tuple[Any, ...]:
        return url, rows, stars.loc[keys], options

    manifest, processed = run_sharded(
        root,
        layout.LIGHTCURVES,
        layout.LIGHTCURVE_ROWS,
        lightcurve_template,
        {"stage": "lightcurves", **options},
        stars[["key", "input"]],
        jobs,
        run_shards,
        lightcurve_shard,
        track,
        dim="star",
        chunk_rows=chunk_rows,
        shard_rows=shard_rows,
    )
    kepler = read_parquet(root.fs, root.of(layout.KEPLER_GAIA))
    manifest = _stale_unless_listed(
        root, layout.LIGHTCURVE_ROWS, manifest, kepler["kic"].astype(str), layout.KEPLER_GAIA
    )
    kics = manifest.sort_values("row")["key"].astype("int64").to_numpy()
    berger = read_parquet(root.fs, root.of(layout.BERGER)).drop_duplicates("kic")
    dist = berger.set_index("kic")["dist_pc"].reindex(kics).to_numpy("f8")
    kepmag = zarr_store.read_array(url, "kepmag")  # as the shards read it from the files
    coords = lightcurve_catalog_coords(
        kepmag, _identities(root).of_kics(kics), dist, reference_luminosity
    )
    write_catalog_coords(url, "star", coords)
    zarr_store.consolidate(url)
    return _result(root, layout.LIGHTCURVES, layout.LIGHTCURVE_ROWS, manifest, processed, coords)
