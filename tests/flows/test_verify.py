"""`desa verify [--repair]`: a damaged store, model and table are found, and repair plus
rebuild restores them, redoing only their stages and what depends on changed content.

The end-to-end test builds a small demo root up to `train-spectra`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import rebuild
from flows.settings import Settings
from flows.stage import StageContext, StageDef, execute
from flows.stages import stages_for
from storage import layout
from storage.checksum import checksum
from storage.layout import DataRoot
from storage.state import StageResult, read_state
from storage.tables import read_parquet, write_parquet

UNTIL = "train-spectra"
WIDE = {"COLUMNS": "200"}


def test_execute_records_a_checksum_of_each_output(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "root")

    def body(ctx: StageContext) -> StageResult:
        root.fs.makedirs(root.path("folder"), exist_ok=True)
        root.fs.pipe_file(root.path("folder", "a.bin"), b"a")
        root.fs.pipe_file(root.path("file.txt"), b"b")
        paths = {"folder": root.store_url("folder"), "file": root.path("file.txt")}
        return StageResult({"x": "fingerprint"}, paths)

    stage = StageDef("toy", "1", (), lambda s: {}, body)
    unchecked = StageDef("toy-source", "1", (), lambda s: {}, body, checksummed=False)
    for each in (stage, unchecked):
        execute(each, StageContext(Settings(), root), log=lambda _: None)
    state = read_state(root.fs, root.state_path("toy"))
    assert state.paths == {"folder": "folder", "file": "file.txt"}
    assert state.checksums == {
        "folder": checksum(root.fs, root.path("folder")),
        "file": checksum(root.fs, root.path("file.txt")),
    }
    assert read_state(root.fs, root.state_path("toy-source")).checksums == {}


@pytest.fixture
def demo_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DataRoot:
    data_root = tmp_path / "root"
    monkeypatch.setenv("DESA_DATA_ROOT", str(data_root))
    monkeypatch.setenv("DESA_SKY__N_STARS", "20")
    monkeypatch.setenv("DESA_SKY__SEED", "11")
    monkeypatch.setenv("DESA_SKY__WORKERS", "1")
    monkeypatch.setenv("DESA_TRAINING__ACCELERATOR", "cpu")
    monkeypatch.setenv("DESA_TRAINING__SPECTRA__MAX_EPOCHS", "1")
    # 20 stars: enough validation spectra for a batch
    monkeypatch.setenv("DESA_LABELS__SPLIT_FRACTIONS", "[0.6, 0.2, 0.2]")
    monkeypatch.setenv("DESA_TRAINING__SPECTRA__BATCH_SIZE", "2")
    return DataRoot(data_root)


def _verify(*options: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["verify", *options], env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output.splitlines()


def _outputs(root: DataRoot) -> dict[str, dict[str, str]]:
    stages = [stage.name for stage in stages_for("demo", UNTIL)]
    return {name: read_state(root.fs, root.state_path(name)).outputs for name in stages}


def _chunk(root: DataRoot) -> Path:
    """A data chunk of the spectra store's flux array (beside its zarr.json)."""
    folder = Path(root.of(layout.SPECTRA), "flux")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "zarr.json")[0]


def _ran() -> list[str]:
    return [r["stage"] for r in rebuild(until=UNTIL) if r["ran"]]


@pytest.mark.slow(seconds=75)  # on the 2-core machine
def test_verify_finds_a_corrupted_chunk_a_deleted_model_and_an_edited_table(
    demo_root: DataRoot,
) -> None:
    root = demo_root
    assert _ran() == [stage.name for stage in stages_for("demo", UNTIL)]
    code, lines = _verify()
    assert code == 0, lines
    assert re.match(r"verify: \d+ output\(s\) match their checksums, 0 problem", lines[-1])
    built, chunk, table = _outputs(root), _chunk(root), root.of(layout.CROSSMATCH)
    chunk_bytes, crossmatch = chunk.read_bytes(), read_parquet(root.fs, table)

    chunk.write_bytes(bytes(b ^ 0x5A for b in chunk_bytes))  # same size, other bytes
    root.fs.rm(root.of(layout.SPECTRA_MODEL))
    edited = crossmatch.copy()
    edited.loc[0, "sep_arcsec"] += 1.0
    write_parquet(edited, root.fs, table)  # a valid table with one value changed
    code, lines = _verify()
    assert code == 1
    problems = [line for line in lines if line.split(" ")[0] in ("missing", "changed")]
    assert [line.split(":")[0] for line in problems] == [
        "changed crossmatch",
        "changed spectra",
        "missing train-spectra",
    ], lines
    assert "crossmatch (crossmatch.parquet)" in problems[0]
    assert "store (spectra.zarr)" in problems[1]
    assert "model (models/train-spectra.ckpt)" in problems[2]
    assert re.match(r"verify: \d+ output\(s\) match .*, 3 problem\(s\) in 3 stage", lines[-1])

    code, lines = _verify("--repair")
    assert code == 1
    assert {"removed crossmatch.parquet", "removed spectra.zarr"} <= set(lines), lines
    # Only the damaged stages rerun: the redone crossmatch and store hold what they held, so
    # the stages that read them (fetch-*, lightcurves, labels) keep their cache keys.
    assert _ran() == ["crossmatch", "spectra", "train-spectra"]
    assert _verify()[0] == 0
    assert _chunk(root).read_bytes() == chunk_bytes
    pd.testing.assert_frame_equal(read_parquet(root.fs, table), crossmatch)
    restored = _outputs(root)
    assert {k: v for k, v in restored.items() if k != UNTIL} == {
        k: v for k, v in built.items() if k != UNTIL
    }
