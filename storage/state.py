"""Stage state records: what a stage last produced, under which cache key."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import fsspec

from storage.publish import atomic_write_bytes


@dataclass
class StageState:
    """The record a stage writes last, after its outputs are published."""

    stage: str
    key: str
    version: str
    config: dict[str, Any]
    inputs: dict[str, str]
    outputs: dict[str, str]  # output name -> content fingerprint
    paths: dict[str, str]  # output name -> path under the data root
    started_at: str
    finished_at: str
    duration_s: float
    summary: dict[str, Any] = field(default_factory=dict)
    # output name -> byte checksum of its path when published (storage.verify); empty in
    # records written before checksums were kept, and for outputs changed outside the pipeline
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass
class StageResult:
    """What a stage's body returns: its outputs, where they live, and what to show."""

    outputs: dict[str, str]  # output name -> content fingerprint
    paths: dict[str, str]  # output name -> path under the data root
    summary: dict[str, Any] = field(default_factory=dict)  # counts shown by `desa status`
    rows: list[dict[str, Any]] = field(default_factory=list)  # the artifact table


def read_state(fs: fsspec.AbstractFileSystem, path: str) -> StageState | None:
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as handle:
        return StageState(**json.load(handle))


def write_state(fs: fsspec.AbstractFileSystem, path: str, state: StageState) -> None:
    data = json.dumps(asdict(state), indent=2, sort_keys=True, default=str).encode()
    atomic_write_bytes(fs, path, data)
