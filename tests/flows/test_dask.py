"""One LocalCluster per rebuild: every Dask stage inside `shared_cluster` runs on it."""

import pytest

from flows.dask import SharedCluster, shared_cluster, task_runner
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
