"""The CLI's progress bars, and `desa status` without a server or with one that is down (with a
live server: tests/flows/test_served_stack.py)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from flows import progress
from flows.cli import app
from flows.progress import StageProgress

WIDE = {"COLUMNS": "250"}  # the status table whole, links unbroken


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_without_a_terminal_run_draws_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.pipeline

    bars = []

    def stage_flow(force: bool) -> None:
        with StageProgress("demo-sky", "files", 2) as bar:
            bar.advance(2)
            bars.append((progress._display, bar._bar))

    monkeypatch.setattr(flows.pipeline, "STAGE_FLOWS", {"demo-sky": stage_flow})
    result = CliRunner().invoke(app, ["run", "demo-sky"])
    assert result.exit_code == 0, result.output
    assert bars == [(None, None)] and result.output == ""


def test_status_without_a_server_asks_no_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import prefect.client.orchestration

    def no_client(*args, **kwargs):
        raise AssertionError("status made a Prefect client")

    monkeypatch.setattr(prefect.client.orchestration, "get_client", no_client)
    monkeypatch.setitem(sys.modules, "flows.last_runs", None)  # importing it fails
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    assert PREFECT_API_URL.value() is None
    result = CliRunner().invoke(app, ["status"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "demo-sky" in result.output and "flow run" not in result.output


def test_status_says_in_one_line_when_the_server_is_down(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    url = f"http://127.0.0.1:{_free_port()}/api"  # nothing listens there
    with temporary_settings({PREFECT_API_URL: url}):
        result = CliRunner().invoke(app, ["status"], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "not reachable" in line]
    assert len(lines) == 1 and url in lines[0], result.output
    assert "demo-sky" in result.output and "flow run" not in result.output
