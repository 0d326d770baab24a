"""State records hold paths relative to the data root: a copied root is fresh where it stands,
reads only its own files, and records written with full paths are still read in place."""

import json
import shutil
from pathlib import Path

from flows.settings import Settings
from flows.stage import StageContext, StageDef, execute, freshness
from storage.fingerprint import fingerprint_json, sha256_bytes
from storage.layout import DataRoot
from storage.state import StageResult, read_state


def _write(ctx: StageContext) -> StageResult:
    path = ctx.root.path("out.txt")
    ctx.root.fs.makedirs(ctx.root.root, exist_ok=True)
    ctx.root.fs.pipe_file(path, b"out")
    return StageResult({"out": sha256_bytes(b"out")}, {"out": path}, {"where": path})


# Like demo-sky: the mirror (inside the root by default) is part of the stage's config.
STAGE = StageDef("mirrored", "1", (), lambda s: {"mirror": s.mirror_url, "seed": 1}, _write)


def _context(root: Path) -> StageContext:
    return StageContext(Settings(data_root=str(root)), DataRoot(root))


def _build(root: Path) -> None:
    execute(STAGE, _context(root), log=lambda _: None)


def test_the_record_holds_paths_relative_to_the_root(tmp_path: Path) -> None:
    _build(tmp_path / "root")
    ctx = _context(tmp_path / "root")
    state = read_state(ctx.root.fs, ctx.root.state_path("mirrored"))
    assert state.paths == {"out": "out.txt"} and state.summary == {"where": "out.txt"}
    assert state.config == {"mirror": "mirror", "seed": 1}


def test_a_copied_root_is_fresh_where_it_stands(tmp_path: Path) -> None:
    _build(tmp_path / "root")
    shutil.copytree(tmp_path / "root", tmp_path / "copy")
    shutil.rmtree(tmp_path / "root")
    now = freshness(STAGE, _context(tmp_path / "copy"))
    assert (now.fresh, now.reason) == (True, "up to date")


def test_a_copy_checks_its_own_outputs(tmp_path: Path) -> None:
    _build(tmp_path / "root")
    shutil.copytree(tmp_path / "root", tmp_path / "copy")
    (tmp_path / "copy" / "out.txt").unlink()  # the original still has it
    now = freshness(STAGE, _context(tmp_path / "copy"))
    assert (now.fresh, now.reason) == (False, "outputs missing: out")


def test_a_mirror_outside_the_root_stays_a_full_url(tmp_path: Path) -> None:
    mirror = tmp_path / "shared-mirror"
    settings = Settings(data_root=str(tmp_path / "root"), sky={"mirror": str(mirror)})
    now = freshness(STAGE, StageContext(settings, DataRoot(tmp_path / "root")))
    assert now.config["mirror"] == mirror.resolve().as_uri()


def _write_full_path_record(root: Path) -> Path:
    """Rewrite the stage's record as the code before relative paths wrote it: full paths, and
    a key made of the full mirror URL."""
    record_path = root / "state" / "mirrored.json"
    record = json.loads(record_path.read_text())
    config = {"mirror": Settings(data_root=str(root)).mirror_url, "seed": 1}
    content = {"stage": "mirrored", "version": "1", "config": config, "inputs": {}}
    record |= {"config": config, "key": fingerprint_json(content)}
    record["paths"] = {"out": str(root / "out.txt")}
    record_path.write_text(json.dumps(record))
    return record_path


def test_a_record_written_with_full_paths_is_read_in_place(tmp_path: Path) -> None:
    """A record from before paths were relative: its key was made of the full mirror URL."""
    root = tmp_path / "root"
    _build(root)
    _write_full_path_record(root)
    now = freshness(STAGE, _context(root))
    assert (now.fresh, now.reason) == (True, "up to date")
    (root / "out.txt").unlink()
    assert freshness(STAGE, _context(root)).reason == "outputs missing: out"
    changed = StageDef("mirrored", "1", (), lambda s: {"mirror": s.mirror_url, "seed": 2}, _write)
    assert freshness(changed, _context(root)).reason == "config changed: seed"


def test_a_rebuild_in_place_rewrites_such_a_record_with_relative_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _build(root)
    record_path = _write_full_path_record(root)
    assert not execute(STAGE, _context(root), log=lambda _: None).ran
    state = read_state(DataRoot(root).fs, str(record_path))
    assert state.paths == {"out": "out.txt"} and state.config["mirror"] == "mirror"
    shutil.move(root, tmp_path / "moved")
    now = freshness(STAGE, _context(tmp_path / "moved"))
    assert (now.fresh, now.reason) == (True, "up to date")
