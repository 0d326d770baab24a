from pathlib import Path

import pytest
from pydantic import ValidationError

from desa.config import Settings


def test_demo_profile_reads_the_local_mirror(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    settings = Settings()
    assert settings.profile == "demo"
    assert settings.mirror_url == (tmp_path / "mirror").as_uri()
    assert settings.archive.lamost_base_url == f"{settings.mirror_url}/lamost"
    assert settings.archive.lamost_mode == "tree"
    assert settings.archive.catalog_mirror_url == settings.mirror_url


def test_a_mirror_given_as_a_folder_is_read_as_a_file_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESA_SKY__MIRROR", str(tmp_path / "elsewhere"))
    assert Settings().mirror_url == (tmp_path / "elsewhere").as_uri()
    monkeypatch.setenv("DESA_SKY__MIRROR", "http://127.0.0.1:9/mirror/")
    assert Settings().mirror_url == "http://127.0.0.1:9/mirror"


def test_paper_profile_uses_real_archives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESA_PROFILE", "paper")
    settings = Settings()
    assert settings.archive.lamost_base_url == "https://www.lamost.org/openapi"
    assert settings.archive.lamost_mode == "openapi"
    assert settings.archive.catalog_mirror_url is None


def test_env_and_toml_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desa.toml").write_text("[fetch]\nconcurrency = 3\nretries = 9\n")
    monkeypatch.setenv("DESA_FETCH__CONCURRENCY", "7")
    settings = Settings()
    assert settings.fetch.concurrency == 7  # environment beats the file
    assert settings.fetch.retries == 9


def test_unknown_and_invalid_settings_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        Settings(fetch={"concurrency": 0})
    with pytest.raises(ValidationError):
        Settings(profile="nope")
