"""The deployments `desa serve` registers, built without a server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from prefect.client.schemas.objects import ConcurrencyLimitStrategy

from flows.serve import deployments, describe
from flows.settings import Settings
from flows.stages import stage_named, stages_for

GPU = {
    "train-spectra",
    "train-lightcurves",
    "features",
    "train-dualformer",
    "train-baselines",
    "finetune",
}


def _by_name(settings: Settings) -> tuple[dict, dict]:
    # In a thread of its own: with an event loop running here (Playwright's, once a browser
    # test has run) Prefect's `to_deployment` would hand back a coroutine.
    with ThreadPoolExecutor(1) as thread:
        served, pooled = thread.submit(deployments, settings).result()
    return {d.flow_name: d for d in served}, {d.flow_name: d for d in pooled}


def test_every_stage_rebuild_and_watch_are_deployments_named_desa() -> None:
    served, pooled = _by_name(Settings())
    assert pooled == {}
    assert set(served) == {s.name for s in stages_for("demo")} | {"rebuild", "watch-releases"}
    assert {d.name for d in served.values()} == {"desa"}
    assert all(d.entrypoint.startswith("flows.") for d in served.values())  # importable anywhere
    rebuild = served["rebuild"]
    (schedule,) = rebuild.schedules
    assert schedule.schedule.cron == "0 4 * * 1" and schedule.schedule.timezone == "UTC"
    assert rebuild.concurrency_limit == 1
    assert rebuild.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert [t.expect for t in rebuild.triggers] == [{"desa.release.detected"}]
    (catalogs_trigger,) = served["catalogs"].triggers
    assert catalogs_trigger.expect == {"desa.catalog.updated"}
    assert catalogs_trigger.parameters == {"force": False, "downstream": True}
    (watch,) = served["watch-releases"].schedules
    assert watch.schedule.interval.total_seconds() == 86400


def test_schedules_and_the_collision_strategy_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESA_SCHEDULE__REBUILD_CRON", "")
    monkeypatch.setenv("DESA_SCHEDULE__WATCH_INTERVAL", "3600")
    monkeypatch.setenv("DESA_SERVE__REBUILD_COLLISION", "cancel")
    served, _ = _by_name(Settings())
    assert served["rebuild"].schedules == []
    assert served["watch-releases"].schedules[0].schedule.interval.total_seconds() == 3600
    strategy = served["rebuild"].concurrency_options.collision_strategy
    assert strategy == ConcurrencyLimitStrategy.CANCEL_NEW


def test_with_a_work_pool_the_gpu_stages_are_registered_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESA_TRAINING__WORK_POOL", "gpu")
    served, pooled = _by_name(Settings())
    assert set(pooled) == GPU
    assert all(d.work_pool_name == "gpu" for d in pooled.values())
    assert not GPU & set(served) and all(d.work_pool_name is None for d in served.values())


def test_a_description_says_what_a_stage_reads_and_writes() -> None:
    text = describe(stage_named("crossmatch"))
    assert "Reads: catalogs (lamost_lrs_stellar), catalogs (kepler_gaia)." in text
    assert "Writes: crossmatch.parquet." in text
    assert "Reads: its sources." in describe(stage_named("catalogs"))
