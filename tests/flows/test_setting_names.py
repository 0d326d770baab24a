"""An unknown key in desa.toml or an unknown DESA_ variable is an error naming the closest key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from flows.setting_names import NOT_SETTINGS, UnknownSetting, check_environment, check_table
from flows.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TYPO = "DESA_DASK__CONCURENCY"


def test_a_misspelt_variable_names_the_closest_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TYPO, "3")
    with pytest.raises(UnknownSetting) as raised:
        Settings()
    assert raised.value.key == TYPO
    assert raised.value.suggestion == "DESA_FETCH__CONCURRENCY"


def test_a_misspelt_nested_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESA_TRAINING__DUALFORMER__LRR", "0.1")
    with pytest.raises(UnknownSetting, match="did you mean DESA_TRAINING__DUALFORMER__LR\\?"):
        Settings()


@pytest.mark.parametrize(
    ("toml", "key", "suggestion"),
    [
        ("[fetch]\nconcurency = 3\n", "fetch.concurency", "fetch.concurrency"),
        ("[training.dualformer]\nlrr = 0.1\n", "training.dualformer.lrr", "training.dualformer.lr"),
        ("[sky]\nn_star = 50\n", "sky.n_star", "sky.n_stars"),
        ("[fech]\nretries = 5\n", "fech", "fetch"),
    ],
)
def test_an_unknown_key_in_the_file_names_the_closest_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toml: str, key: str, suggestion: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desa.toml").write_text(toml)
    with pytest.raises(UnknownSetting) as raised:
        Settings()
    assert (raised.value.key, raised.value.suggestion) == (key, suggestion)
    assert str(raised.value).startswith("desa.toml: unknown setting ")


def test_a_section_given_as_json_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESA_FETCH", '{"retries": 2}')
    assert Settings().fetch.retries == 2
    monkeypatch.setenv("DESA_FETCH", '{"retrys": 2}')
    with pytest.raises(UnknownSetting) as raised:
        Settings()
    assert str(raised.value) == (
        "environment DESA_FETCH: unknown setting fetch.retrys; did you mean fetch.retries?"
    )


def test_every_setting_and_free_table_is_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desa.toml").write_text(
        'profile = "paper"\n[dask.cluster_kwargs]\nqueue = "gpu"\n[training.finetune]\nlr = 0.01\n'
    )
    monkeypatch.setenv("DESA_DASK_ADDRESS", "tcp://x:8786")
    monkeypatch.setenv("desa_fetch__retries", "2")  # read case-insensitively, like Settings
    settings = Settings()
    assert settings.dask.cluster_kwargs == {"queue": "gpu"}
    assert settings.training.finetune.lr == 0.01 and settings.fetch.retries == 2


def test_every_desa_variable_the_repository_uses_is_a_setting_or_declared() -> None:
    """The compose file, .env.example, docs, tests and scripts set only names Settings knows."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    used: set[str] = set()
    for name in tracked:
        path = REPO / name
        if path.is_file() and path.suffix not in {".png", ".fits", ".gz"}:
            text = path.read_text(errors="replace")
            used |= set(re.findall(r"\bDESA_[A-Z0-9_]*[A-Z0-9]\b", text))
    # deliberate typos (this module, the README) and test_compose.py's made-up variables
    used -= {TYPO, "DESA_TRAINING__DUALFORMER__LRR", "DESA_NEW", "DESA_UNDOCUMENTED"}
    assert len(used) > 30
    for name in sorted(used):
        check_environment({name: "x"}, Settings)
    assert used >= NOT_SETTINGS  # each exception is still needed


class _Inner(BaseModel):
    speed: int = 1


class _Outer(BaseModel):
    inner: _Inner | None = None
    extra_args: dict[str, int] = {}


def test_names_come_from_the_models_including_optional_sections_and_free_tables() -> None:
    check_table({"inner": {"speed": 2}, "extra_args": {"anything": 1}}, _Outer, "f.toml")
    with pytest.raises(UnknownSetting, match=r"^f.toml: unknown setting inner.sped; did you"):
        check_table({"inner": {"sped": 2}}, _Outer, "f.toml")


def _desa(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DESA_", "PREFECT_"))}
    return subprocess.run(
        [sys.executable, "-m", "flows", *args],
        env={**base, "PYTHONPATH": str(REPO), "XDG_STATE_HOME": str(cwd / "state"), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_stops_with_one_line_naming_the_typo(tmp_path: Path) -> None:
    result = _desa(["status"], {TYPO: "3"}, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "desa: environment: unknown setting DESA_DASK__CONCURENCY; "
        "did you mean DESA_FETCH__CONCURRENCY?"
    ]
    (tmp_path / "desa.toml").write_text("[fetch]\nconcurrency = 0\n")
    result = _desa(["status"], {}, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "desa: invalid settings: fetch.concurrency: Input should be greater than or equal to 1"
        " (got '0')"
    ]
