"""Training stages: encoders, frozen features, DualFormer and baselines.

The bodies are `desa.training.stages`; here are their keys and Prefect tasks, with the
progress bars and detail log of a flow run passed in. Each model's checkpoints live in
``checkpoints/<stage>/<identity>/`` until it is published to ``models/``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from desa.models import profiles
from desa.training import comparison
from flows.progress import StageProgress, detail_log
from flows.settings import Settings
from flows.stage import StageDef
from flows.stages.lazy_task import LazyTask
from storage import layout

# The keys need only the torch-free configs; the bodies import torch when they run.
BODIES = "desa.training.stages"


def stage_config(settings: Settings, model: Any, loop: str, *extra: str) -> dict[str, Any]:
    """A training stage's key: model dims, its loop and seed, and objective settings.
    Hardware choices (accelerator, devices, precision, workers) are left out."""
    training = settings.training
    return {
        "model": asdict(model),
        "loop": getattr(training, loop).model_dump(mode="json"),
        "seed": training.seed,
        **{name: getattr(training, name) for name in extra},
    }


# ------------------------------------------------------------------ train-spectra

train_spectra_task = LazyTask(f"{BODIES}:train_spectra_model", name="train-spectra")

TRAIN_SPECTRA = StageDef(
    name="train-spectra",
    version="1",
    writes=(layout.SPECTRA_MODEL.relpath,),
    reads=(layout.SPECTRA, layout.labels("spectra_labels")),
    config=lambda s: stage_config(
        s, profiles.model_configs(s.profile).spectra, "spectra", "spectra_ssl_weight", "mask_rate"
    ),
    body=lambda ctx: train_spectra_task(
        ctx.root, ctx.settings.training, ctx.settings.profile, ctx.inputs, StageProgress, detail_log
    ),
    description="Spectra encoder: masked filling + SNR-weighted CQR on Teff, logg, [Fe/H].",
    gpu=True,
)


# ------------------------------------------------------------------ train-lightcurves

train_lightcurves_task = LazyTask(f"{BODIES}:train_lightcurve_model", name="train-lightcurves")

TRAIN_LIGHTCURVES = StageDef(
    name="train-lightcurves",
    version="2",  # light curves in absolute units (lum_factor applied)
    writes=(layout.LIGHTCURVE_MODEL.relpath,),
    reads=(layout.LIGHTCURVES, layout.labels("lightcurve_labels")),
    config=lambda s: stage_config(
        s, profiles.model_configs(s.profile).lightcurves, "lightcurves", "lightcurve_ssl_weight"
    ),
    body=lambda ctx: train_lightcurves_task(
        ctx.root, ctx.settings.training, ctx.settings.profile, ctx.inputs, StageProgress, detail_log
    ),
    description="Light-curve encoder: SimSiam on two crops + CQR on the rotation period.",
    gpu=True,
)


# ------------------------------------------------------------------ features

features_task = LazyTask(f"{BODIES}:write_feature_store", name="features")

FEATURES = StageDef(
    name="features",
    version="2",  # light curves in absolute units, the priors of the settings
    writes=(layout.FEATURES.relpath,),
    reads=(
        layout.SPECTRA_MODEL,
        layout.LIGHTCURVE_MODEL,
        layout.SPECTRA,
        layout.LIGHTCURVES,
        layout.labels("pairs"),
    ),
    config=lambda s: {
        "batch_size": s.training.dualformer.batch_size,
        "priors": list(s.training.priors),
    },
    body=lambda ctx: features_task(
        ctx.root, ctx.settings.training, ctx.settings.profile, ctx.inputs
    ),
    description="Frozen-encoder features of every LAMOST–Kepler pair (features.zarr).",
    gpu=True,
)


# ------------------------------------------------------------------ train-dualformer

train_dualformer_task = LazyTask(f"{BODIES}:train_dualformers", name="train-dualformer")

TRAIN_DUALFORMER = StageDef(
    name="train-dualformer",
    version="2",  # every DualFormer variant of the comparison, each with its own priors
    writes=(layout.dualformer("<model>").relpath,),
    reads=(layout.FEATURES,),
    config=lambda s: {
        **stage_config(s, profiles.model_configs(s.profile).dualformer, "dualformer"),
        "models": {
            m.name: {
                "config": asdict(comparison.dualformer_config(s.comparison(), m)),
                "priors": list(m.priors),
            }
            for m in comparison.dualformers(s.comparison())
        },
    },
    body=lambda ctx: train_dualformer_task(
        ctx.root,
        ctx.settings.comparison(),
        ctx.settings.training,
        ctx.inputs,
        StageProgress,
        detail_log,
        ctx.force,
    ),
    description="DESA's DualFormer, its no-priors control and ablations on the frozen features.",
    gpu=True,
)


# ------------------------------------------------------------------ train-baselines

train_baselines_task = LazyTask(f"{BODIES}:train_baselines", name="train-baselines")

TRAIN_BASELINES = StageDef(
    name="train-baselines",
    version="2",  # the aligners see the priors; one set per prior set of the comparison
    writes=(layout.baseline("<model>").relpath,),
    reads=(layout.FEATURES,),
    config=lambda s: {
        **stage_config(
            s, profiles.model_configs(s.profile).baselines, "baselines", "reference_moco"
        ),
        "models": {
            m.name: {
                "config": asdict(comparison.baseline_config(s.comparison(), m)),
                "priors": list(m.priors),
            }
            for m in comparison.aligners(s.comparison())
        },
    },
    body=lambda ctx: train_baselines_task(
        ctx.root,
        ctx.settings.comparison(),
        ctx.settings.training,
        ctx.inputs,
        StageProgress,
        detail_log,
        ctx.force,
    ),
    description="MoCo, MoCo-clean, SimSiam and VICReg on the frozen features and the priors.",
    gpu=True,
)
