"""Training stages: encoders, frozen features, DualFormer, baselines, embeddings, heads.

Each model trains in-process (CPU, or CUDA when present) under Lightning, with checkpoints
in ``checkpoints/<stage>/<identity>/`` so a killed stage resumes where it stopped. A finished
model is published atomically to ``models/`` as its complete best checkpoint, and the
checkpoint folder is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

import fsspec
import zarr
from prefect import task
from prefect.cache_policies import NO_CACHE

from desa.config import LoopSettings, Settings
from desa.models.dualformer import DualFormer, DualFormerConfig
from desa.models.lightcurves import LightCurveEncoder
from desa.models.profiles import model_configs
from desa.models.spectra import SpectraModel
from desa.training import runs
from desa.training.checkpoints import CheckpointError, read_checkpoint, weights_fingerprint
from desa.training.embeddings import (
    Aligners,
    pair_embeddings,
    read_embeddings,
    star_embeddings,
    write_embeddings,
)
from desa.training.features import write_features
from desa.training.finetune import finetune, star_targets
from desa.training.fit import FitResult
from desa.training.runs import BASELINES, Job, load_trained, training_device
from desa.training.tasks import LightCurveModel
from flows.stage import StageContext, StageDef, StageResult
from storage.fingerprint import fingerprint_frame, fingerprint_json
from storage.publish import atomic_write_bytes, publishing
from storage.tables import read_parquet, write_parquet


def _config(settings: Settings, model: Any, loop: str, *extra: str) -> dict[str, Any]:
    """A training stage's key: model dims, its loop and seed, and objective settings.
    Hardware choices (accelerator, devices, precision, workers) are left out."""
    training = settings.training
    return {
        "model": asdict(model),
        "loop": getattr(training, loop).model_dump(mode="json"),
        "seed": training.seed,
        **{name: getattr(training, name) for name in extra},
    }


def _dualformer(settings: Settings) -> DualFormerConfig:
    config = model_configs(settings.profile).dualformer
    return replace(config, reference_cross_bug=settings.training.reference_cross_bug)


def _job(ctx: StageContext, name: str, loop: LoopSettings) -> Job:
    return Job(
        name=name,
        checkpoints=ctx.root.store_url("checkpoints", name),
        training=ctx.settings.training,
        loop=loop,
        data=fingerprint_json(ctx.inputs),
    )


def _publish(ctx: StageContext, result: FitResult, dest: str, checkpoints: str) -> str:
    """Copy the best checkpoint to ``dest`` atomically, drop the checkpoints; fingerprint."""
    fs, best = fsspec.core.url_to_fs(result.best_path)
    checkpoint = read_checkpoint(fs, best)
    with fs.open(best, "rb") as handle:
        atomic_write_bytes(ctx.root.fs, dest, handle.read())
    fs, folder = ctx.root.fs, ctx.root.path(checkpoints)
    fs.rm(folder, recursive=True)
    parent = folder.rpartition("/")[0]
    if parent != ctx.root.path("checkpoints") and not fs.ls(parent):
        fs.rm(parent, recursive=True)  # e.g. checkpoints/baselines/ once its last model is out
    return weights_fingerprint(checkpoint)


def _train_model(
    ctx: StageContext, name: str, loop: LoopSettings, train: Callable[[Job], tuple[FitResult, dict]]
) -> StageResult:
    """Train the stage's one model and publish it as output ``model``."""
    result, report = train(_job(ctx, name, loop))
    dest = ctx.root.path("models", f"{name}.ckpt")
    fingerprint = _publish(ctx, result, dest, f"checkpoints/{name}")
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
    reads=(("spectra", "store"), ("labels", "spectra_labels")),
    config=lambda s: _config(
        s, model_configs(s.profile).spectra, "spectra", "spectra_ssl_weight", "mask_rate"
    ),
    body=lambda ctx: train_spectra_task(ctx),
    description="Spectra encoder: masked filling + SNR-weighted CQR on Teff, logg, [Fe/H].",
)


# ------------------------------------------------------------------ train-lightcurves


@task(name="train-lightcurves", cache_policy=NO_CACHE)
def train_lightcurves_task(ctx: StageContext) -> StageResult:
    root, training = ctx.root, ctx.settings.training
    labels = read_parquet(root.fs, root.path("labels", "lightcurve_labels.parquet"))
    config = model_configs(ctx.settings.profile).lightcurves

    def train(job: Job) -> tuple[FitResult, dict]:
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
    version="1",
    reads=(("lightcurves", "store"), ("labels", "lightcurve_labels")),
    config=lambda s: _config(
        s, model_configs(s.profile).lightcurves, "lightcurves", "lightcurve_ssl_weight"
    ),
    body=lambda ctx: train_lightcurves_task(ctx),
    description="Light-curve encoder: SimSiam on two crops + CQR on the rotation period.",
)


