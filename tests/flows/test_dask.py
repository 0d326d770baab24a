"""One LocalCluster per rebuild: every Dask stage inside `shared_cluster` runs on it; one for
all the runs `desa serve` starts (`kept_cluster`)."""

import os
import subprocess
import sys

import pytest
from distributed import Client

from flows.dask import SharedCluster, kept_cluster, shared_cluster, task_runner
from flows.settings import Settings


@pytest.fixture
def local_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("DESA_DASK_ADDRESS", raising=False)
    monkeypatch.setenv("DESA_DASK__N_WORKERS", "1")
    monkeypatch.setenv("DESA_DASK__CLUSTER", "local")
    return Settings()


def test_stages_of_a_rebuild_share_one_cluster_started_on_first_use(
    local_settings: Settings,
) -> None:
    before = SharedCluster.started
    with shared_cluster() as shared:
        assert SharedCluster.started == before  # nothing started until a stage asks
        first = task_runner(local_settings)
        second = task_runner(local_settings)
        assert first.address is not None and first.address == second.address
        assert SharedCluster.started == before + 1
        assert shared.address(local_settings, None) == first.address
    assert shared._cluster is None  # closed with the block


def test_a_stage_run_alone_starts_its_own_cluster(local_settings: Settings) -> None:
    runner = task_runner(local_settings)
    assert runner.address is None
    assert runner.cluster_kwargs["n_workers"] == 1


def test_serve_keeps_one_cluster_that_the_runs_it_starts_are_told_of(
    local_settings: Settings,
) -> None:
    with kept_cluster(local_settings, None) as address:
        assert address and os.environ["DESA_DASK_ADDRESS"] == address
        # A run `desa serve`'s runner starts is a process of its own, with this environment.
        child = "from flows.settings import Settings; print(Settings().dask_address)"
        told = subprocess.run(
            [sys.executable, "-c", child], capture_output=True, text=True, check=True
        )
        assert told.stdout.strip() == address
        assert task_runner(Settings()).address == address  # no cluster of the run's own
        with Client(address, timeout=30) as client:
            assert client.submit(sum, [1, 2]).result() == 3
    assert "DESA_DASK_ADDRESS" not in os.environ


def test_serve_starts_no_cluster_when_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESA_DASK_ADDRESS", "tcp://scheduler:8786")
    with kept_cluster(Settings(), None) as address:
        assert address is None
