import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from desa.training.config import ComparisonConfig, TrainingConfig
from flows.settings import Settings, TrainingSettings


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


def test_the_training_section_is_the_library_config_and_where_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(TrainingSettings.model_fields) - set(TrainingConfig.model_fields) == {"work_pool"}
    monkeypatch.setenv("DESA_TRAINING__ACCELERATOR", "cpu")
    monkeypatch.setenv("DESA_TRAINING__DUALFORMER__LR", "0.5")
    monkeypatch.setenv("DESA_TRAINING__WORK_POOL", "")  # empty: in-process
    training = Settings().training
    assert isinstance(training, TrainingConfig)
    assert training.accelerator == "cpu" and training.dualformer.lr == 0.5
    assert training.work_pool is None


def test_the_comparison_part_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESA_PROFILE", "paper")
    monkeypatch.setenv("DESA_TRAINING__PRIORS", '["teff", "ruwe"]')
    monkeypatch.setenv("DESA_TRAINING__REFERENCE_CROSS_BUG", "true")
    monkeypatch.setenv("DESA_EVALUATE__ABLATIONS", "true")
    assert Settings().comparison() == ComparisonConfig(
        profile="paper",
        priors=("teff", "ruwe"),
        ablations=True,
        binary_without_ruwe=False,
        reference_cross_bug=True,
    )
    # the demo profile's default scores the binary task without RUWE too
    assert Settings(profile="demo").comparison().binary_without_ruwe


def test_reading_the_settings_loads_neither_prefect_nor_torch() -> None:
    code = (
        "import sys\n"
        "from flows.settings import Settings\n"
        "Settings()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'torch'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