# ------------------------------------------------------------------ features


@task(name="features", cache_policy=NO_CACHE)
def features_task(ctx: StageContext) -> StageResult:
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
    dest = root.path("features.zarr")
    with publishing(root.fs, dest) as tmp:
        n = write_features(
            tmp if root.is_local else root.fs.unstrip_protocol(tmp),
            pairs,
            root.store_url("spectra.zarr"),
            root.store_url("lightcurves.zarr"),
            spectra,
            curves,
            batch_size=ctx.settings.training.dualformer.batch_size,
            device=training_device(ctx.settings.training),
            attrs={"inputs": ctx.inputs},
        )
    counts = pairs["split"].value_counts().to_dict()
    summary = {"pairs": n, **{s: int(counts.get(s, 0)) for s in ("train", "val", "test")}}
    return StageResult({"store": fingerprint_json(ctx.inputs)}, {"store": dest}, summary)


FEATURES = StageDef(
    name="features",
    version="1",
    reads=(
        ("train-spectra", "model"),
        ("train-lightcurves", "model"),
        ("spectra", "store"),
        ("lightcurves", "store"),
        ("labels", "pairs"),
    ),
    config=lambda s: {"batch_size": s.training.dualformer.batch_size},
    body=lambda ctx: features_task(ctx),
    description="Frozen-encoder features of every LAMOST–Kepler pair (features.zarr).",
)


# ------------------------------------------------------------------ train-dualformer


@task(name="train-dualformer", cache_policy=NO_CACHE)
def train_dualformer_task(ctx: StageContext) -> StageResult:
    config, features = _dualformer(ctx.settings), ctx.root.store_url("features.zarr")
    return _train_model(
        ctx,
        "train-dualformer",
        ctx.settings.training.dualformer,
        lambda job: runs.train_dualformer(job, features, config),
    )


TRAIN_DUALFORMER = StageDef(
    name="train-dualformer",
    version="1",
    reads=(("features", "store"),),
    config=lambda s: _config(s, _dualformer(s), "dualformer"),
    body=lambda ctx: train_dualformer_task(ctx),
    description="DualFormer: dual-projection + covariance loss on the frozen features.",
)


# ------------------------------------------------------------------ train-baselines


@task(name="train-baselines", cache_policy=NO_CACHE)
def train_baselines_task(ctx: StageContext) -> StageResult:
    """Each baseline is published as soon as it is trained; a rerun after a kill keeps the
    ones already published for the same identity and trains the rest."""
    training = ctx.settings.training
    config = model_configs(ctx.settings.profile).baselines
    features = ctx.root.store_url("features.zarr")
    outputs, paths, summary, rows = {}, {}, {}, []
    for kind in BASELINES:
        name = f"baselines/{kind}"
        dest = ctx.root.path("models", f"{name}.ckpt")
        job = _job(ctx, name, training.baselines)
        wanted = job.identity(config, kind=kind, reference_moco=training.reference_moco)
        kept = None if ctx.force else _published(ctx, dest, wanted)
        if kept is not None:
            outputs[kind], paths[kind] = kept, dest
            summary[kind] = "kept"
            continue
        result, losses = runs.train_baseline(
            job, features, kind, config, reference_moco=training.reference_moco
        )
        outputs[kind] = _publish(ctx, result, dest, f"checkpoints/{name}")
        paths[kind] = dest
        summary[kind] = {k: round(v, 6) for k, v in losses.items()}
        rows += [{"baseline": kind, **row} for row in result.history]
    return StageResult(outputs, paths, summary, rows)


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
    version="1",
    reads=(("features", "store"),),
    config=lambda s: _config(s, model_configs(s.profile).baselines, "baselines", "reference_moco"),
    body=lambda ctx: train_baselines_task(ctx),
    description="MoCo, MoCo-clean, SimSiam and VICReg on the same frozen features.",
)


# ------------------------------------------------------------------ finetune


def _aligners(ctx: StageContext) -> Aligners:
    configs, training = model_configs(ctx.settings.profile), ctx.settings.training
    config = _dualformer(ctx.settings)
    dualformer = load_trained(
        ctx.root.store_url("models", "train-dualformer.ckpt"), DualFormer(config), config
    )
    baselines = {
        kind: load_trained(
            ctx.root.store_url("models", "baselines", f"{kind}.ckpt"),
            runs.baseline_model(kind, configs.baselines, training.reference_moco),
            configs.baselines,
        )
        for kind in BASELINES
    }
    return Aligners(dualformer, baselines)


