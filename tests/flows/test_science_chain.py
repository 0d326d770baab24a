"""The whole chain on the demo sky: every model learns and is published, the comparison and
the report are produced, the report opens in a browser, training resumes after SIGKILL.

The tests of this module share one data root (a 400-star demo sky, trained with the demo
profile's settings; `make run`'s 1000 stars would more than double the suite's longest
module, and at 300 stars the spectra encoder's log g no longer beats a constant) and run in
file order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from desa.training.checkpoints import CheckpointError, model_state, read_checkpoint
from desa.training.comparison import DUALFORMER, comparison_models
from flows.clients import load_settings
from flows.pipeline import rebuild
from flows.stage import StageContext, plan
from flows.stages import stages_for
from storage.layout import DataRoot
from storage.state import read_state
from storage.tables import read_parquet

pytestmark = pytest.mark.slow(seconds=300)  # on the 2-core machine
TRAINING = ("train-spectra", "train-lightcurves", "train-dualformer", "train-baselines")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train")


@pytest.fixture(autouse=True)
def demo_env(monkeypatch: pytest.MonkeyPatch, data_root: Path) -> DataRoot:
    monkeypatch.setenv("DESA_DATA_ROOT", str(data_root))
    monkeypatch.setenv("DESA_TRAINING__ACCELERATOR", "cpu")
    monkeypatch.setenv("DESA_SKY__N_STARS", "400")
    return DataRoot(data_root)


def _models() -> tuple:
    return comparison_models(load_settings().comparison())


def _compared() -> list[str]:
    return [m.name for m in _models() if not m.binary_only]


def _summary(root: DataRoot, stage: str) -> dict:
    return read_state(root.fs, root.state_path(stage)).summary


def test_the_demo_chain_trains_every_model_and_each_learns(demo_env: DataRoot) -> None:
    results = rebuild()
    assert [r["stage"] for r in results if r["ran"]] == [s.name for s in stages_for("demo")]
    root = demo_env

    spectra = _summary(root, "train-spectra")
    for label in ("teff", "logg", "feh"):  # beats predicting the training median
        assert spectra[f"{label}_mae"] < spectra[f"{label}_constant_mae"], (label, spectra)
    # Split-conformal coverage scatters with both the calibration and the test draw: allow
    # three standard errors of the two together.
    nominal = spectra["coverage_nominal"]
    spread = nominal * (1 - nominal) * (1 / spectra["n_test"] + 1 / spectra["n_calibration"])
    assert abs(spectra["coverage"] - nominal) <= 3 * spread**0.5, spectra
    for stage in ("train-spectra", "train-lightcurves"):
        losses = _summary(root, stage)
        assert losses["last_train_loss"] < losses["first_train_loss"], (stage, losses)
    models = _models()
    # the demo compares the controls and, for the binary task, every model without RUWE
    names = {m.name for m in models}
    assert {"desa", "desa_no_priors", "priors_only", "desa_no_ruwe", "moco_no_ruwe"} <= names
    for m in (m for m in models if m.trained):
        stage = "train-dualformer" if m.kind == DUALFORMER else "train-baselines"
        losses = _summary(root, stage)[m.name]
        assert losses["last_train_loss"] < losses["first_train_loss"], (m.name, losses)
    finetune = _summary(root, "finetune")
    for name, losses in finetune["head_losses"].items():
        assert losses["last_train_loss"] < losses["first_train_loss"], (name, losses)

    for path in ("train-spectra", "train-lightcurves", "dualformer/desa"):
        checkpoint = read_checkpoint(root.fs, root.path("models", f"{path}.ckpt"))
        assert {"state_dict", "optimizer_states", "lr_schedulers", "global_step"} <= set(checkpoint)
        assert checkpoint["desa"]["identity"]["data"]
    assert not root.fs.exists(root.path("checkpoints", "train-spectra"))
    predictions = read_parquet(root.fs, root.path("finetune", "predictions.parquet"))
    assert set(predictions["model"]) == names
    assert predictions["binary_prob"].between(0, 1).all()
    aged = predictions[predictions["model"].isin(_compared())]
    assert (aged["age_lo"] <= aged["age_hi"]).all()


def test_metrics_compare_every_model_on_the_same_stars(demo_env: DataRoot) -> None:
    metrics = json.loads(Path(demo_env.path("report", "metrics.json")).read_text())
    required = {
        "few_shot_cmd_r2",
        "zero_shot_ari",
        "zero_shot_matched_accuracy",
        "pair_umap_distance_median",
        "binary_auc",
        "binary_ap",
        "age_rmse_gyr",
        "age_mae_gyr",
    }
    models = _compared()
    for model in models:
        assert required <= set(metrics[model]), model
        assert metrics[model]["zero_shot_ari"] is not None, metrics[model]["notes"]
        for key in ("binary_auc", "few_shot_cmd_r2", "age_rmse_gyr"):  # none silently dropped
            assert metrics[model][key] is not None, (key, metrics[model]["notes"])
    sizes = metrics["sizes"]
    assert sizes["stars"] == sizes["train_stars"] + sizes["val_stars"] + sizes["test_stars"]
    per_model = sizes["per_model"]
    assert len({per_model[m]["binary_test_stars"] for m in models}) == 1  # the same stars
    no_ruwe = [m.name for m in _models() if m.binary_only]
    assert metrics["models"] == [*models, *no_ruwe]
    assert all(metrics[m]["binary_auc"] is not None for m in no_ruwe), no_ruwe
    maps = read_parquet(demo_env.fs, demo_env.path("umap.parquet"))
    assert set(maps["model"]) == set(models) and np.isfinite(maps[["x", "y"]]).all().all()


def test_apogee_scores_compare_the_encoder_and_lamost_on_the_same_spectra(
    demo_env: DataRoot,
) -> None:
    """Paper Table 1: MAE against APOGEE DR17 (the demo sky's allStar) in metrics and report."""
    apogee = json.loads(Path(demo_env.path("report", "metrics.json")).read_text())["apogee"]
    assert apogee["n"] > 0, apogee
    for label in ("teff", "logg", "feh"):
        assert apogee["overall"][f"{label}_n"] > 0
        for source in ("encoder", "lamost"):
            assert apogee["overall"][f"{source}_{label}_mae"] >= 0.0
    assert sum(b["n"] for b in apogee["snr_bins"]) == apogee["n"]
    assert 'id="apogee"' in Path(demo_env.path("report", "index.html")).read_text()


def test_the_report_and_explorer_open_in_a_browser(
    demo_env: DataRoot, open_page, screenshots: Path
) -> None:
    page, errors = open_page(Path(demo_env.path("report", "index.html")))
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => e.complete && e.naturalWidth > 0)"
    )
    assert len(images) > 20 and all(images)
    page.screenshot(path=screenshots / "demo-report.png", full_page=True)
    assert errors == []
    page, errors = open_page(Path(demo_env.path("report", "explorer.html")))
    kic = read_parquet(demo_env.fs, demo_env.path("umap.parquet"))["kic"].iloc[0]
    page.fill("#kic-search", str(kic))
    page.keyboard.press("Enter")
    page.wait_for_selector("#neighbor-list li")
    page.screenshot(path=screenshots / "demo-explorer.png", full_page=True)
    assert errors == []


