"""The stage framework without Prefect: cache keys, freshness, downstream propagation."""

import errno
from pathlib import Path

import pytest

from flows.settings import Settings
from flows.stage import StageContext, StageDef, execute, freshness
from storage.errors import DiskFull
from storage.fingerprint import sha256_bytes
from storage.layout import DataRoot, Product
from storage.lock import StageLock
from storage.state import StageResult

FIRST = Product("source", "first", "first.txt")


class Pipeline:
    """Two toy stages: `source` copies an input file, `derived` reads `source`'s output."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = DataRoot(tmp_path / "root")
        self.input = tmp_path / "input.txt"
        self.input.write_text("a,b")
        self.runs: list[str] = []
        self.source = StageDef(
            name="source",
            version="1",
            reads=(),
            config=lambda s: {"seed": s.sky.seed},
            body=self._source,
            external_inputs=lambda ctx: {"file": sha256_bytes(self.input.read_bytes())},
        )
        self.derived = StageDef(
            name="derived",
            version="1",
            reads=(FIRST,),
            config=lambda s: {},
            body=self._derived,
        )

    def _source(self, ctx: StageContext) -> StageResult:
        self.runs.append("source")
        first = self.input.read_text().split(",")[0]
        path = self.root.of(FIRST)
        self.root.fs.makedirs(self.root.root, exist_ok=True)
        self.root.fs.pipe_file(path, first.encode())
        return StageResult({"first": sha256_bytes(first.encode())}, {"first": path})

    def _derived(self, ctx: StageContext) -> StageResult:
        self.runs.append("derived")
        return StageResult({}, {}, {"n": 1})

    def rebuild(self, settings: Settings, force: bool = False) -> None:
        for stage in (self.source, self.derived):
            execute(stage, StageContext(settings, self.root, force), log=lambda _: None)


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return Pipeline(tmp_path)


def test_unchanged_stages_are_skipped(pipeline: Pipeline) -> None:
    settings = Settings()
    pipeline.rebuild(settings)
    pipeline.rebuild(settings)
    assert pipeline.runs == ["source", "derived"]


def test_force_reruns(pipeline: Pipeline) -> None:
    pipeline.rebuild(Settings())
    pipeline.rebuild(Settings(), force=True)
    assert pipeline.runs == ["source", "derived"] * 2


def test_input_change_that_changes_output_reruns_downstream(pipeline: Pipeline) -> None:
    pipeline.rebuild(Settings())
    pipeline.input.write_text("z,b")
    fresh = freshness(pipeline.source, StageContext(Settings(), pipeline.root))
    assert not fresh.fresh and fresh.reason == "inputs changed: file"
    pipeline.rebuild(Settings())
    assert pipeline.runs == ["source", "derived", "source", "derived"]


def test_input_change_that_leaves_output_equal_stops_there(pipeline: Pipeline) -> None:
    pipeline.rebuild(Settings())
    pipeline.input.write_text("a,CHANGED")
    pipeline.rebuild(Settings())
    assert pipeline.runs == ["source", "derived", "source"]


def test_config_change_reruns_with_reason(pipeline: Pipeline) -> None:
    pipeline.rebuild(Settings())
    changed = Settings(sky={"seed": 99})
    assert freshness(pipeline.source, StageContext(changed, pipeline.root)).reason == (
        "config changed: seed"
    )


def test_missing_output_reruns(pipeline: Pipeline) -> None:
    pipeline.rebuild(Settings())
    Path(pipeline.root.path("first.txt")).unlink()
    now = freshness(pipeline.source, StageContext(Settings(), pipeline.root))
    assert now.reason == "outputs missing: first"


def test_downstream_waits_for_upstream(pipeline: Pipeline) -> None:
    now = freshness(pipeline.derived, StageContext(Settings(), pipeline.root))
    assert now.key is None and now.reason == "waiting for source"
    with pytest.raises(RuntimeError, match="waiting for source"):
        execute(pipeline.derived, StageContext(Settings(), pipeline.root))


def test_failed_body_writes_no_state(pipeline: Pipeline) -> None:
    def boom(ctx: StageContext) -> StageResult:
        raise OSError("disk full")

    broken = StageDef("source", "1", (), lambda s: {}, boom)
    with pytest.raises(OSError):
        execute(broken, StageContext(Settings(), pipeline.root))
    assert not pipeline.root.fs.exists(pipeline.root.state_path("source"))


def test_a_running_stage_holds_its_lock(pipeline: Pipeline) -> None:
    root = pipeline.root
    root.fs.makedirs(root.path("state"), exist_ok=True)
    lock = StageLock(root.fs, root.lock_path("source"), owner="other run")
    with lock, pytest.raises(RuntimeError, match="other run"):
        execute(pipeline.source, StageContext(Settings(), root))


def test_a_full_disk_in_a_stage_says_so_and_publishes_no_state(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    def full(ctx: StageContext) -> StageResult:
        raise OSError(errno.ENOSPC, "No space left on device", ctx.root.path("spectra.zarr"))

    stage = StageDef(name="spectra", version="1", reads=(), config=lambda s: {}, body=full)
    with pytest.raises(DiskFull) as raised:
        execute(stage, StageContext(Settings(), pipeline.root), log=lambda _: None)
    message = str(raised.value)
    assert message.startswith(f"spectra writing: the disk holding {pipeline.root.path()}")
    assert "is full (" in message and "MB free of" in message and "run again" in message
    assert not Path(pipeline.root.state_path("spectra")).exists()
    assert not Path(pipeline.root.lock_path("spectra")).exists()
