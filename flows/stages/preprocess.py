"""Stages `spectra` and `lightcurves`: one Prefect task per shard, on the Dask cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flows.progress import StageProgress
from flows.stage import StageContext, StageDef
from flows.stages.lazy_task import LazyTask, lazy_module
from storage import layout
from storage.state import StageResult

if TYPE_CHECKING:
    import pandas as pd

runs = lazy_module("desa.preprocess.runs")  # astropy and the Dask stack: when a body runs

SHARD_TASKS = {
    "spectra_shard": LazyTask("desa.preprocess.runs:spectra_shard", name="spectra-shard"),
    "lightcurve_shard": LazyTask("desa.preprocess.runs:lightcurve_shard", name="lightcurves-shard"),
}


def on_cluster(
    shard: Callable[..., pd.DataFrame], jobs: list[tuple[Any, ...]]
) -> Iterator[pd.DataFrame]:
    """Submit every shard as a Prefect task (the flow's task runner: Dask) and yield each
    shard's outcomes as it finishes."""
    from prefect.futures import as_completed

    futures = [SHARD_TASKS[shard.__name__].submit(*args) for args in jobs]
    for future in as_completed(futures):
        yield future.result()


def _spectra(ctx: StageContext) -> StageResult:
    s = ctx.settings.spectra
    return runs.preprocess_spectra(
        ctx.root,
        rv_source=s.rv_source,
        mask_bad_pixels_before_fit=s.mask_bad_pixels_before_fit,
        chunk_rows=s.chunk_rows,
        shard_rows=s.shard_rows,
        run_shards=on_cluster,
        track=StageProgress,
    )


def _lightcurves(ctx: StageContext) -> StageResult:
    s = ctx.settings.lightcurves
    return runs.preprocess_lightcurves(
        ctx.root,
        quality_bitmask=s.quality_bitmask,
        min_quarters=s.min_quarters,
        reference_luminosity=s.reference_luminosity,
        chunk_rows=s.chunk_rows,
        shard_rows=s.shard_rows,
        run_shards=on_cluster,
        track=StageProgress,
    )


SPECTRA = StageDef(
    name="spectra",
    version="2",  # more bad files refused, specific reasons; rows of departed objects stale
    writes=(layout.SPECTRA.relpath, layout.SPECTRA_ROWS),
    reads=(
        layout.FETCHED_SPECTRA,
        layout.LAMOST_CATALOG,
        layout.KEPLER_GAIA,
        layout.CROSSMATCH,
    ),
    config=lambda s: s.spectra.model_dump(mode="json"),
    body=_spectra,
    dask=True,
    description="Preprocess every spectrum onto the 3600-pixel rest-frame grid (Zarr).",
)

LIGHTCURVES = StageDef(
    name="lightcurves",
    version="2",  # more bad files refused, specific reasons; rows of departed objects stale
    writes=(layout.LIGHTCURVES.relpath, layout.LIGHTCURVE_ROWS),
    reads=(
        layout.FETCHED_LIGHTCURVES,
        layout.BERGER,
        layout.LAMOST_CATALOG,
        layout.KEPLER_GAIA,
        layout.CROSSMATCH,
    ),
    config=lambda s: s.lightcurves.model_dump(mode="json"),
    body=_lightcurves,
    dask=True,
    description="Stitch every star's quarters onto the global Kepler cadence grid (Zarr).",
)
