"""Prefect defaults: filled in by the `desa` entry point, never by importing flows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.env import PrefectHomeError, apply_prefect_defaults


def test_defaults_fill_only_what_the_user_left_unset(tmp_path: Path) -> None:
    mine = str(tmp_path / "mine")
    environ = {"PREFECT_HOME": mine, "PREFECT_API_URL": "http://server:4200/api"}
    apply_prefect_defaults(environ)
    assert environ["PREFECT_HOME"] == mine
    assert environ["PREFECT_API_URL"] == "http://server:4200/api"
    assert environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_no_api_url_is_set_so_runs_are_ephemeral(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "fresh" / "state"))
    environ: dict[str, str] = {}
    apply_prefect_defaults(environ)
    assert "PREFECT_API_URL" not in environ
    assert environ["PREFECT_HOME"] == str(tmp_path / "fresh" / "state" / "desa" / "prefect")
    assert Path(environ["PREFECT_HOME"]).is_dir()  # prefect itself creates only the last level


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "XDG_STATE_HOME": str(tmp_path / "state")}


def test_importing_flows_changes_no_environment_and_makes_no_folder(tmp_path: Path) -> None:
    code = (
        "import os\n"
        "before = dict(os.environ)\n"
        "import flows, flows.env\n"
        "print(dict(os.environ) == before)\n"
    )
    env = _clean_env(tmp_path)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert not (tmp_path / "state").exists()


def test_the_entry_point_applies_the_defaults_before_prefect_is_imported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import flows.entry\n"
        "apply = flows.entry.apply_prefect_defaults\n"
        "def recorded():\n"
        "    print('prefect imported first:', 'prefect' in sys.modules)\n"
        "    apply()\n"
        "flows.entry.apply_prefect_defaults = recorded\n"
        "sys.argv = ['desa', '--help']\n"
        "flows.entry.main()\n"
    )
    env = _clean_env(tmp_path)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "prefect imported first: False" in result.stdout
    assert "Usage" in result.stdout  # and then the CLI ran
    assert (tmp_path / "state" / "desa" / "prefect").is_dir()


def test_a_prefect_home_whose_parent_is_missing_is_made_and_prefect_runs(tmp_path: Path) -> None:
    """Prefect makes only the last level; without the parent its ephemeral server retried
    "unable to open database file" for minutes (the timeout catches that)."""
    home = tmp_path / "missing" / "parents" / "prefect"
    code = (
        "from flows.env import apply_prefect_defaults\n"
        "apply_prefect_defaults()\n"
        "from prefect import flow\n"
        "print('result', flow(lambda: 7, name='probe')())\n"
    )
    env = {**_clean_env(tmp_path), "PREFECT_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=150
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "result 7" in result.stdout
    assert (home / "prefect.db").is_file()


def test_a_prefect_home_that_cannot_be_made_stops_the_command_at_once(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    home = tmp_path / "a-file" / "prefect"
    with pytest.raises(PrefectHomeError, match="a-file/prefect cannot be created"):
        apply_prefect_defaults({"PREFECT_HOME": str(home)})
    env = {**_clean_env(tmp_path), "PREFECT_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "flows", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"desa: PREFECT_HOME={home} cannot be created (Not a directory)")
    assert "unset it" in line
