"""The Dask cluster the preprocessing stages map their shard tasks onto."""

from __future__ import annotations

from prefect_dask import DaskTaskRunner

from desa.config import Settings


def task_runner(settings: Settings) -> DaskTaskRunner:
    """An existing scheduler (`DESA_DASK_ADDRESS`), a dask-jobqueue cluster, or a LocalCluster."""
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    dask = settings.dask
    if dask.cluster == "jobqueue":
        return DaskTaskRunner(
            cluster_class=dask.jobqueue_class,
            cluster_kwargs=dask.cluster_kwargs,
            adapt_kwargs={"minimum": 1, "maximum": dask.adapt_max},
        )
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": dask.n_workers,
            "threads_per_worker": dask.threads_per_worker,
            "processes": True,
            "dashboard_address": ":0",  # any free port: None still binds 8787
        }
    )
