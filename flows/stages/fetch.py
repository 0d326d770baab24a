"""Stages `fetch-spectra` and `fetch-lightcurves`: one Prefect task per batch of files."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from desa.surveys.mast_client import search_lightcurve_requests
from flows.clients import downloader, lamost_client, mast_client
from flows.progress import StageProgress
from flows.settings import Settings
from flows.stage import StageContext, StageDef
from flows.stages.lazy_task import lazy_module, lazy_task
from storage import layout
from storage.manifest import to_frame
from storage.state import StageResult

if TYPE_CHECKING:
    import pandas as pd

fetching = lazy_module("desa.surveys.fetching")  # pandas and the readers: when a body runs


@lazy_task(name="fetch-batch")
def fetch_batch(
    settings: Settings,
    plan: fetching.Plan,
    verify: fetching.Verify,
    secret_params: dict[str, str] | None,
) -> pd.DataFrame:
    requests = plan()
    records = downloader(settings, verify=verify, secret_params=secret_params).fetch(requests)
    return to_frame(records)


def _batch_runner(
    settings: Settings, secret_params: dict[str, str] | None = None
) -> fetching.BatchRunner:
    def run(name: str, number: int, plan: fetching.Plan, verify: fetching.Verify) -> pd.DataFrame:
        named = fetch_batch.with_options(name=f"{name}-batch-{number}")
        return named(settings, plan, verify, secret_params)

    return run


def _spectra(ctx: StageContext) -> StageResult:
    settings = ctx.settings
    client = lamost_client(settings)
    return fetching.fetch_spectra(
        ctx.root,
        client,
        _batch_runner(settings, client.secret_params()),
        selection=settings.selection.spectra,
        min_snrg=settings.selection.min_snrg,
        batch_size=settings.fetch.batch_size,
        max_failure_fraction=settings.fetch.max_failure_fraction,
        track=StageProgress,
    )


def _lightcurves(ctx: StageContext) -> StageResult:
    settings = ctx.settings
    if settings.archive.mast_mode == "search":
        requests_for = search_lightcurve_requests
    else:
        requests_for = mast_client(settings).lightcurve_requests
    return fetching.fetch_lightcurves(
        ctx.root,
        requests_for,
        _batch_runner(settings),
        selection=settings.selection.lightcurves,
        batch_size=settings.fetch.batch_size,
        max_failure_fraction=settings.fetch.max_failure_fraction,
        track=StageProgress,
    )


def _fetch_config(kind: str) -> Callable[[Any], dict[str, Any]]:
    def config(settings: Any) -> dict[str, Any]:
        archive = settings.archive
        source = (
            [
                archive.lamost_base_url,
                archive.lamost_mode,
                archive.lamost_dr,
                archive.lamost_version,
            ]
            if kind == "spectra"
            else [archive.mast_base_url, archive.mast_mode]
        )
        return {
            "selection": getattr(settings.selection, kind),
            "min_snrg": settings.selection.min_snrg,
            "source": source,
        }

    return config


SPECTRA = StageDef(
    name="fetch-spectra",
    version="3",  # readers refuse more bad files, with specific reasons
    writes=(f"{layout.RAW_SPECTRA}/", layout.FETCHED_SPECTRA.relpath),
    reads=(layout.LAMOST_CATALOG, layout.CROSSMATCH),
    config=_fetch_config("spectra"),
    body=_spectra,
    description="Download the LAMOST spectra the crossmatch and pretraining selection ask for.",
)

LIGHTCURVES = StageDef(
    name="fetch-lightcurves",
    version="2",  # readers refuse more bad files, with specific reasons
    writes=(f"{layout.RAW_LIGHTCURVES}/", layout.FETCHED_LIGHTCURVES.relpath),
    reads=(layout.KEPLER_GAIA, layout.KEPLER_TREE, layout.CROSSMATCH),
    config=_fetch_config("lightcurves"),
    body=_lightcurves,
    description="Download the Kepler long-cadence quarters of the selected stars.",
)
