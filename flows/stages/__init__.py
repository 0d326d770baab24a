"""Every stage, in rebuild order."""

from __future__ import annotations

from flows.stage import StageDef
from flows.stages import (
    catalogs,
    crossmatch,
    demo_sky,
    embed,
    fetch,
    finetune,
    labels,
    preprocess,
    products,
    train,
)

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
    embed.EMBED,
    finetune.FINETUNE,
    products.UMAP,
    products.EVALUATE,
    products.REPORT,
)


def stages_for(profile: str, until: str | None = None) -> list[StageDef]:
    """The profile's stages in order, up to and including ``until`` when given."""
    stages = [stage for stage in STAGES if profile in stage.profiles]
    if until is None:
        return stages
    names = [stage.name for stage in stages]
    if until not in names:
        raise KeyError(f"unknown stage {until!r}; stages are: {', '.join(names)}")
    return stages[: names.index(until) + 1]


def downstream_of(name: str, profile: str) -> list[StageDef]:
    """The profile's stages that read, directly or through others, what ``name`` writes."""
    affected, found = {name}, []
    for stage in stages_for(profile):
        if affected.intersection(stage.upstream):
            affected.add(stage.name)
            found.append(stage)
    return found


def stage_named(name: str) -> StageDef:
    for stage in STAGES:
        if stage.name == name:
            return stage
    known = ", ".join(stage.name for stage in STAGES)
    raise KeyError(f"unknown stage {name!r}; stages are: {known}")