def _model_keys(ctx: StageContext) -> dict[str, str]:
    """The fingerprint of the model behind each embedding (a map or head made from an
    embedding is kept only while its key stays the same)."""
    features = dict(zarr.open_group(ctx.root.store_url("features.zarr"), mode="r").attrs)
    encoders = features["inputs"]
    dualformer = ctx.inputs["train-dualformer:model"]
    return {
        "desa": dualformer,
        "desa_projections": dualformer,
        **{kind: ctx.inputs[f"train-baselines:{kind}"] for kind in BASELINES},
        "spectra_only": encoders["train-spectra:model"],
        "lightcurve_only": encoders["train-lightcurves:model"],
    }


@task(name="embed", cache_policy=NO_CACHE)
def embed_task(ctx: StageContext) -> StageResult:
    root, training = ctx.root, ctx.settings.training
    pairs, pair_values = pair_embeddings(
        root.store_url("features.zarr"),
        _aligners(ctx),
        batch_size=training.finetune.batch_size,
        device=training_device(training),
    )
    stars, star_values = star_embeddings(pairs, pair_values)
    dest = root.path("embeddings.zarr")
    with publishing(root.fs, dest) as tmp:
        url = tmp if root.is_local else root.fs.unstrip_protocol(tmp)
        attrs = {"model_keys": _model_keys(ctx)}
        write_embeddings(url, pairs, pair_values, stars, star_values, attrs)
    counts = stars["split"].value_counts().to_dict()
    summary = {
        "pairs": len(pairs),
        "stars": len(stars),
        **{s: int(counts.get(s, 0)) for s in ("train", "val", "test")},
    }
    return StageResult({"store": fingerprint_json(ctx.inputs)}, {"store": dest}, summary)


EMBED = StageDef(
    name="embed",
    version="1",
    reads=(
        ("features", "store"),
        ("train-dualformer", "model"),
        *(("train-baselines", kind) for kind in BASELINES),
    ),
    config=lambda s: {
        "dualformer": asdict(_dualformer(s)),
        "reference_moco": s.training.reference_moco,
    },
    body=lambda ctx: embed_task(ctx),
    description="DESA, baseline and unimodal embeddings of every pair and star (embeddings.zarr).",
)


@task(name="finetune", cache_policy=NO_CACHE)
def finetune_task(ctx: StageContext) -> StageResult:
    root, training = ctx.root, ctx.settings.training
    stars, star_values, _ = read_embeddings(root.store_url("embeddings.zarr"), "stars")
    targets = star_targets(
        stars,
        read_parquet(root.fs, root.path("labels", "binary.parquet")),
        read_parquet(root.fs, root.path("labels", "ages.parquet")),
    )
    outputs, paths, losses = {}, {}, {}

    def publish(job_name: str, result: FitResult) -> None:
        name = job_name.removeprefix("finetune/")
        dest = paths[name] = root.path("models", f"{job_name}.ckpt")
        outputs[name] = _publish(ctx, result, dest, f"checkpoints/{job_name}")
        losses[name] = {k: round(v, 6) for k, v in result.losses.items()}

    predictions, scores = finetune(
        lambda name: _job(ctx, f"finetune/{name}", training.finetune),
        stars,
        star_values,
        targets,
        model_configs(ctx.settings.profile).head,
        publish,
    )
    dest = paths["predictions"] = root.path("finetune", "predictions.parquet")
    outputs["predictions"] = fingerprint = fingerprint_frame(predictions)
    write_parquet(predictions, root.fs, dest, metadata={"content_fingerprint": fingerprint})
    rows = [{"model": name, **values} for name, values in scores.items()]
    summary = {"stars": len(stars), **scores, "head_losses": losses}
    return StageResult(outputs, paths, summary, rows)


FINETUNE = StageDef(
    name="finetune",
    version="1",
    reads=(
        ("features", "store"),
        ("train-dualformer", "model"),
        *(("train-baselines", kind) for kind in BASELINES),
        ("labels", "binary"),
        ("labels", "ages"),
    ),
    config=lambda s: {
        "head": asdict(model_configs(s.profile).head),
        "loop": s.training.finetune.model_dump(mode="json"),
        "seed": s.training.seed,
        "dualformer": asdict(_dualformer(s)),
    },
    body=lambda ctx: finetune_task(ctx),
    description="Binary-vs-single and calibrated age heads on DESA and every baseline.",
)
