"""Training benchmark: every model of the demo profile takes timed steps and reports its rates."""

from __future__ import annotations

import json

import pytest
import torch

from bench.train import CASES, peak_flops, train_benchmark
from flows.settings import Settings

DEMO = {"demo": Settings(profile="demo").training}


@pytest.fixture(scope="module")
def demo_result() -> dict:
    return train_benchmark(DEMO, steps=1, warmup=1, batch_size=4, device="cpu")


def test_every_demo_model_reports_positive_rates(demo_result: dict) -> None:
    runs = demo_result["runs"]
    assert [run["model"] for run in runs] == list(CASES)
    for run in runs:
        assert run["profile"] == "demo"
        assert run["batch_size"] == 4 and run["steps"] == 1
        assert run["parameters"] > 0
        assert run["seconds_per_step"] > 0 and run["samples_per_s"] > 0
        assert run["flops_per_sample"] > 0
        assert run["mfu"] is None


def test_no_peak_and_no_mfu_on_cpu(demo_result: dict) -> None:
    assert demo_result["device"] == "cpu"
    assert demo_result["peak_flops"] is None
    assert peak_flops(torch.device("cpu")) is None


def test_steps_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="steps"):
        train_benchmark(DEMO, steps=0, device="cpu")


def test_cli_prints_json_and_a_table(demo_result: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import bench.train
    from flows.cli import app

    calls: list[tuple] = []

    def measured(trainings: dict, steps: int | None = None, **options: object) -> dict:
        calls.append((tuple(trainings), steps, options.get("models")))
        return demo_result  # the CLI only formats; the measurement is tested above

    monkeypatch.setattr(bench.train, "train_benchmark", measured)
    runner = CliRunner()
    args = ["bench", "train", "--profile", "demo", "--steps", "1", "--models", "spectra, moco"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == demo_result
    table = runner.invoke(app, ["bench", "train"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "no MFU on a CPU" in table.output and "dualformer" in table.output
    assert calls == [(("demo",), 1, ["spectra", "moco"]), (("demo", "paper"), None, None)]
    assert runner.invoke(app, ["bench", "train", "--profile", "huge"]).exit_code != 0


def test_only_the_chosen_models_run_and_unknown_ones_are_refused() -> None:
    result = train_benchmark(DEMO, steps=1, warmup=1, batch_size=2, device="cpu", models=["moco"])
    assert [run["model"] for run in result["runs"]] == ["moco"]
    assert result["runs"][0]["precision"] == "fp32" and not result["runs"][0]["compiled"]
    with pytest.raises(ValueError, match="unknown models"):
        train_benchmark(DEMO, device="cpu", models=["spectra", "gpt"])


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA H100 NVL", 835e12),
        ("NVIDIA H200", 989e12),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_peak_flops_by_device_name(name: str, peak: float | None, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert peak_flops(torch.device("cuda", 0)) == peak
