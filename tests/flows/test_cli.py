"""The CLI's progress bars, `desa status` without a server or with one that is down (with a
live server: tests/flows/test_served_stack.py), `desa rebuild` while the pipeline is busy."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from flows import progress
from flows.cli import app
from flows.progress import StageProgress
from flows.turn import lock_path
from storage import layout
from storage.layout import DataRoot
from storage.lock import StageLock
from storage.publish import atomic_write_bytes
from tests.support.products import write_embeddings_store, write_star_labels

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


def test_report_table_prints_the_markdown_table_from_metrics(tmp_path: Path) -> None:
    metrics = {
        "models": ["desa", "moco"],
        "headline": ["binary_auc"],
        "higher_is_better": {"binary_auc": True},
        "bootstrap": {
            "resamples": 1000,
            "level": 0.95,
            "seed": 7,
            "unit": "test star",
            "held_fixed": "the heads",
            "reference": "desa",
        },
        "desa": {"embedding_width": 28, "binary_auc": 0.91, "binary_auc_ci": [0.85, 0.96]},
        "moco": {
            "embedding_width": 16,
            "binary_auc": 0.8,
            "binary_auc_ci": [0.7, 0.9],
            "vs_desa": {
                "reference": "desa",
                "metrics": {
                    "binary_auc": {
                        "diff": 0.11,
                        "diff_ci": [-0.01, 0.2],
                        "n_stars": 40,
                        "verdict": "not resolved",
                    }
                },
            },
        },
    }
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics))
    result = CliRunner().invoke(app, ["report", "table", "--metrics", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "| model | width | few-shot fit stars (CMD / HR) | binary AUC ↑ |"
    assert lines[2] == "| desa | 28 | – / – | 0.910 [0.850, 0.960] |"
    assert "| moco | +0.110 [-0.010, 0.200] not resolved |" in lines
    assert "ahead" not in result.output.replace('"ahead"', "")
    assert "1000 resamples (seed 7)" in result.output
    missing = CliRunner().invoke(
        app, ["report", "table", "--metrics", str(tmp_path / "no")], env=WIDE
    )
    assert missing.exit_code != 0 and "does not exist" in missing.output
    path.write_text(json.dumps({"desa": {}}))
    old = CliRunner().invoke(app, ["report", "table", "--metrics", str(path)], env=WIDE)
    assert old.exit_code != 0 and "older evaluate stage" in old.output


def test_neighbors_lists_the_nearest_stars_with_their_labels(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    missing = CliRunner().invoke(app, ["neighbors", "1000"], env=WIDE)
    assert missing.exit_code != 0 and "run `desa rebuild`" in missing.output
    root = DataRoot(tmp_path)
    write_embeddings_store(root, 6, ("desa",))
    write_star_labels(root)
    result = CliRunner().invoke(app, ["neighbors", "1003", "-k", "5"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "5 nearest stars to KIC 1003 (desa)" in result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "5100" in rows["1000"] and "main_sequence" in rows["1000"]
    assert "giant" in rows["1002"] and "6000" in rows["1001"]
    unknown = CliRunner().invoke(app, ["neighbors", "1003", "--model", "vicreg"], env=WIDE)
    assert unknown.exit_code != 0 and "unknown embedding" in unknown.output


def test_report_table_reads_the_data_root_s_metrics_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    result = CliRunner().invoke(app, ["report", "table"], env=WIDE)
    assert result.exit_code != 0 and "metrics.json does not exist" in result.output
    root = DataRoot(tmp_path)
    atomic_write_bytes(root.fs, root.of(layout.METRICS), json.dumps({"desa": {}}).encode())
    old = CliRunner().invoke(app, ["report", "table"], env=WIDE)
    assert old.exit_code != 0 and "report/metrics.json: " in old.output


def test_rebuild_while_another_run_holds_the_pipeline_says_busy_even_when_up_to_date(
    recorded_root: Path,
) -> None:
    """A running rebuild rewrites stages whose records still look up to date: `desa rebuild`
    says the pipeline is busy rather than that there is nothing to run."""
    root = DataRoot(recorded_root)
    idle = CliRunner().invoke(app, ["rebuild"], env=WIDE)
    assert idle.exit_code == 0 and "nothing to run" in idle.output, idle.output
    with StageLock(root.fs, lock_path(root), owner="rebuild (flow run served-1)"):
        busy = CliRunner().invoke(app, ["rebuild"], env=WIDE)
    assert busy.exit_code == 1, busy.output
    assert "cannot start" in busy.output and "rebuild (flow run served-1)" in busy.output
    assert "nothing to run" not in busy.output
