"""Check every published output against its stage's state record (`desa verify`).

When a stage publishes, its record keeps a byte checksum of each output path (`checksums`,
written by `flows.stage.execute`; storage.checksum). The content fingerprints
of the record (`outputs`) differ per stage (frames, weights, manifests), so they cannot all
be recomputed from the files; the checksums can. An output is *missing* when its path is
gone, *unreadable* when it no longer opens as what it is (Parquet, JSON, Zarr with
consolidated metadata, or what a caller's reader checks), *changed* when its bytes differ
from the checksum. A record written before checksums were kept is checked for existence and
readability only ("not recorded").

`repair` removes the damaged outputs (and unreadable records): the stage is then out of
date ("outputs missing", or "never run"), so the next rebuild redoes exactly those stages,
and a store is recreated rather than completed on top of a damaged chunk. Stages downstream
rerun only if the redone outputs differ, as their cache keys hash content fingerprints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import fsspec
import pyarrow.parquet as pq

from storage import zarr_store
from storage.checksum import checksum, folder_files
from storage.layout import DataRoot
from storage.state import StageState, read_state

MISSING, CHANGED, UNREADABLE = "missing", "changed", "unreadable"
STATE_RECORD = "state record"  # the output name of a finding about the record itself

# Raises when the file at a path (inside the filesystem) does not open as what it is.
Reader = Callable[[fsspec.AbstractFileSystem, str], None]


@dataclass(frozen=True)
class Finding:
    stage: str
    output: str  # the name in the record's `paths`, or STATE_RECORD
    path: str  # as recorded (relative to the data root)
    problem: str  # MISSING, CHANGED or UNREADABLE
    detail: str


@dataclass
class Verification:
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0  # outputs compared with their checksums
    not_recorded: list[tuple[str, str]] = field(default_factory=list)  # (stage, output)
    never_run: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def damaged_stages(self) -> list[str]:
        return list(dict.fromkeys(f.stage for f in self.findings))


def _read_parquet(fs: fsspec.AbstractFileSystem, path: str) -> None:
    for _ in pq.ParquetFile(path, filesystem=fs).iter_batches():  # every page, batch by batch
        pass


def _read_json(fs: fsspec.AbstractFileSystem, path: str) -> None:
    with fs.open(path, "rb") as handle:
        json.load(handle)


def _open_zarr(fs: fsspec.AbstractFileSystem, path: str) -> None:
    zarr_store.open_dataset(path if "file" in fs.protocol else fs.unstrip_protocol(path))


READERS: dict[str, Reader] = {".parquet": _read_parquet, ".json": _read_json, ".zarr": _open_zarr}


def _unreadable(fs: fsspec.AbstractFileSystem, path: str, readers: Mapping[str, Reader]) -> str:
    """Why ``path`` (or a file of the folder ``path``) does not open; "" when it does."""
    whole = not fs.isdir(path) or path.endswith(tuple(readers))  # a file, or a Zarr store
    files = [path] if whole else folder_files(fs, path)
    for name in files:
        reader = next((r for suffix, r in readers.items() if name.endswith(suffix)), None)
        if reader is None:
            continue
        try:
            reader(fs, name)
        except Exception as exc:  # whatever a damaged file makes the reader raise
            where = name[len(path) :].lstrip("/") if name != path else ""
            return f"{where + ': ' if where else ''}{type(exc).__name__}: {exc}"
    return ""


def verify_stage(
    root: DataRoot, state: StageState, readers: Mapping[str, Reader], result: Verification
) -> None:
    """Check each output of ``state``; add what is wrong to ``result``."""
    for name, recorded in state.paths.items():
        path = root.resolve(recorded)

        def found(problem: str, detail: str, name: str = name, recorded: str = recorded) -> None:
            result.findings.append(Finding(state.stage, name, recorded, problem, detail))

        if not root.fs.exists(path):
            found(MISSING, "no such file or folder")
            continue
        if why := _unreadable(root.fs, path, readers):
            found(UNREADABLE, why)
            continue
        wanted = state.checksums.get(name)
        if wanted is None:
            result.not_recorded.append((state.stage, name))
            continue
        result.checked += 1
        if (now := checksum(root.fs, path)) != wanted:
            found(CHANGED, f"checksum {now[:12]}, recorded {wanted[:12]}")


def verify_root(
    root: DataRoot, stages: Iterable[str], readers: Mapping[str, Reader] | None = None
) -> Verification:
    """Check the outputs of each of ``stages`` (by name) against its state record.

    ``readers`` (file suffix -> reader) are added to READERS, e.g. a checkpoint loader.
    """
    everything = {**READERS, **(readers or {})}
    result = Verification()
    for stage in stages:
        state_path = root.state_path(stage)
        try:
            state = read_state(root.fs, state_path)
        except (ValueError, TypeError, UnicodeDecodeError) as exc:  # bad JSON or fields
            detail = f"{type(exc).__name__}: {exc}"
            relative = root.relative(state_path)
            result.findings.append(Finding(stage, STATE_RECORD, relative, UNREADABLE, detail))
            continue
        if state is None:
            result.never_run.append(stage)
            continue
        verify_stage(root, state, everything, result)
    return result


def repair(root: DataRoot, findings: Iterable[Finding]) -> list[str]:
    """Remove each changed or unreadable output (or state record) of ``findings``, so that
    its stage is out of date and the next rebuild redoes it; the paths removed."""
    removed = []
    for finding in findings:
        if finding.problem == MISSING:
            continue  # already gone: the stage is out of date ("outputs missing")
        path = root.resolve(finding.path)
        if root.fs.exists(path):
            root.fs.rm(path, recursive=root.fs.isdir(path))
            removed.append(finding.path)
    return removed
