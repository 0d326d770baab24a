"""The Dask cluster the preprocessing stages map their shard tasks onto."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect_dask import DaskTaskRunner

from flows.settings import Settings


def task_runner(settings: Settings, api_url: str | None = None) -> DaskTaskRunner:
    """An existing scheduler (`DESA_DASK_ADDRESS`), a dask-jobqueue cluster, or a LocalCluster.

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
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": dask.n_workers,
            "threads_per_worker": dask.threads_per_worker,
            "processes": True,
            "dashboard_address": ":0",  # any free port: None still binds 8787
            "env": {"PREFECT_API_URL": api_url} if api_url else {},
        }
    )


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
