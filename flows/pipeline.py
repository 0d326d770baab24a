"""Prefect flows: one per stage, and `rebuild`, which runs every stage of the profile in order.

Each stage flow is also a module attribute named after its stage (`crossmatch_flow`,
`train_spectra_flow`, ...), so that `desa serve`'s runner and work-pool workers load it by its
entrypoint, `flows.pipeline.<stage>_flow`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from flows.artifacts import artifact_key, publish_stage_artifacts
from flows.clients import load_settings
from flows.dask import SettingsDaskTaskRunner, shared_cluster
from flows.settings import Settings
from flows.stage import Outcome, StageContext, StageDef, execute, freshness, plan
from flows.stages import STAGES, downstream_of, stages_for
from flows.turn import pipeline_turn
from storage.layout import DataRoot
from storage.state import read_state

DEPLOYMENT = "desa"  # every deployment's name: rebuild/desa, crossmatch/desa, ...


def _run(stage: StageDef, force: bool) -> Outcome:
    settings = load_settings()
    if settings.profile not in stage.profiles:
        raise ValueError(f"stage {stage.name} is not part of the {settings.profile} profile")
    ctx = StageContext(settings, DataRoot(settings.data_root), force)
    outcome = execute(stage, ctx, log=get_run_logger().info)
    publish_stage_artifacts(stage.name, outcome)
    return outcome


@contextmanager
def _turn(name: str) -> Iterator[None]:
    """Hold the pipeline when this run is a top-level one (not a stage inside a rebuild).

    A deployment run waits for its turn; a run started from the CLI or Python is refused at
    once (flows/turn.py).
    """
    run = FlowRunContext.get().flow_run
    if run.parent_task_run_id is not None:
        yield
        return
    settings = Settings()
    wait_s = settings.serve.pipeline_wait_s if run.deployment_id is not None else 0.0
    owner = f"{name} (flow run {run.name})"
    root = DataRoot(settings.data_root)
    with pipeline_turn(root, owner, run_id=str(run.id), wait_s=wait_s, log=get_run_logger().info):
        yield


def _call(stage: StageDef, force: bool) -> dict[str, Any]:
    """Run one stage inside the current flow: as a subflow here, or, for a GPU job with work
    to do when a training work pool is set, as a run of its deployment on that pool."""
    pool = Settings().training.work_pool
    if pool and stage.gpu and (force or not _up_to_date(stage)):
        return _on_work_pool(stage, force, pool)
    return STAGE_FLOWS[stage.name](force=force)


def _up_to_date(stage: StageDef) -> bool:
    """Whether the stage would skip itself: then no GPU job is started only to find that."""
    settings = load_settings()
    return freshness(stage, StageContext(settings, DataRoot(settings.data_root))).fresh


def _on_work_pool(stage: StageDef, force: bool, pool: str) -> dict[str, Any]:
    root = DataRoot(Settings().data_root)
    before = read_state(root.fs, root.state_path(stage.name))
    name = f"{stage.name}/{DEPLOYMENT}"
    try:
        run = run_deployment(name, parameters={"force": force}, timeout=None, poll_interval=1)
    except ObjectNotFound:
        raise RuntimeError(
            f"DESA_TRAINING__WORK_POOL={pool}: deployment {name} is not registered on this "
            "Prefect server; start `desa serve` with the same setting against it"
        ) from None
    if run.work_pool_name != pool:
        raise RuntimeError(f"{name} runs on work pool {run.work_pool_name!r}, not {pool!r}")
    if not run.state.is_completed():
        raise RuntimeError(
            f"{name} on work pool {pool} ended {run.state.name}: {run.state.message}"
        )
    after = read_state(root.fs, root.state_path(stage.name))
    ran = after is not None and (before is None or after.finished_at != before.finished_at)
    return {"stage": stage.name, "ran": ran, "key": after.key if after else None}


def _in_order(name: str, stages: list[StageDef], force: bool) -> list[dict[str, Any]]:
    """Run ``stages`` in order, each as a run of its own, except those that are up to date
    with every upstream stage up to date too: they are only listed (as `desa rebuild` does).

    The outcome of each stage is a table artifact of this run (key ``<name>-stages``).
    """
    if not stages:
        return []
    settings = load_settings()
    planned = plan(stages, StageContext(settings, DataRoot(settings.data_root)))
    results, rows = [], []
    for stage, now in zip(stages, planned, strict=True):
        if now.fresh and not force:
            get_run_logger().info(f"{stage.name}: up to date, skipped")
            result = {"stage": stage.name, "ran": False, "key": now.key}
        else:
            result = _call(stage, force)
        results.append(result)
        outcome = "ran" if result["ran"] else "up to date"
        rows.append({"stage": stage.name, "outcome": outcome, "cache key": result["key"]})
    create_table_artifact(
        rows, key=artifact_key(name, "stages"), description=f"{name}: what each stage did"
    )
    return results


def _stage_flow(stage: StageDef) -> Flow:
    def run_stage(force: bool = False, downstream: bool = False) -> dict[str, Any]:
        with _turn(stage.name):
            outcome = _run(stage, force)
            later = downstream_of(stage.name, Settings().profile) if downstream else []
            after = _in_order(f"{stage.name}-downstream", later, force=False)
        return {
            "stage": stage.name,
            "ran": outcome.ran,
            "key": outcome.state.key,
            "downstream": [result["stage"] for result in after if result["ran"]],
        }

    run_stage.__name__ = run_stage.__qualname__ = stage.name.replace("-", "_") + "_flow"
    run_stage.__doc__ = (
        f"{stage.description}\n\nforce: rerun even when up to date. downstream: then run every "
        "stage that depends on this one (each skipped when its inputs did not change)."
    )
    task_runner = SettingsDaskTaskRunner() if stage.dask else None
    return flow(
        name=stage.name, description=stage.description, log_prints=True, task_runner=task_runner
    )(run_stage)


STAGE_FLOWS: dict[str, Flow] = {stage.name: _stage_flow(stage) for stage in STAGES}
globals().update({stage_flow.fn.__name__: stage_flow for stage_flow in STAGE_FLOWS.values()})


@flow(name="rebuild", description="Run every stage of the profile in order.", log_prints=True)
def rebuild(force: bool = False, until: str | None = None) -> list[dict[str, Any]]:
    """Stages run in order (up to ``until``); those whose inputs did not change are skipped."""
    with _turn("rebuild"), shared_cluster():
        return _in_order("rebuild", stages_for(Settings().profile, until), force)
