"""The Dask cluster the preprocessing stages map their shard tasks onto.

A rebuild starts at most one LocalCluster, on first use, and every Dask stage of that rebuild
runs on it (`shared_cluster`); a stage run alone starts its own; `desa serve` keeps one for
all the runs it serves (`kept_cluster`). Starting one costs 15-20 s on a 2-core machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prefect.client.orchestration import get_client
from prefect_dask import DaskTaskRunner

from flows.settings import Settings


def local_cluster_kwargs(settings: Settings, api_url: str | None) -> dict[str, Any]:
    """The LocalCluster the settings ask for; its workers report task runs to ``api_url``."""
    dask = settings.dask
    return {
        "n_workers": dask.n_workers,
        "threads_per_worker": dask.threads_per_worker,
        "processes": True,
        "dashboard_address": ":0",  # any free port: None still binds 8787
        "env": {"PREFECT_API_URL": api_url} if api_url else {},
    }


class SharedCluster:
    """A LocalCluster started when a stage first asks for it, closed with the rebuild."""

    started = 0  # clusters started in this process (for `desa bench rebuild`)

    def __init__(self) -> None:
        self._cluster: Any = None

    def address(self, settings: Settings, api_url: str | None) -> str:
        if self._cluster is None:
            from distributed import LocalCluster

            self._cluster = LocalCluster(**local_cluster_kwargs(settings, api_url))
            SharedCluster.started += 1
        return self._cluster.scheduler_address

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


_shared: ContextVar[SharedCluster | None] = ContextVar("desa_shared_cluster", default=None)


@contextmanager
def shared_cluster() -> Iterator[SharedCluster]:
    """Every Dask stage run inside the block shares one LocalCluster."""
    shared = SharedCluster()
    token = _shared.set(shared)
    try:
        yield shared
    finally:
        _shared.reset(token)
        shared.close()


@contextmanager
def kept_cluster(settings: Settings, api_url: str | None) -> Iterator[str | None]:
    """Without `DESA_DASK_ADDRESS` or a jobqueue cluster: one LocalCluster for the block, named
    to every process started inside it by `DESA_DASK_ADDRESS` (`desa serve`'s runs, which its
    runner starts as processes of their own); its address, or None when none is needed."""
    if settings.dask_address or settings.dask.cluster != "local":
        yield None
        return
    from distributed import LocalCluster

    with LocalCluster(**local_cluster_kwargs(settings, api_url)) as cluster:
        os.environ["DESA_DASK_ADDRESS"] = cluster.scheduler_address
        try:
            yield cluster.scheduler_address
        finally:
            del os.environ["DESA_DASK_ADDRESS"]


def task_runner(settings: Settings, api_url: str | None = None) -> DaskTaskRunner:
    """An existing scheduler (`DESA_DASK_ADDRESS`), a dask-jobqueue cluster, or a LocalCluster
    (the rebuild's shared one inside `shared_cluster`).

    ``api_url``: the Prefect API the LocalCluster's workers report their task runs to (the
    caller's); without it, a worker with no PREFECT_API_URL would start an ephemeral API server
    of its own (about 10 s of start-up each, on one SQLite file shared by all of them).
    """
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    dask = settings.dask
    if dask.cluster == "jobqueue":
        return DaskTaskRunner(
            cluster_class=dask.jobqueue_class,
            cluster_kwargs=dask.cluster_kwargs,
            adapt_kwargs={"minimum": 1, "maximum": dask.adapt_max},
        )
    if (shared := _shared.get()) is not None:
        return DaskTaskRunner(address=shared.address(settings, api_url))
    return DaskTaskRunner(cluster_kwargs=local_cluster_kwargs(settings, api_url))


class SettingsDaskTaskRunner(DaskTaskRunner):
    """The Dask task runner the settings ask for, made afresh for each flow run.

    Prefect duplicates a flow's task runner at the start of every run; reading the settings
    then (not at import) lets a served or worker-loaded flow, or a test that changes the
    environment, run on the cluster its environment names.
    """

    def duplicate(self) -> DaskTaskRunner:
        with get_client(sync_client=True) as client:
            api_url = str(client.api_url)  # the ephemeral server's too, when one is running
        return task_runner(Settings(), api_url)
