"""Stages `spectra` and `lightcurves`: shard tasks on Dask writing disjoint rows of a store.

Each run allocates rows for new objects (and marks changed or interrupted ones) in the row
manifest before any data are written, grows the store, runs one Prefect task per shard on the
Dask cluster, records each shard's outcomes after its data, and consolidates the store last.
A run killed anywhere is completed by the next one, with the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

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
from flows.progress import StageProgress
from flows.stage import StageContext, StageDef
from storage import layout, zarr_store
from storage.fingerprint import fingerprint_frame, fingerprint_json
from storage.manifest import read_manifest
from storage.rows import allocate, by_shard, empty, record
from storage.state import StageResult
from storage.tables import read_parquet, write_parquet

STORE_VERSION = "1"  # bump when the layout of a store changes


def run_sharded(
    ctx: StageContext,
    name: str,
    url: str,
    template: Callable[[], Any],
    recipe: dict[str, Any],
    wanted: pd.DataFrame,
    submit: Callable[[list[int], list[str]], Any],
    *,
    dim: str,
    chunk_rows: int,
    shard_rows: int,
) -> tuple[pd.DataFrame, int]:
    """Bring the store's rows up to date with ``wanted`` (key, input).

    Returns (manifest, number processed); the caller writes its catalog coordinates and
    consolidates the store, which publishes the run.
    """
    fs, manifest_path = ctx.root.fs, ctx.root.path(layout.manifest(name))
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
    futures = [submit(rows, key_of[rows].tolist()) for rows in rows_by_shard.values()]
    with StageProgress(name, "objects", len(todo)) as progress:
        for future in as_completed(futures):
            outcomes = future.result()  # one row per object of the shard
            manifest = record(manifest, outcomes)
            write_parquet(manifest, fs, manifest_path)
            progress.advance(len(outcomes))
    return manifest, len(todo)


def _result(
    name: str, url: str, manifest: pd.DataFrame, processed: int, root, coords: dict
) -> StageResult:
    failed = manifest[manifest["status"] == "failed"]
    summary = {
        "objects": len(manifest),
        "processed": processed,
        "ok": int((manifest["status"] == "ok").sum()),
        "quarantined": len(failed),
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
    paths = {"store": url, "manifest": root.path(layout.manifest(name))}
    return StageResult({"store": fingerprint}, paths, summary, rows or [summary])


@task(name="spectra-shard", cache_policy=NO_CACHE)
def spectra_shard(
    url: str, rows: list[int], items: pd.DataFrame, rv: dict[int, float] | None, recipe: Any
) -> pd.DataFrame:
    obsids = items["obsid"].tolist()
    return write_spectra_shard(url, rows, obsids, items["path"].tolist(), rv, recipe)


@task(name="lightcurves-shard", cache_policy=NO_CACHE)
def lightcurve_shard(url: str, rows: list[int], items: pd.DataFrame, options: dict) -> pd.DataFrame:
    kics, files = items["kic"].tolist(), items["files"].tolist()
    return write_lightcurve_shard(url, rows, kics, files, **options)


def _identities(ctx: StageContext) -> StarIds:
    root = ctx.root
    return star_ids(
        read_parquet(root.fs, root.of(layout.catalog("lamost_lrs_stellar"))),
        read_parquet(root.fs, root.of(layout.CROSSMATCH)),
        read_parquet(root.fs, root.of(layout.catalog("kepler_gaia"))),
    )


def _spectra_body(ctx: StageContext) -> StageResult:
    root, settings = ctx.root, ctx.settings.spectra
    url = root.store_url("spectra.zarr")
    fetched = read_manifest(root.fs, root.path(layout.manifest("fetch-spectra")))
    fetched = fetched[fetched["status"] == "ok"].rename(columns={"sha256": "input"})
    fetched["obsid"] = fetched["key"].astype("int64")
    fetched = fetched.set_index("key", drop=False)
    lamost = read_parquet(root.fs, root.of(layout.catalog("lamost_lrs_stellar"))).set_index("obsid")
    rv = None
    if settings.rv_source == "catalog":
        rv = lamost["rv"].dropna().astype(float).to_dict()
    recipe = SpectraRecipe(mask_bad_pixels_before_fit=settings.mask_bad_pixels_before_fit)

    def submit(rows: list[int], keys: list[str]) -> Any:
        items = fetched.loc[keys]
        rv_part = None if rv is None else {o: rv[o] for o in items["obsid"] if o in rv}
        return spectra_shard.submit(url, rows, items, rv_part, recipe)

    manifest, processed = run_sharded(
        ctx,
        "spectra",
        url,
        spectra_template,
        {"stage": "spectra", "rv_source": settings.rv_source, **recipe.as_dict()},
        fetched[["key", "input"]],
        submit,
        dim="obs",
        chunk_rows=settings.chunk_rows,
        shard_rows=settings.shard_rows,
    )
    obsids = manifest.sort_values("row")["key"].astype("int64").to_numpy()
    labels = lamost.reindex(obsids)
    ids = _identities(ctx)
    kic = ids.spectra.set_index("obsid")["kic"].reindex(obsids).fillna(NO_KIC)
    values = {
        "star_id": np.asarray(ids.of_obsids(obsids), dtype=STRING),
        "kic": kic.to_numpy("i8"),
        **{c: labels[c].to_numpy("f4") for c in SPECTRA_CATALOG_COORDS if c in labels.columns},
    }
    write_catalog_coords(url, "obs", values)
    zarr_store.consolidate(url)
    return _result("spectra", url, manifest, processed, root, values)


def _lightcurve_inputs(ctx: StageContext) -> pd.DataFrame:
    """One row per star with fetched quarters: its files and their fingerprint."""
    root = ctx.root
    fetched = read_manifest(root.fs, root.path(layout.manifest("fetch-lightcurves")))
    fetched = fetched[fetched["status"] == "ok"].copy()
    fetched["kic"] = [parse_llc_filename(k)[0] for k in fetched["key"]]
    fetched = fetched.sort_values(["kic", "key"])
    stars = fetched.groupby("kic").agg(
        files=("path", list), input=("sha256", lambda s: fingerprint_json(list(s)))
    )
    stars = stars.reset_index()
    stars["key"] = stars["kic"].astype(str)
    return stars.set_index("key", drop=False)


def _lightcurves_body(ctx: StageContext) -> StageResult:
    root, settings = ctx.root, ctx.settings.lightcurves
    url = root.store_url("lightcurves.zarr")
    stars = _lightcurve_inputs(ctx)
    options = {"quality_bitmask": settings.quality_bitmask, "min_quarters": settings.min_quarters}

    def submit(rows: list[int], keys: list[str]) -> Any:
        return lightcurve_shard.submit(url, rows, stars.loc[keys], options)

    manifest, processed = run_sharded(
        ctx,
        "lightcurves",
        url,
        lightcurve_template,
        {"stage": "lightcurves", **options},
        stars[["key", "input"]],
        submit,
        dim="star",
        chunk_rows=settings.chunk_rows,
        shard_rows=settings.shard_rows,
    )
    kics = manifest.sort_values("row")["key"].astype("int64").to_numpy()
    berger = read_parquet(root.fs, root.of(layout.catalog("berger2020"))).drop_duplicates("kic")
    dist = berger.set_index("kic")["dist_pc"].reindex(kics).to_numpy("f8")
    kepmag = zarr_store.read_array(url, "kepmag")  # as the shards read it from the files
    coords = lightcurve_catalog_coords(
        kepmag, _identities(ctx).of_kics(kics), dist, settings.reference_luminosity
    )
    write_catalog_coords(url, "star", coords)
    zarr_store.consolidate(url)
    return _result("lightcurves", url, manifest, processed, root, coords)


SPECTRA = StageDef(
    name="spectra",
    version="1",
    writes=("spectra.zarr", "manifests/spectra.parquet"),
    reads=(
        layout.FETCHED_SPECTRA,
        layout.LAMOST_CATALOG,
        layout.KEPLER_GAIA,
        layout.CROSSMATCH,
    ),
    config=lambda s: s.spectra.model_dump(mode="json"),
    body=_spectra_body,
    dask=True,
    description="Preprocess every spectrum onto the 3600-pixel rest-frame grid (Zarr).",
)

LIGHTCURVES = StageDef(
    name="lightcurves",
    version="1",
    writes=("lightcurves.zarr", "manifests/lightcurves.parquet"),
    reads=(
        layout.FETCHED_LIGHTCURVES,
        layout.BERGER,
        layout.LAMOST_CATALOG,
        layout.KEPLER_GAIA,
        layout.CROSSMATCH,
    ),
    config=lambda s: s.lightcurves.model_dump(mode="json"),
    body=_lightcurves_body,
    dask=True,
    description="Stitch every star's quarters onto the global Kepler cadence grid (Zarr).",
)
