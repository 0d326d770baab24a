"""`desa verify`'s library: published outputs checked against the checksums of their records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from storage import zarr_store
from storage.checksum import checksum, output_checksums
from storage.layout import DataRoot
from storage.publish import atomic_write_bytes, temp_path_for
from storage.state import StageState, read_state, write_state
from storage.tables import read_parquet, write_parquet
from storage.verify import CHANGED, MISSING, STATE_RECORD, UNREADABLE, repair, verify_root

TABLE, STORE, DOC, MODELS = "table.parquet", "store.zarr", "doc.json", "models"


def _publish(root: DataRoot) -> None:
    """A stage `made` with a table, a Zarr store, a JSON file and a folder of 'models', and
    a stage `older` whose record predates checksums; both records written as execute does."""
    write_parquet(pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}), root.fs, root.path(TABLE))
    template = xr.Dataset({"flux": (("row", "pixel"), np.zeros((0, 4), "float32"))})
    url = root.store_url(STORE)
    zarr_store.create(url, template, "row", 2, {})
    zarr_store.resize(url, "row", 4)
    rows = xr.Dataset({"flux": (("row", "pixel"), np.arange(16, dtype="float32").reshape(4, 4))})
    zarr_store.write_region(url, rows, "row", 0)
    zarr_store.consolidate(url)
    root.fs.pipe_file(root.path(DOC), json.dumps({"a": 1}).encode())
    for name in ("one", "two"):
        atomic_write_bytes(root.fs, root.path(MODELS, f"{name}.bin"), name.encode() * 100)
    paths = {"table": TABLE, "store": STORE, "doc": DOC, "models": MODELS}
    made = StageState("made", "k", "1", {}, {}, {}, paths, "", "", 0.0)
    write_state(root.fs, root.state_path("made"), replace(made, checksums=_sums(root, paths)))
    root.fs.pipe_file(root.path("old.json"), b"[]")
    older = replace(made, stage="older", paths={"doc": "old.json"})
    write_state(root.fs, root.state_path("older"), older)


def _sums(root: DataRoot, paths: dict[str, str]) -> dict[str, str]:
    return output_checksums(root, paths)


@pytest.fixture
def root(tmp_path: Path) -> DataRoot:
    root = DataRoot(tmp_path / "root")
    _publish(root)
    return root


def _problems(root: DataRoot) -> list[tuple[str, str, str]]:
    found = verify_root(root, ["made", "older", "never"])
    return [(f.stage, f.output, f.problem) for f in found.findings]


def _chunk(root: DataRoot) -> Path:
    """One data chunk of the store's flux array (Zarr v3: beside the array's zarr.json)."""
    folder = Path(root.path(STORE, "flux"))
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "zarr.json")[0]


def test_published_outputs_match_their_records(root: DataRoot) -> None:
    found = verify_root(root, ["made", "older", "never"])
    assert found.ok and found.findings == []
    assert found.checked == 4
    assert found.not_recorded == [("older", "doc")]
    assert found.never_run == ["never"]


def test_a_corrupted_chunk_a_deleted_file_and_an_edited_table_are_found(root: DataRoot) -> None:
    chunk = _chunk(root)
    chunk.write_bytes(bytes(b ^ 0xFF for b in chunk.read_bytes()))  # same size, other bytes
    root.fs.rm(root.path(MODELS, "two.bin"))
    edited = read_parquet(root.fs, root.path(TABLE))
    edited.loc[1, "x"] = 20
    write_parquet(edited, root.fs, root.path(TABLE))  # a valid table, one value changed
    assert sorted(_problems(root)) == [
        ("made", "models", CHANGED),
        ("made", "store", CHANGED),
        ("made", "table", CHANGED),
    ]


def test_missing_and_unreadable_outputs_are_found(root: DataRoot) -> None:
    root.fs.rm(root.path(STORE), recursive=True)
    root.fs.pipe_file(root.path(TABLE), b"PAR1 not a table")
    root.fs.pipe_file(root.path("old.json"), b"{ truncated")  # no checksum, still read
    found = verify_root(root, ["made", "older"])
    assert sorted((f.stage, f.output, f.problem) for f in found.findings) == [
        ("made", "store", MISSING),
        ("made", "table", UNREADABLE),
        ("older", "doc", UNREADABLE),
    ]
    detail = {f.output: f.detail for f in found.findings}
    assert "JSONDecodeError" in detail["doc"] and detail["store"] == "no such file or folder"


def test_a_store_without_consolidated_metadata_is_unreadable(root: DataRoot) -> None:
    top = Path(root.path(STORE, "zarr.json"))  # Zarr v3 consolidates into the group's metadata
    meta = json.loads(top.read_text())
    meta.pop("consolidated_metadata")
    top.write_text(json.dumps(meta))
    assert _problems(root) == [("made", "store", UNREADABLE)]


def test_an_unreadable_record_is_found(root: DataRoot) -> None:
    root.fs.pipe_file(root.state_path("made"), b'{"stage": "made"')
    found = verify_root(root, ["made"])
    assert [(f.output, f.problem, f.path) for f in found.findings] == [
        (STATE_RECORD, UNREADABLE, "state/made.json")
    ]
    assert repair(root, found.findings) == ["state/made.json"]
    assert read_state(root.fs, root.state_path("made")) is None  # the stage: never run


def test_a_callers_reader_checks_its_files(root: DataRoot) -> None:
    def refuse_two(fs: object, path: str) -> None:
        if path.endswith("two.bin"):
            raise ValueError("not a model")

    found = verify_root(root, ["made"], readers={".bin": refuse_two})
    assert [(f.output, f.problem) for f in found.findings] == [("models", UNREADABLE)]
    assert found.findings[0].detail == "two.bin: ValueError: not a model"


def test_repair_removes_what_is_damaged_and_keeps_the_rest(root: DataRoot) -> None:
    chunk = _chunk(root)
    chunk.write_bytes(chunk.read_bytes() + b"x")
    root.fs.rm(root.path(DOC))
    found = verify_root(root, ["made"])
    assert repair(root, found.findings) == [STORE]  # the missing one is already gone
    assert not root.fs.exists(root.path(STORE))
    assert root.fs.exists(root.path(TABLE)) and root.fs.exists(root.path(MODELS))
    assert read_state(root.fs, root.state_path("made")) is not None


def test_a_folder_checksum_skips_temporaries_and_sees_names(root: DataRoot) -> None:
    folder = root.path(MODELS)
    before = checksum(root.fs, folder)
    root.fs.pipe_file(temp_path_for(root.path(MODELS, "three.bin")), b"half written")
    assert checksum(root.fs, folder) == before
    root.fs.mv(root.path(MODELS, "two.bin"), root.path(MODELS, "three.bin"))
    assert checksum(root.fs, folder) != before  # same bytes under another name


def test_a_file_checksum_is_its_sha256(root: DataRoot) -> None:
    data = Path(root.path(DOC)).read_bytes()
    assert checksum(root.fs, root.path(DOC)) == hashlib.sha256(data).hexdigest()
