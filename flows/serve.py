"""`desa serve`: the pipeline as deployments named `desa`, served by one long-lived process.

Prefect's `serve` registers and runs (no work pool needed) one deployment per stage flow plus
`rebuild` and `watch-releases` (research/pipeline_practice.md §1.7-§1.9 and its addendum):

- `rebuild/desa`: a cron schedule (`DESA_SCHEDULE__REBUILD_CRON`, UTC); one run at a time
  (a deployment concurrency limit: a second run waits, or is cancelled, as
  `DESA_SERVE__REBUILD_COLLISION` says); a trigger on `desa.release.detected`;
- `catalogs/desa`: a trigger on `desa.catalog.updated` that runs the stage and then every stage
  downstream of it (each skipped when its inputs did not change);
- `watch-releases/desa`: an interval schedule (`DESA_SCHEDULE__WATCH_INTERVAL`);
- every other stage: run by hand, from the UI or `prefect deployment run crossmatch/desa`.

Without `DESA_DASK_ADDRESS`, `desa serve` keeps one LocalCluster for its life and names it to
the runs it starts, so that no run pays a cluster's start-up (flows/dask.py).

With `DESA_TRAINING__WORK_POOL` set, the GPU stages are registered on that work pool instead,
for a worker on the GPU host; `rebuild` runs them there and waits (flows/pipeline.py).
"""

from __future__ import annotations

import contextlib

from prefect import Flow, serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.schedules import Cron, Interval
from prefect.settings import PREFECT_API_URL
from prefect.workers.process import ProcessWorker

from flows.dask import kept_cluster
from flows.pipeline import DEPLOYMENT, STAGE_FLOWS, rebuild
from flows.settings import Settings
from flows.stage import StageDef
from flows.stages import stages_for
from flows.turn import PipelineBusy, pipeline_turn
from flows.watch import CATALOG, RELEASE, watch_releases
from storage.layout import DataRoot

COLLISIONS = {
    "enqueue": ConcurrencyLimitStrategy.ENQUEUE,
    "cancel": ConcurrencyLimitStrategy.CANCEL_NEW,
}


def _deployment(flow_: Flow, description: str, **options: object) -> RunnerDeployment:
    # Module entrypoints (flows.pipeline.crossmatch): the runner's and a worker's runs import
    # the installed package, wherever they start.
    return flow_.to_deployment(
        DEPLOYMENT,
        description=description,
        entrypoint_type=EntrypointType.MODULE_PATH,
        tags=["desa"],
        **options,
    )


def describe(stage: StageDef) -> str:
    """What a stage does, reads and writes, for the deployment's page in the UI."""
    reads = ", ".join(f"{product.stage} ({product.output})" for product in stage.reads)
    return (
        f"{stage.description}\n\nReads: {reads or 'its sources'}."
        f"\n\nWrites: {', '.join(stage.writes)}."
    )


def deployments(settings: Settings) -> tuple[list[RunnerDeployment], list[RunnerDeployment]]:
    """(deployments to serve here, deployments for the training work pool)."""
    pool = settings.training.work_pool
    served, pooled = [], []
    for stage in stages_for(settings.profile):
        triggers = None
        if stage.name == "catalogs":
            triggers = [
                DeploymentEventTrigger(
                    name="catalog updated: rerun catalogs and what depends on it",
                    expect={CATALOG},
                    parameters={"force": False, "downstream": True},
                )
            ]
        on_pool = bool(pool) and stage.gpu
        deployment = _deployment(
            STAGE_FLOWS[stage.name],
            describe(stage),
            triggers=triggers,
            work_pool_name=pool if on_pool else None,
        )
        (pooled if on_pool else served).append(deployment)
    schedule = settings.schedule
    served.append(
        _deployment(
            rebuild,
            "Every stage of the profile in order; a stage whose inputs did not change is skipped.",
            schedule=Cron(schedule.rebuild_cron, timezone="UTC") if schedule.rebuild_cron else None,
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=COLLISIONS[settings.serve.rebuild_collision]
            ),
            triggers=[
                DeploymentEventTrigger(
                    name="new survey release: rebuild", expect={RELEASE}, parameters={}
                )
            ],
        )
    )
    interval = schedule.watch_interval
    served.append(
        _deployment(
            watch_releases,
            "Compare every source with sources.lock.json and announce new releases.",
            schedule=Interval(interval, timezone="UTC") if interval else None,
        )
    )
    return served, pooled


def register_on_pool(deployments_: list[RunnerDeployment], pool: str) -> None:
    """Register the GPU stages on ``pool`` (a process pool is created when missing)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            # A worker starting on the pool at the same moment may create it first.
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_work_pool(
                    WorkPoolCreate(name=pool, type="process", base_job_template=template)
                )
    for deployment in deployments_:
        deployment.apply(work_pool_name=pool)


def unregister_from_pools(deployments_: list[RunnerDeployment]) -> None:
    """Delete the work-pool registrations of deployments now served here (the training
    stages, after the work pool setting was emptied): updating a deployment keeps its pool."""
    with get_client(sync_client=True) as client:
        for deployment in deployments_:
            try:
                registered = client.read_deployment_by_name(deployment.full_name)
            except ObjectNotFound:
                continue
            if registered.work_pool_name:
                client.delete_deployment(registered.id)


def settle_killed_run(root: DataRoot) -> None:
    """A run killed with the last `desa serve` (say, its container stopped hard) shows as
    Crashed from now on, not only once the next run takes the pipeline (flows/turn.py)."""
    with contextlib.suppress(PipelineBusy), pipeline_turn(root, "desa serve"):
        pass


def serve_pipeline(settings: Settings) -> None:
    """Register every deployment and serve them until SIGTERM or SIGINT."""
    if not PREFECT_API_URL.value():
        raise RuntimeError(
            "desa serve needs a Prefect server: set PREFECT_API_URL (and PREFECT_API_AUTH_STRING "
            "when the server asks for one); `docker compose up -d` starts one on :4200"
        )
    settle_killed_run(DataRoot(settings.data_root))
    served, pooled = deployments(settings)
    unregister_from_pools(served)
    if pooled:
        register_on_pool(pooled, settings.training.work_pool)
    with kept_cluster(settings, PREFECT_API_URL.value()) as address:
        if address:
            print(f"desa serve: the Dask stages of every run use the cluster at {address}")
        serve(*served)
