"""Training stages: encoders, frozen features, DualFormer and baselines.

Each model trains in-process (CPU, or CUDA when present) under Lightning, with checkpoints
in ``checkpoints/<stage>/<identity>/`` so a killed stage resumes where it stopped. A finished
model is published atomically to ``models/`` as its complete best checkpoint, and the
checkpoint folder is removed.

Lightning and the training code are imported inside the task bodies: every process that
imports the stages (the CLI, Dask workers, served and worker runs) would otherwise pay for
them, about 15 s each on a 2-core machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

import fsspec
from prefect import task
from prefect.cache_policies import NO_CACHE

from desa.models.profiles import model_configs
from desa.training.checkpoints import CheckpointError, read_checkpoint, weights_fingerprint
from desa.training.comparison import (
    DUALFORMER,
    ModelSpec,
    baseline_config,
    comparison_models,
    dualformer_config,
)
from desa.training.config import LoopConfig
from flows.progress import StageProgress, detail_log
from flows.settings import Settings
from flows.stage import StageContext, StageDef
from storage import layout
from storage.fingerprint import fingerprint_json
from storage.publish import publishing
from storage.state import StageResult
from storage.tables import read_parquet

if TYPE_CHECKING:
    from desa.training.fit import FitResult
    from desa.training.runs import Job


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


def dualformers(settings: Settings) -> tuple[ModelSpec, ...]:
    """The DualFormer variants the settings compare (desa, desa_no_priors, ablations...)."""
    return tuple(m for m in comparison_models(settings.comparison()) if m.kind == DUALFORMER)


def aligners(settings: Settings) -> tuple[ModelSpec, ...]:
    """The baseline aligners the settings compare (each prior set's MoCo, SimSiam...)."""
    return tuple(
        m for m in comparison_models(settings.comparison()) if m.trained and m.kind != DUALFORMER
    )


def job_for(
    ctx: StageContext,
    name: str,
    loop: LoopConfig,
    on_epoch: Callable[[int, int], None] | None = None,
) -> Job:
    """A model's job; its per-epoch lines are detail that a terminal's progress bar replaces."""
    from desa.training.runs import Job

    return Job(
        name=name,
        checkpoints=ctx.root.store_url("checkpoints", name),
        training=ctx.settings.training,
        loop=loop,
        data=fingerprint_json(ctx.inputs),
        log=detail_log,
        on_epoch=on_epoch,
    )


def publish_model(ctx: StageContext, result: FitResult, dest: str, checkpoints: str) -> str:
    """Copy the best checkpoint to ``dest`` atomically, drop the checkpoints; fingerprint."""
    fs, folder = ctx.root.fs, ctx.root.path(checkpoints)
    best = fsspec.core.url_to_fs(result.best_path)[1]  # under the data root, like ``dest``
    checkpoint = read_checkpoint(fs, best)
    with publishing(fs, dest) as tmp:
        fs.copy(best, tmp)  # a paper checkpoint is GBs: copied, not held in memory twice
    fs.rm(folder, recursive=True)
    parent = folder.rpartition("/")[0]
    if parent != ctx.root.path("checkpoints") and not fs.ls(parent):
        fs.rm(parent, recursive=True)  # e.g. checkpoints/baselines/ once its last model is out
    return weights_fingerprint(checkpoint)


def _train_model(
    ctx: StageContext, name: str, loop: LoopConfig, train: Callable[[Job], tuple[FitResult, dict]]
) -> StageResult:
    """Train the stage's one model and publish it as output ``model``."""
    with StageProgress(name, "epochs", loop.max_epochs) as progress:
        result, report = train(job_for(ctx, name, loop, progress.update))
    dest = ctx.root.path("models", f"{name}.ckpt")
    fingerprint = publish_model(ctx, result, dest, f"checkpoints/{name}")
    summary = {**result.losses, **{k: round(v, 6) for k, v in report.items()}}
    if result.resumed_at_epoch is not None:
        summary["resumed_at_epoch"] = result.resumed_at_epoch
    return StageResult({"model": fingerprint}, {"model": dest}, summary, result.history)


# ------------------------------------------------------------------ train-spectra


@task(name="train-spectra", cache_policy=NO_CACHE)
def train_spectra_task(ctx: StageContext) -> StageResult:
    root, training = ctx.root, ctx.settings.training
    labels = read_parquet(root.fs, root.path("labels", "spectra_labels.parquet"))
    config = model_configs(ctx.settings.profile).spectra

    def train(job: Job) -> tuple[FitResult, dict]:
        from desa.training import runs

        return runs.train_spectra(
            job,
            root.store_url("spectra.zarr"),
            labels,
            config,
            ssl_weight=training.spectra_ssl_weight,
            mask_rate=training.mask_rate,
        )

    return _train_model(ctx, "train-spectra", training.spectra, train)


TRAIN_SPECTRA = StageDef(
    name="train-spectra",
    version="1",
    writes=("models/train-spectra.ckpt",),
    reads=(layout.SPECTRA, layout.labels("spectra_labels")),
    config=lambda s: stage_config(
        s, model_configs(s.profile).spectra, "spectra", "spectra_ssl_weight", "mask_rate"
    ),
    body=lambda ctx: train_spectra_task(ctx),
    description="Spectra encoder: masked filling + SNR-weighted CQR on Teff, logg, [Fe/H].",
    gpu=True,
)


# ------------------------------------------------------------------ train-lightcurves


@task(name="train-lightcurves", cache_policy=NO_CACHE)
def train_lightcurves_task(ctx: StageContext) -> StageResult:
    root, training = ctx.root, ctx.settings.training
    labels = read_parquet(root.fs, root.path("labels", "lightcurve_labels.parquet"))
    config = model_configs(ctx.settings.profile).lightcurves

    def train(job: Job) -> tuple[FitResult, dict]:
        from desa.training import runs

        return runs.train_lightcurves(
            job,
            root.store_url("lightcurves.zarr"),
            labels,
            config,
            ssl_weight=training.lightcurve_ssl_weight,
        )

    return _train_model(ctx, "train-lightcurves", training.lightcurves, train)


TRAIN_LIGHTCURVES = StageDef(
    name="train-lightcurves",
    version="2",  # light curves in absolute units (lum_factor applied)
    writes=("models/train-lightcurves.ckpt",),
    reads=(layout.LIGHTCURVES, layout.labels("lightcurve_labels")),
    config=lambda s: stage_config(
        s, model_configs(s.profile).lightcurves, "lightcurves", "lightcurve_ssl_weight"
    ),
    body=lambda ctx: train_lightcurves_task(ctx),
    description="Light-curve encoder: SimSiam on two crops + CQR on the rotation period.",
    gpu=True,
)


# ------------------------------------------------------------------ features


@task(name="features", cache_policy=NO_CACHE)
def features_task(ctx: StageContext) -> StageResult:
    from desa.models.lightcurves import LightCurveEncoder
    from desa.models.spectra import SpectraModel
    from desa.training.datasets import with_distance
    from desa.training.features import write_features
    from desa.training.runs import load_trained, training_device
    from desa.training.tasks import LightCurveModel

    root, configs = ctx.root, model_configs(ctx.settings.profile)
    spectra = load_trained(
        root.store_url("models", "train-spectra.ckpt"),
        SpectraModel(configs.spectra),
        configs.spectra,
    ).encoder
    curves = load_trained(
        root.store_url("models", "train-lightcurves.ckpt"),
        LightCurveModel(LightCurveEncoder(configs.lightcurves)),
        configs.lightcurves,
    ).encoder
    pairs = read_parquet(root.fs, root.path("labels", "pairs.parquet"))
    # No distance, no absolute magnitude: left out, as the reference's Berger join does.
    located = with_distance(root.store_url("lightcurves.zarr"), pairs["kic"].to_numpy("i8"))
    pairs = pairs[located]
    dest = root.path("features.zarr")
    with publishing(root.fs, dest) as tmp:
        n = write_features(
            tmp if root.is_local else root.fs.unstrip_protocol(tmp),
            pairs,
            root.store_url("spectra.zarr"),
            root.store_url("lightcurves.zarr"),
            spectra,
            curves,
            prior_names=ctx.settings.training.priors,
            batch_size=ctx.settings.training.dualformer.batch_size,
            device=training_device(ctx.settings.training),
            attrs={"inputs": ctx.inputs},
        )
    counts = pairs["split"].value_counts().to_dict()
    summary = {
        "pairs": n,
        "pairs_without_distance": int((~located).sum()),
        **{s: int(counts.get(s, 0)) for s in ("train", "val", "test")},
    }
    key = fingerprint_json({"inputs": ctx.inputs, "priors": ctx.settings.training.priors})
    return StageResult({"store": key}, {"store": dest}, summary)


FEATURES = StageDef(
    name="features",
    version="2",  # light curves in absolute units, the priors of the settings
    writes=("features.zarr",),
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
    body=lambda ctx: features_task(ctx),
    description="Frozen-encoder features of every LAMOST–Kepler pair (features.zarr).",
    gpu=True,
)


# ------------------------------------------------------------------ train-dualformer


def _train_each(
    ctx: StageContext,
    stage: str,
    folder: str,
    loop: LoopConfig,
    models: dict[str, tuple[dict, Callable[[Job], tuple[FitResult, dict]]]],
) -> StageResult:
    """Train and publish each model (name -> (identity extras and config, train)) as
    ``models/<folder>/<name>.ckpt``, output ``<name>``, plus output ``models``: the
    fingerprint of them all. A model is published as soon as it is trained; a rerun after a
    kill keeps those already published for the same identity and trains the rest."""
    outputs, paths, summary, rows = {}, {}, {}, []
    for model, (identity, train) in models.items():
        name = f"{folder}/{model}"
        dest = ctx.root.path("models", f"{name}.ckpt")
        job = job_for(ctx, name, loop)
        kept = None if ctx.force else _published(ctx, dest, job.identity(**identity))
        if kept is not None:
            outputs[model], paths[model] = kept, dest
            summary[model] = "kept"
            continue
        started = time.perf_counter()
        with StageProgress(stage, "epochs", loop.max_epochs, model) as progress:
            result, losses = train(replace(job, on_epoch=progress.update))
        outputs[model] = publish_model(ctx, result, dest, f"checkpoints/{name}")
        paths[model] = dest
        summary[model] = {k: round(v, 6) for k, v in losses.items()}
        summary[model]["seconds"] = round(time.perf_counter() - started, 1)
        rows += [{"model": model, **row} for row in result.history]
    outputs["models"] = fingerprint_json(outputs)
    return StageResult(outputs, paths, summary, rows)


@task(name="train-dualformer", cache_policy=NO_CACHE)
def train_dualformer_task(ctx: StageContext) -> StageResult:
    from desa.training import runs

    features = ctx.root.store_url("features.zarr")

    def entry(spec: ModelSpec) -> tuple[dict, Callable[[Job], tuple[FitResult, dict]]]:
        config = dualformer_config(ctx.settings.comparison(), spec)
        identity = {"config": config, "priors": list(spec.priors)}
        return identity, lambda job: runs.train_dualformer(job, features, config, spec.priors)

    models = {spec.name: entry(spec) for spec in dualformers(ctx.settings)}
    loop = ctx.settings.training.dualformer
    return _train_each(ctx, "train-dualformer", "dualformer", loop, models)


TRAIN_DUALFORMER = StageDef(
    name="train-dualformer",
    version="2",  # every DualFormer variant of the comparison, each with its own priors
    writes=("models/dualformer/<model>.ckpt",),
    reads=(layout.FEATURES,),
    config=lambda s: {
        **stage_config(s, model_configs(s.profile).dualformer, "dualformer"),
        "models": {
            m.name: {
                "config": asdict(dualformer_config(s.comparison(), m)),
                "priors": list(m.priors),
            }
            for m in dualformers(s)
        },
    },
    body=lambda ctx: train_dualformer_task(ctx),
    description="DESA's DualFormer, its no-priors control and ablations on the frozen features.",
    gpu=True,
)


# ------------------------------------------------------------------ train-baselines


@task(name="train-baselines", cache_policy=NO_CACHE)
def train_baselines_task(ctx: StageContext) -> StageResult:
    from desa.training import runs

    reference_moco = ctx.settings.training.reference_moco
    features = ctx.root.store_url("features.zarr")

    def entry(spec: ModelSpec) -> tuple[dict, Callable[[Job], tuple[FitResult, dict]]]:
        config = baseline_config(ctx.settings.comparison(), spec)
        identity = {
            "config": config,
            **runs.baseline_identity(spec.kind, spec.priors, reference_moco),
        }

        def train(job: Job) -> tuple[FitResult, dict]:
            return runs.train_baseline(
                job, features, spec.kind, config, spec.priors, reference_moco=reference_moco
            )

        return identity, train

    models = {spec.name: entry(spec) for spec in aligners(ctx.settings)}
    loop = ctx.settings.training.baselines
    return _train_each(ctx, "train-baselines", "baselines", loop, models)


def _published(ctx: StageContext, path: str, identity: dict) -> str | None:
    """Fingerprint of a published model with exactly ``identity``, else None."""
    if not ctx.root.fs.exists(path):
        return None
    try:
        checkpoint = read_checkpoint(ctx.root.fs, path)
    except CheckpointError:
        return None
    return weights_fingerprint(checkpoint) if checkpoint["desa"]["identity"] == identity else None


TRAIN_BASELINES = StageDef(
    name="train-baselines",
    version="2",  # the aligners see the priors; one set per prior set of the comparison
    writes=("models/baselines/<model>.ckpt",),
    reads=(layout.FEATURES,),
    config=lambda s: {
        **stage_config(s, model_configs(s.profile).baselines, "baselines", "reference_moco"),
        "models": {
            m.name: {"config": asdict(baseline_config(s.comparison(), m)), "priors": list(m.priors)}
            for m in aligners(s)
        },
    },
    body=lambda ctx: train_baselines_task(ctx),
    description="MoCo, MoCo-clean, SimSiam and VICReg on the frozen features and the priors.",
    gpu=True,
)
