"""Stage progress: throttled progress artifacts in flow runs, bars only on a terminal."""

from __future__ import annotations

import io
import itertools
import logging

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.logging.handlers import APILogHandler, PrefectConsoleHandler
from rich.console import Console

from flows import progress
from flows.progress import DETAIL_LOGGERS, StageProgress, Throttle, terminal_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_throttle_sends_at_most_one_update_a_second_and_a_percent() -> None:
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    assert throttle(0.0)  # the first
    now[0] = 5.0
    assert not throttle(0.5)  # under a percent, however late
    assert throttle(1.0)
    assert not throttle(50.0)  # within the second
    now[0] = 5.5
    assert not throttle(60.0)
    assert throttle(100.0)  # the final one at once
    assert not throttle(100.0)  # and once


def test_outside_a_run_progress_only_counts() -> None:
    with StageProgress("spectra", "objects", 3) as bar:
        bar.advance()
        assert bar.percent == 33.3 and bar.description == "spectra: 1 of 3 objects"
    assert bar.percent == 100.0
    assert StageProgress("spectra", "objects", 0).percent == 100.0  # nothing to do


def test_a_progress_in_a_flow_run_keeps_a_progress_artifact(monkeypatch) -> None:
    sent = []
    update = progress.update_progress_artifact

    def counted(artifact_id, percent, description):
        sent.append(percent)
        return update(artifact_id, percent, description)

    monkeypatch.setattr(progress, "update_progress_artifact", counted)
    ticks = itertools.count(0, 1 / 64)  # one tick a shard, exact in binary: 500 shards, 7.8 s

    @flow
    def shards() -> None:
        clock = lambda: next(ticks)  # noqa: E731
        with StageProgress("progress-test", "shards", 500, label="a", clock=clock) as bar:
            for _ in range(500):
                bar.advance()

    shards()
    # One call a second (64 shards), then the final 100 at once.
    assert sent == [12.8, 25.6, 38.4, 51.2, 64.0, 76.8, 89.6, 100.0]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["progress-test-a-progress"]))
        )
    assert [(a.type, a.data) for a in artifacts] == [("progress", 100.0)]
    assert artifacts[0].description == "progress-test a: 500 of 500 shards"


def test_a_failure_keeps_where_it_stopped_and_outside_a_terminal_no_bar_is_drawn() -> None:
    out = io.StringIO()

    @flow
    def fails() -> None:
        with StageProgress("progress-test", "files", 4, label="b") as bar:
            bar.advance(3)
            assert bar._bar is None  # not a terminal: no bar
            raise RuntimeError("stopped")

    with terminal_progress(Console(file=out)):
        state = fails(return_state=True)
    assert state.is_failed() and out.getvalue() == ""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["progress-test-b-progress"]))
        )
    assert [a.data for a in artifacts] == [75.0]


def _record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


def test_on_a_terminal_bars_show_and_detail_lines_stay_off_the_console() -> None:
    # The detail loggers hand their records to the run loggers' API handlers.
    for name in DETAIL_LOGGERS:
        parent = logging.getLogger(name.rpartition(".")[0])
        assert logging.getLogger(name).propagate
        assert any(isinstance(h, APILogHandler) for h in parent.handlers)
    screen, stderr = _Terminal(), _Terminal()
    console_handler = PrefectConsoleHandler(stream=stderr)
    logging.getLogger().addHandler(console_handler)
    try:
        with terminal_progress(Console(file=screen, force_terminal=True, width=100)):
            with StageProgress("spectra", "objects", 10) as bar:
                bar.advance(3)
                progress._display.bars.refresh()
                console_handler.handle(_record("prefect.task_runs.progress", "epoch 1 line"))
                console_handler.handle(_record("prefect.flow_runs", "stage line"))
            assert not progress._display.bars.tasks  # a finished progress leaves
        console_handler.handle(_record("prefect.task_runs.progress", "epoch 2 line"))
    finally:
        logging.getLogger().removeHandler(console_handler)
    assert progress._display is None
    shown = screen.getvalue()
    assert "spectra" in shown and "3/10" in shown and "objects" in shown
    assert "stage line" in shown  # printed above the bars, not across them
    assert "epoch 1" not in shown + stderr.getvalue()
    assert "epoch 2 line" in stderr.getvalue()  # console as before once the bars are gone
