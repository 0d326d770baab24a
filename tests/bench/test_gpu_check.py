"""scripts/gpu-check.sh on a CPU (--device cpu --quick): its steps, its report, its checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.gpu_check import report, spectra_mfu_goal
from bench.precision import bf16_agreement
from bench.resume import resume_check
from flows.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"
DEMO = Settings(profile="demo").training


def _script(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "result.json"
    env = {**os.environ, "GPU_CHECK_TOTAL_S": "240"}
    done = subprocess.run(
        ["bash", str(SCRIPT), "--device", "cpu", "--quick", "--python", sys.executable,
         *args, str(out)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    return done, json.loads(out.read_text())


def test_script_is_executable_and_strict() -> None:
    assert os.access(SCRIPT, os.X_OK)
    assert "set -euo pipefail" in SCRIPT.read_text()


# the train and DDP steps as the script runs them: 25-70 s on the shared 2-core machine
@pytest.fixture(scope="module")
def train_and_ddp(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    return _script(tmp_path_factory.mktemp("gpu-check"), "--only", "train,ddp")


@pytest.mark.slow(seconds=70)
def test_cpu_run_benchmarks_the_three_models_without_mfu(train_and_ddp: tuple) -> None:
    done, result = train_and_ddp
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["ok"] and list(result["steps"]) == ["train", "ddp"]
    train = result["steps"]["train"]["result"]
    assert [run["model"] for run in train["runs"]] == ["spectra", "lightcurves", "dualformer"]
    for run in train["runs"]:
        assert run["profile"] == "demo" and run["samples_per_s"] > 0
        assert run["flops_per_sample"] > 0 and run["mfu"] is None
    assert train["mfu_note"] == "no MFU on a CPU"
    assert result["spectra_mfu_goal"]["met"] is None
    assert "samples/s" in done.stdout and "results:" in done.stdout


@pytest.mark.slow(seconds=70)
def test_cpu_run_takes_ddp_steps_under_torchrun(train_and_ddp: tuple) -> None:
    ddp = train_and_ddp[1]["steps"]["ddp"]["result"]
    assert ddp["backend"] == "gloo" and ddp["world_size"] == 1
    assert len(ddp["losses"]) == ddp["steps"] == 2
    assert ddp["finite"] and ddp["weights_match_rank0"]


def test_bad_options_and_a_torch_without_cuda_stop_with_a_clear_line() -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = ["bash", str(SCRIPT), "--python", sys.executable, *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    bad = run("--device", "tpu")
    assert bad.returncode == 2 and "cuda or cpu" in bad.stderr
    if not __import__("torch").cuda.is_available():
        no_cuda = run("--device", "cuda")
        assert no_cuda.returncode != 0 and "sees no CUDA device" in no_cuda.stderr


def test_report_counts_a_step_without_its_part_as_failed(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "steps.tsv").write_text("train\t0\t3\nresume\t124\t90\n")
    (parts / "resume.json").write_text(json.dumps({"ok": True}))
    result = report(parts, tmp_path / "r.json", {"torch": "x"})
    assert not result["ok"]
    assert not result["steps"]["train"]["ok"]  # exit 0, but wrote nothing
    assert not result["steps"]["resume"]["ok"]  # timed out
    assert json.loads((tmp_path / "r.json").read_text())["environment"] == {"torch": "x"}


def test_spectra_mfu_goal_takes_the_best_spectra_run() -> None:
    def runs(*mfus: float) -> dict:
        return {"result": {"runs": [{"model": "spectra", "mfu": m} for m in mfus]}}

    steps = {"train": runs(0.31), "train_compiled": runs(0.43)}
    assert spectra_mfu_goal(steps) == {"goal": 0.4, "best_spectra_mfu": 0.43, "met": True}
    assert spectra_mfu_goal({"train": runs(0.2)})["met"] is False


def test_bf16_check_compares_one_batch_both_ways() -> None:
    result = bf16_agreement("demo", DEMO, batch_size=4, device="cpu", models=["spectra"])
    (row,) = result["models"]
    assert row["loss_fp32"] != row["loss_bf16"]  # autocast really ran in bf16
    assert row["relative_gap"] == abs(row["loss_bf16"] - row["loss_fp32"]) / row["loss_fp32"]
    assert row["agrees"] == (row["relative_gap"] <= result["tolerance"])
    strict = bf16_agreement("demo", DEMO, batch_size=4, device="cpu", models=["spectra"],
                            tolerance=0.0)  # fmt: skip
    assert not strict["ok"]


@pytest.mark.slow(seconds=60)
def test_a_killed_run_resumes_from_its_checkpoint() -> None:
    result = resume_check("demo", "cpu", epochs=3, kill_after=2)
    assert result["first_run_killed"] and result["first_run_exit_code"] == -9
    assert result["resumed_at_epoch"] in (1, 2)
    assert result["epochs_in_history"] == [0, 1, 2] and result["ok"]
    with pytest.raises(ValueError, match="kill_after"):
        resume_check("demo", "cpu", epochs=3, kill_after=3)
