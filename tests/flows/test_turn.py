"""One pipeline run at a time per data root: refused at once from the CLI, waited for by
deployment runs, never taken by the stage runs inside a rebuild."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from prefect import flow

from flows import pipeline
from flows.turn import PipelineBusy, lock_path, pipeline_turn
from storage.layout import DataRoot
from storage.lock import StageLock


def test_a_second_run_is_refused_with_who_holds_the_pipeline(tmp_path: Path) -> None:
    root = DataRoot(tmp_path)
    busy = r"crossmatch cannot start.*rebuild \(flow run a\)"
    with (
        pipeline_turn(root, "rebuild (flow run a)"),
        pytest.raises(PipelineBusy, match=busy),
        pipeline_turn(root, "crossmatch"),
    ):
        pass
    with pipeline_turn(root, "crossmatch"):  # free again
        assert Path(lock_path(root)).exists()
    assert not Path(lock_path(root)).exists()


def test_a_waiting_run_starts_when_the_holder_finishes(tmp_path: Path) -> None:
    root = DataRoot(tmp_path)
    order: list[str] = []
    said: list[str] = []
    holder = StageLock(root.fs, lock_path(root), owner="rebuild")
    holder.__enter__()

    def release() -> None:
        time.sleep(0.5)
        order.append("rebuild done")
        holder.__exit__(None, None, None)

    threading.Thread(target=release).start()
    with pipeline_turn(root, "catalogs", wait_s=30, poll_s=0.05, log=said.append):
        order.append("catalogs runs")
    assert order == ["rebuild done", "catalogs runs"]
    assert len(said) == 1 and "waiting for the pipeline" in said[0]


def test_a_stage_flow_is_refused_while_another_run_holds_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    root = DataRoot(tmp_path)
    with (
        StageLock(root.fs, lock_path(root), owner="rebuild (flow run other)"),
        pytest.raises(PipelineBusy, match="rebuild"),
    ):
        pipeline.STAGE_FLOWS["crossmatch"]()


def test_stages_inside_a_run_do_not_take_the_pipeline_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    seen: list[bool] = []

    @flow
    def inner() -> None:
        with pipeline._turn("inner"):
            seen.append(Path(lock_path(DataRoot(tmp_path))).exists())

    @flow
    def outer() -> None:
        with pipeline._turn("outer"):
            inner()

    outer()
    assert seen == [True]  # held by outer; inner ran inside it without deadlock
    assert not Path(lock_path(DataRoot(tmp_path))).exists()
