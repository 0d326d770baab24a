"""Every stage, in rebuild order."""

from __future__ import annotations

from flows.stage import StageDef
from flows.stages import catalogs, crossmatch, demo_sky, fetch, labels, preprocess, train

STAGES: tuple[StageDef, ...] = (
    demo_sky.STAGE,
    catalogs.STAGE,
    crossmatch.STAGE,
    fetch.SPECTRA,
    fetch.LIGHTCURVES,
    preprocess.SPECTRA,
    preprocess.LIGHTCURVES,
    labels.STAGE,
    train.TRAIN_SPECTRA,
    train.TRAIN_LIGHTCURVES,
    train.FEATURES,
    train.TRAIN_DUALFORMER,
    train.TRAIN_BASELINES,
    train.FINETUNE,
)


def stages_for(profile: str) -> list[StageDef]:
    return [stage for stage in STAGES if profile in stage.profiles]


def stage_named(name: str) -> StageDef:
    for stage in STAGES:
        if stage.name == name:
            return stage
    known = ", ".join(stage.name for stage in STAGES)
    raise KeyError(f"unknown stage {name!r}; stages are: {known}")
