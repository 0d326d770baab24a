from pathlib import Path

import pytest

from flows.env import apply_prefect_defaults


def test_defaults_fill_only_what_the_user_left_unset() -> None:
    environ = {"PREFECT_HOME": "/mine", "PREFECT_API_URL": "http://server:4200/api"}
    apply_prefect_defaults(environ)
    assert environ["PREFECT_HOME"] == "/mine"
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