def test_neighbors_from_the_cli(demo_env: DataRoot) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    kic = int(read_parquet(demo_env.fs, demo_env.path("umap.parquet"))["kic"].iloc[0])
    result = CliRunner().invoke(app, ["neighbors", str(kic), "-k", "3"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"3 nearest stars to KIC {kic}" in result.output
    result = CliRunner().invoke(app, ["neighbors", "42"])
    assert result.exit_code != 0 and "KIC 42 has no embedding" in result.output


def test_an_unchanged_chain_is_not_retrained(demo_env: DataRoot) -> None:
    settings = load_settings()  # the demo follows the newest LAMOST release: resolved
    assert all(f.fresh for f in plan(stages_for("demo"), StageContext(settings, demo_env)))
    assert [r["stage"] for r in rebuild() if r["ran"]] == []


def _weights(root: DataRoot, stage: str) -> dict[str, torch.Tensor]:
    return model_state(read_checkpoint(root.fs, root.path("models", f"{stage}.ckpt")))


def _checkpointed_epoch(folder: Path) -> int:
    for path in folder.glob("*/last.ckpt"):
        try:
            return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
        except Exception:  # being written right now: look again
            return -1
    return -1


def _desa(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "desa"), *args],
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_sigkill_mid_training_then_rerun_resumes_to_the_same_weights(
    demo_env: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every run is a fresh `desa run` process, as a user (or a scheduler) would start it.
    stage, root = "train-lightcurves", demo_env
    monkeypatch.setenv("DESA_TRAINING__DETERMINISTIC", "true")
    monkeypatch.setenv("DESA_TRAINING__LIGHTCURVES__MAX_EPOCHS", "8")
    monkeypatch.setenv("DESA_TRAINING__LIGHTCURVES__PATIENCE", "50")
    assert _desa("run", stage).wait() == 0  # the new epoch count changes the key
    uninterrupted = _weights(root, stage)
    finished = read_state(root.fs, root.state_path(stage)).finished_at

    folder = Path(root.path("checkpoints", stage))
    proc = _desa("run", stage, "--force")
    try:
        deadline = time.monotonic() + 300
        while _checkpointed_epoch(folder) < 2:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert read_state(root.fs, root.state_path(stage)).finished_at == finished

    assert _desa("run", stage, "--force").wait() == 0
    summary = _summary(root, stage)
    assert summary["resumed_at_epoch"] >= 3 and summary["epochs"] == 8
    resumed = _weights(root, stage)
    for name, value in uninterrupted.items():
        assert torch.allclose(value, resumed[name], atol=1e-6, rtol=0), name
    assert not folder.exists()


def test_a_missing_upstream_model_is_a_clear_error(demo_env: DataRoot) -> None:
    from desa.models.profiles import model_configs
    from desa.models.spectra import SpectraModel
    from desa.training.runs import load_trained

    config = model_configs("demo").spectra
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_trained(demo_env.store_url("models", "nope.ckpt"), SpectraModel(config), config)
