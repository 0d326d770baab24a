"""Prefect flows: one per stage, and `rebuild`, which runs every stage of the profile in order."""

from __future__ import annotations

from prefect import flow, get_run_logger

from desa.config import Settings
from flows.artifacts import publish_stage_artifacts
from flows.dask import task_runner
from flows.stage import Outcome, StageContext, StageDef, execute
from flows.stages import STAGES, stage_named, stages_for
from storage.layout import DataRoot


def _run(stage: StageDef, force: bool) -> Outcome:
    settings = Settings()
    if settings.profile not in stage.profiles:
        raise ValueError(f"stage {stage.name} is not part of the {settings.profile} profile")
    ctx = StageContext(settings, DataRoot(settings.data_root), force)
    outcome = execute(stage, ctx, log=get_run_logger().info)
    publish_stage_artifacts(stage.name, outcome)
    return outcome


def _stage_flow(stage: StageDef):
    @flow(name=stage.name, description=stage.description, log_prints=True)
    def run_stage(force: bool = False) -> dict:
        outcome = _run(stage, force)
        return {"stage": stage.name, "ran": outcome.ran, "key": outcome.state.key}

    return run_stage


class _StageFlows(dict):
    """Stage flows by name; stages that use Dask get their task runner when called."""

    def __getitem__(self, name: str):
        flow_ = super().__getitem__(name)
        if not stage_named(name).dask:
            return flow_
        return flow_.with_options(task_runner=task_runner(Settings()))


STAGE_FLOWS = _StageFlows({stage.name: _stage_flow(stage) for stage in STAGES})


@flow(name="rebuild", description="Run every stage of the profile in order.", log_prints=True)
def rebuild(force: bool = False, until: str | None = None) -> list[dict]:
    """Stages run in order (up to ``until``); each skips itself when its key is unchanged."""
    profile = Settings().profile
    return [STAGE_FLOWS[stage.name](force=force) for stage in stages_for(profile, until)]
