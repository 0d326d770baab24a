"""The fetch stages: download the selected spectra and light curves in batches.

The merged manifest is written after each batch, so a killed run keeps what it fetched; a
spectrum fetched once is kept, whichever release it came from (DESIGN.md §3). The caller
decides how a batch runs (a Prefect task under the flows) through ``run_batch``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from desa.surveys.kepler import read_quarter
from desa.surveys.lamost_client import LamostClient
from desa.surveys.selection import Mode, select_kics, select_spectra
from storage import layout
from storage.download import DownloadRequest
from storage.fingerprint import fingerprint_frame
from storage.layout import DataRoot, Product
from storage.manifest import (
    check_failure_fraction,
    merge_manifests,
    read_manifest,
    relative_to_root,
    write_manifest,
)
from storage.progress import Silent, Tracker
from storage.state import StageResult
from storage.tables import read_parquet

STATUSES = ("ok", "failed", "absent")

Plan = Callable[[], list[DownloadRequest]]
Verify = Callable[[Path], None]
# Runs batch ``number`` of a stage: its plan's requests, each file checked by ``verify``;
# returns the batch's manifest records as a frame.
BatchRunner = Callable[[str, int, Plan, Verify], pd.DataFrame]

# Quarters are about 15 files per star: light-curve batches are sized in files, not stars.
FILES_PER_STAR = 15


def verify_spectrum(path: Path) -> None:
    from desa.surveys.lamost import read_spectrum  # astropy: `desa status` imports this module

    read_spectrum(path)


def verify_lightcurve(path: Path) -> None:
    read_quarter(path, quality_bitmask="none")


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def fetch_batches(
    root: DataRoot,
    files: Product,
    plans: list[Plan],
    verify: Verify,
    run_batch: BatchRunner,
    track: Tracker,
    *,
    unit: str,
    sizes: Sequence[int],
    max_failure_fraction: float,
) -> StageResult:
    """Run the batches (``sizes[i]`` ``unit`` each), writing the merged manifest after each
    one (progress survives a kill). Its paths are relative to the root (a root moves)."""
    name, fs, manifest_path = files.stage, root.fs, root.of(files)
    manifest = relative_to_root(read_manifest(fs, manifest_path), root)
    rows = []
    with track(name, unit, sum(sizes)) as progress:
        for number, (plan, size) in enumerate(zip(plans, sizes, strict=True)):
            batch = relative_to_root(run_batch(name, number, plan, verify), root)
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
    check_failure_fraction(manifest, max_failure_fraction, name)
    ok = manifest[manifest["status"] == "ok"]
    summary = {
        "files": len(manifest),
        **{status: int((manifest["status"] == status).sum()) for status in STATUSES},
        "batches": len(plans),
    }
    fingerprint = fingerprint_frame(ok[["key", "sha256"]].reset_index(drop=True))
    return StageResult({files.output: fingerprint}, {"manifest": manifest_path}, summary, rows)


def fetch_spectra(
    root: DataRoot,
    client: LamostClient,
    run_batch: BatchRunner,
    *,
    selection: Mode,
    min_snrg: float,
    batch_size: int,
    max_failure_fraction: float,
    track: Tracker = Silent,
) -> StageResult:
    """The LAMOST spectra the selection asks for that are not fetched yet."""
    lamost = read_parquet(root.fs, root.of(layout.LAMOST_CATALOG))
    matches = read_parquet(root.fs, root.of(layout.CROSSMATCH))
    rows = select_spectra(lamost, matches, selection, min_snrg)
    fetched = read_manifest(root.fs, root.of(layout.FETCHED_SPECTRA))
    kept = fetched.loc[fetched["status"] == "ok", "key"]
    rows = rows[~rows["obsid"].astype(str).isin(kept)]
    dest = root.path(layout.RAW_SPECTRA)
    parts = _batches(rows, batch_size)
    return fetch_batches(
        root,
        layout.FETCHED_SPECTRA,
        [partial(client.spectrum_requests, part, dest) for part in parts],
        verify_spectrum,
        run_batch,
        track,
        unit="files",
        sizes=[len(part) for part in parts],
        max_failure_fraction=max_failure_fraction,
    )


def fetch_lightcurves(
    root: DataRoot,
    requests_for: Callable[[Sequence[int], str], list[DownloadRequest]],
    run_batch: BatchRunner,
    *,
    selection: Mode,
    batch_size: int,
    max_failure_fraction: float,
    track: Tracker = Silent,
) -> StageResult:
    """The Kepler long-cadence quarters of the selected stars; ``requests_for(kics, dest)``
    lists a batch's files (from the archive tree or a MAST search)."""
    kepler = read_parquet(root.fs, root.of(layout.KEPLER_GAIA))
    matches = read_parquet(root.fs, root.of(layout.CROSSMATCH))
    kics = select_kics(kepler, matches, selection)
    dest = root.path(layout.RAW_LIGHTCURVES)
    parts = _batches(kics, max(1, batch_size // FILES_PER_STAR))
    # A star's files are known only once its batch lists them: progress counts stars.
    return fetch_batches(
        root,
        layout.FETCHED_LIGHTCURVES,
        [partial(requests_for, part, dest) for part in parts],
        verify_lightcurve,
        run_batch,
        track,
        unit="stars",
        sizes=[len(part) for part in parts],
        max_failure_fraction=max_failure_fraction,
    )
