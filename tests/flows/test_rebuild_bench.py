"""`desa bench rebuild`: the timing wrapper, the start-up/work split, the goals, the bench's
settings, and one real rebuild of the first two stages in a fresh process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from desa.training.config import LoopConfig
from flows.rebuild_bench import (
    GOALS,
    bench_environment,
    goal_checks,
    rebuild_at,
    stage_split,
    timed_flows,
)
from flows.settings import Settings


def test_each_flow_call_is_timed_even_when_it_fails() -> None:
    def slow(force: bool = False) -> dict:
        time.sleep(0.05)
        return {"force": force}

    def broken(force: bool = False) -> dict:
        raise RuntimeError("stage failed")

    flows = {"a": slow, "b": broken}
    walls: dict[str, float] = {}
    timed_flows(flows, walls)
    assert flows["a"](force=True) == {"force": True}
    with pytest.raises(RuntimeError, match="stage failed"):
        flows["b"]()
    assert walls["a"] >= 0.05 and 0 <= walls["b"] < 0.05
    assert list(walls) == ["a", "b"]


def test_each_flow_call_tells_its_stage_on_entry_and_none_on_exit_even_when_it_fails() -> None:
    told: list[str | None] = []

    def seen(force: bool = False) -> list:
        return list(told)

    def broken(force: bool = False) -> dict:
        raise RuntimeError("stage failed")

    flows = {"a": seen, "b": broken}
    timed_flows(flows, {}, told.append)
    assert flows["a"]() == ["a"]  # told before the body runs
    with pytest.raises(RuntimeError, match="stage failed"):
        flows["b"]()
    assert told == ["a", None, "b", None]


def test_start_up_is_the_wall_time_outside_the_stage_body() -> None:
    split = stage_split({"spectra": 20.0, "labels": 3.0}, {"labels": 2.5, "spectra": 4.0})
    assert [s["stage"] for s in split] == ["spectra", "labels"]  # in the order run
    assert split[0] == {"stage": "spectra", "wall_s": 20.0, "work_s": 4.0, "startup_s": 16.0}
    assert split[1]["startup_s"] == 0.5


@pytest.mark.parametrize(
    ("name", "met", "missed"),
    [
        ("dask_clusters_per_rebuild", 1, 2),
        ("dask_clusters_per_rebuild", 1, 0),
        ("umap_first_fit_ratio", 3.0, 3.01),
        ("noop_rebuild_s", 2.0, 2.2),
        ("help_s", 0.5, 0.51),
        ("status_s", 1.4, 1.6),
    ],
)
def test_each_goal_passes_at_its_bound_and_fails_beyond_it(
    name: str, met: float, missed: float
) -> None:
    values = {key: goal for key, (goal, _) in GOALS.items()}
    for value, expected in ((met, True), (missed, False)):
        (check,) = [c for c in goal_checks({**values, name: value}) if c["measure"] == name]
        assert check["met"] is expected, (name, value)
        assert check["value"] == value


def test_the_bench_environment_trains_one_epoch_per_loop_on_a_fresh_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    caller = {"DESA_SKY__SEED": "3", "PREFECT_API_URL": "http://server/api", "HOME": "/home/x"}
    env = bench_environment(tmp_path / "root", tmp_path / "prefect", 25, base=caller)
    assert "DESA_SKY__SEED" not in env and "PREFECT_API_URL" not in env
    assert env["HOME"] == "/home/x" and env["PREFECT_HOME"] == str(tmp_path / "prefect")
    for name, value in env.items():
        if name.startswith("DESA_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.profile == "demo" and settings.sky.n_stars == 25
    assert settings.data_root == str(tmp_path / "root")
    loops = {k: v for k, v in settings.training if isinstance(v, LoopConfig)}
    assert loops and all(loop.max_epochs == 1 for loop in loops.values()), loops


@pytest.mark.slow(seconds=70)  # a fresh rebuild process, on the loaded 2-core machine
def test_a_fresh_rebuild_reports_each_stage_and_a_no_op_rebuild(tmp_path: Path) -> None:
    run, _ = rebuild_at(20, tmp_path, until="catalogs")
    assert [s["stage"] for s in run["stages"]] == ["demo-sky", "catalogs"]
    for stage in run["stages"]:
        # the body runs inside the flow call: its time is part of the wall time
        assert 0 < stage["work_s"] <= stage["wall_s"], stage
        assert stage["startup_s"] == pytest.approx(stage["wall_s"] - stage["work_s"])
    assert run["dask_clusters"] == 0  # neither stage runs on Dask
    assert run["rebuild_s"] > sum(s["wall_s"] for s in run["stages"])
    assert 0 < run["noop_rebuild_s"] < run["rebuild_s"]
