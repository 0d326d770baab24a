"""Stages `fetch-spectra` and `fetch-lightcurves`: one Prefect task per batch of files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from desa.surveys.kepler import read_quarter
from desa.surveys.lamost import read_spectrum
from desa.surveys.mast_client import search_lightcurve_requests
from desa.surveys.selection import select_kics, select_spectra
from flows.clients import downloader, lamost_client, mast_client
from flows.progress import StageProgress
from flows.stage import StageContext, StageDef
from storage import layout
from storage.download import DownloadRequest
from storage.fingerprint import fingerprint_frame
from storage.manifest import (
    check_failure_fraction,
    merge_manifests,
    read_manifest,
    to_frame,
    write_manifest,
)
from storage.state import StageResult
from storage.tables import read_parquet

STATUSES = ("ok", "failed", "absent")


def _verify_spectrum(path: Path) -> None:
    read_spectrum(path)


def _verify_lightcurve(path: Path) -> None:
    read_quarter(path, quality_bitmask="none")


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@task(name="fetch-batch", cache_policy=NO_CACHE)
def fetch_batch(
    ctx: StageContext,
    plan: Callable[[], list[DownloadRequest]],
    verify: Callable[[Path], None],
    secret_params: dict[str, str] | None,
) -> pd.DataFrame:
    requests = plan()
    records = downloader(ctx.settings, verify=verify, secret_params=secret_params).fetch(requests)
    return to_frame(records)


def _fetch(
    ctx: StageContext,
    name: str,
    plans: list[Callable[[], list[DownloadRequest]]],
    verify: Callable[[Path], None],
    secret_params: dict[str, str] | None = None,
    *,
    unit: str,
    sizes: Sequence[int],
) -> StageResult:
    """Run the batches (``sizes[i]`` ``unit`` each), writing the merged manifest after each one
    (progress survives a kill)."""
    fs, manifest_path = ctx.root.fs, ctx.root.path(layout.manifest(name))
    manifest = read_manifest(fs, manifest_path)
    rows = []
    with StageProgress(name, unit, sum(sizes)) as progress:
        for number, (plan, size) in enumerate(zip(plans, sizes, strict=True)):
            batch = fetch_batch.with_options(name=f"{name}-batch-{number}")(
                ctx, plan, verify, secret_params
            )
            manifest = write_manifest(fs, manifest_path, merge_manifests(manifest, batch))
            failed = batch[batch["status"] == "failed"]
            rows.append(
                {
                    "batch": number,
                    **{status: int((batch["status"] == status).sum()) for status in STATUSES},
                    "first failure": f"{failed['key'].iloc[0]}: {failed['reason'].iloc[0]}"
                    if len(failed)
                    else "",
                }
            )
            progress.advance(size)
    check_failure_fraction(manifest, ctx.settings.fetch.max_failure_fraction, name)
    ok = manifest[manifest["status"] == "ok"]
    summary = {
        "files": len(manifest),
        **{status: int((manifest["status"] == status).sum()) for status in STATUSES},
        "batches": len(plans),
    }
    fingerprint = fingerprint_frame(ok[["key", "sha256"]].reset_index(drop=True))
    return StageResult({"files": fingerprint}, {"manifest": manifest_path}, summary, rows)


def _spectra_body(ctx: StageContext) -> StageResult:
    root, settings = ctx.root, ctx.settings
    lamost = read_parquet(root.fs, root.of(layout.catalog("lamost_lrs_stellar")))
    matches = read_parquet(root.fs, root.of(layout.CROSSMATCH))
    rows = select_spectra(lamost, matches, settings.selection.spectra, settings.selection.min_snrg)
    # A spectrum fetched once is kept, whichever release it came from: a new release brings
    # new obsids, and only those are fetched (DESIGN.md §3).
    fetched = read_manifest(root.fs, root.path(layout.manifest("fetch-spectra")))
    kept = fetched.loc[fetched["status"] == "ok", "key"]
    rows = rows[~rows["obsid"].astype(str).isin(kept)]
    client, dest = lamost_client(settings), root.path(layout.RAW_SPECTRA)
    parts = _batches(rows, settings.fetch.batch_size)
    plans = [partial(client.spectrum_requests, part, dest) for part in parts]
    return _fetch(
        ctx,
        "fetch-spectra",
        plans,
        _verify_spectrum,
        client.secret_params(),
        unit="files",
        sizes=[len(part) for part in parts],
    )


def _lightcurves_body(ctx: StageContext) -> StageResult:
    root, settings = ctx.root, ctx.settings
    kepler = read_parquet(root.fs, root.of(layout.catalog("kepler_gaia")))
    matches = read_parquet(root.fs, root.of(layout.CROSSMATCH))
    kics = select_kics(kepler, matches, settings.selection.lightcurves)
    dest = root.path(layout.RAW_LIGHTCURVES)
    if settings.archive.mast_mode == "search":
        requests_for = partial(search_lightcurve_requests, dest_dir=dest)
    else:
        requests_for = partial(mast_client(settings).lightcurve_requests, dest_dir=dest)
    # Quarters are about 15 files per star: size batches in files, not stars.
    per_batch = max(1, settings.fetch.batch_size // 15)
    parts = _batches(kics, per_batch)
    plans = [partial(requests_for, part) for part in parts]
    # A star's files are known only once its batch lists them: progress counts stars.
    sizes = [len(part) for part in parts]
    return _fetch(ctx, "fetch-lightcurves", plans, _verify_lightcurve, unit="stars", sizes=sizes)


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
    version="2",
    writes=("raw/lamost/", "manifests/fetch-spectra.parquet"),
    reads=(layout.LAMOST_CATALOG, layout.CROSSMATCH),
    config=_fetch_config("spectra"),
    body=_spectra_body,
    description="Download the LAMOST spectra the crossmatch and pretraining selection ask for.",
)

LIGHTCURVES = StageDef(
    name="fetch-lightcurves",
    version="1",
    writes=("raw/kepler/", "manifests/fetch-lightcurves.parquet"),
    reads=(
        layout.KEPLER_GAIA,
        layout.KEPLER_TREE,
        layout.CROSSMATCH,
    ),
    config=_fetch_config("lightcurves"),
    body=_lightcurves_body,
    description="Download the Kepler long-cadence quarters of the selected stars.",
)
