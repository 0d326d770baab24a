"""The training stages' bodies: encoders, frozen features, DualFormers, baselines, heads.

Plain functions of the data root and typed configs; `flows.stages` wraps each as a Prefect
task and passes its progress display and log in. Each model trains in-process (CPU, or CUDA
when present) under Lightning, with checkpoints in ``checkpoints/<job>/<identity>/`` so a
killed stage resumes where it stopped, and is published to ``models/`` when done
(`desa.training.publish`).

Lightning and the training code are imported inside the bodies: every process that imports
the stages (the CLI, Dask workers, served and worker runs) would otherwise pay for them,
about 15 s each on a 2-core machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from desa.models.profiles import model_configs
from desa.training.comparison import (
    ModelSpec,
    aligners,
    baseline_config,
    dualformer_config,
    dualformers,
)
from desa.training.config import ComparisonConfig, LoopConfig, TrainingConfig
from desa.training.publish import drop_checkpoints, publish_model, published
from storage import layout
from storage.fingerprint import fingerprint_frame, fingerprint_json
from storage.layout import DataRoot, Product
from storage.progress import Progress, Tracker
from storage.publish import publishing
from storage.state import StageResult
from storage.tables import read_parquet, write_parquet

if TYPE_CHECKING:
    from desa.training.fit import FitResult
    from desa.training.runs import Job

Log = Callable[[str], None]
Train = Callable[["Job"], tuple["FitResult", dict]]


def job_for(
    root: DataRoot,
    name: str,
    training: TrainingConfig,
    loop: LoopConfig,
    inputs: dict[str, str],
    log: Log = print,
    on_epoch: Callable[[int, int], None] | None = None,
) -> Job:
    """A model's job: checkpoints in ``checkpoints/<name>``, its data the fingerprints the
    stage's key was made of (``inputs``)."""
    from desa.training.runs import Job

    return Job(
        name=name,
        checkpoints=root.store_url(layout.checkpoints(name)),
        training=training,
        loop=loop,
        data=fingerprint_json(inputs),
        log=log,
        on_epoch=on_epoch,
    )


def train_model(
    root: DataRoot,
    product: Product,
    training: TrainingConfig,
    loop: LoopConfig,
    inputs: dict[str, str],
    train: Train,
    progress: Tracker,
    log: Log = print,
) -> StageResult:
    """Train the stage's one model (job name: the stage) and publish it as ``product``."""
    name = product.stage
    with progress(name, "epochs", loop.max_epochs, None) as bar:
        result, report = train(job_for(root, name, training, loop, inputs, log, bar.update))
    dest = root.of(product)
    fingerprint = publish_model(root, result, dest, layout.checkpoints(name))
    summary = {**result.losses, **{k: round(v, 6) for k, v in report.items()}}
    if result.resumed_at_epoch is not None:
        summary["resumed_at_epoch"] = result.resumed_at_epoch
    return StageResult(
        {product.output: fingerprint}, {product.output: dest}, summary, result.history
    )


def train_each(
    root: DataRoot,
    stage: str,
    folder: str,
    training: TrainingConfig,
    loop: LoopConfig,
    inputs: dict[str, str],
    models: dict[str, tuple[dict, Train]],
    progress: Tracker,
    log: Log = print,
    force: bool = False,
) -> StageResult:
    """Train and publish each model (name -> (identity extras and config, train)) as
    ``models/<folder>/<name>.ckpt``, output ``<name>``, plus output ``models``: the
    fingerprint of them all. A model is published as soon as it is trained; a rerun after a
    kill keeps those already published for the same identity (unless ``force``) and trains
    the rest."""
    outputs, paths, summary, rows = {}, {}, {}, []
    for model, (identity, train) in models.items():
        name = f"{folder}/{model}"
        dest = root.path(layout.model(name))
        job = job_for(root, name, training, loop, inputs, log)
        kept = None if force else published(root.fs, dest, job.identity(**identity))
        if kept is not None:
            drop_checkpoints(root, layout.checkpoints(name))
            outputs[model], paths[model] = kept, dest
            summary[model] = "kept"
            continue
        started = time.perf_counter()
        with progress(stage, "epochs", loop.max_epochs, model) as bar:
            result, losses = train(replace(job, on_epoch=bar.update))
        outputs[model] = publish_model(root, result, dest, layout.checkpoints(name))
        paths[model] = dest
        summary[model] = {k: round(v, 6) for k, v in losses.items()}
        summary[model]["seconds"] = round(time.perf_counter() - started, 1)
        rows += [{"model": model, **row} for row in result.history]
    outputs["models"] = fingerprint_json(outputs)
    return StageResult(outputs, paths, summary, rows)


def train_spectra_model(
    root: DataRoot,
    training: TrainingConfig,
    profile: str,
    inputs: dict[str, str],
    progress: Tracker,
    log: Log = print,
) -> StageResult:
    """Stage train-spectra: the spectra encoder (masked filling + SNR-weighted CQR)."""
    labels = read_parquet(root.fs, root.of(layout.labels("spectra_labels")))
    config = model_configs(profile).spectra

    def train(job: Job) -> tuple[FitResult, dict]:
        from desa.training import runs

        return runs.train_spectra(
            job,
            root.url_of(layout.SPECTRA),
            labels,
            config,
            ssl_weight=training.spectra_ssl_weight,
            mask_rate=training.mask_rate,
        )

    product, loop = layout.SPECTRA_MODEL, training.spectra
    return train_model(root, product, training, loop, inputs, train, progress, log)


def train_lightcurve_model(
    root: DataRoot,
    training: TrainingConfig,
    profile: str,
    inputs: dict[str, str],
    progress: Tracker,
    log: Log = print,
) -> StageResult:
    """Stage train-lightcurves: the light-curve encoder (SimSiam + CQR on the period)."""
    labels = read_parquet(root.fs, root.of(layout.labels("lightcurve_labels")))
    config = model_configs(profile).lightcurves

    def train(job: Job) -> tuple[FitResult, dict]:
        from desa.training import runs

        return runs.train_lightcurves(
            job,
            root.url_of(layout.LIGHTCURVES),
            labels,
            config,
            ssl_weight=training.lightcurve_ssl_weight,
        )

    product, loop = layout.LIGHTCURVE_MODEL, training.lightcurves
    return train_model(root, product, training, loop, inputs, train, progress, log)


def write_feature_store(
    root: DataRoot, training: TrainingConfig, profile: str, inputs: dict[str, str]
) -> StageResult:
    """Stage features: the frozen encoders' features of every LAMOST–Kepler pair."""
    from desa.models.lightcurves import LightCurveEncoder
    from desa.models.spectra import SpectraModel
    from desa.training.datasets import with_distance
    from desa.training.features import write_features
    from desa.training.runs import load_trained, training_device
    from desa.training.tasks import LightCurveModel

    configs = model_configs(profile)
    spectra = load_trained(
        root.url_of(layout.SPECTRA_MODEL), SpectraModel(configs.spectra), configs.spectra
    ).encoder
    curves = load_trained(
        root.url_of(layout.LIGHTCURVE_MODEL),
        LightCurveModel(LightCurveEncoder(configs.lightcurves)),
        configs.lightcurves,
    ).encoder
    pairs = read_parquet(root.fs, root.of(layout.labels("pairs")))
    # No distance, no absolute magnitude: left out, as the reference's Berger join does.
    located = with_distance(root.url_of(layout.LIGHTCURVES), pairs["kic"].to_numpy("i8"))
    pairs = pairs[located]
    dest = root.of(layout.FEATURES)
    with publishing(root.fs, dest) as tmp:
        n = write_features(
            tmp if root.is_local else root.fs.unstrip_protocol(tmp),
            pairs,
            root.url_of(layout.SPECTRA),
            root.url_of(layout.LIGHTCURVES),
            spectra,
            curves,
            prior_names=training.priors,
            batch_size=training.dualformer.batch_size,
            device=training_device(training),
            attrs={"inputs": inputs},
        )
    counts = pairs["split"].value_counts().to_dict()
    summary = {
        "pairs": n,
        "pairs_without_distance": int((~located).sum()),
        **{s: int(counts.get(s, 0)) for s in ("train", "val", "test")},
    }
    key = fingerprint_json({"inputs": inputs, "priors": training.priors})
    return StageResult({layout.FEATURES.output: key}, {layout.FEATURES.output: dest}, summary)


def train_dualformers(
    root: DataRoot,
    comparison: ComparisonConfig,
    training: TrainingConfig,
    inputs: dict[str, str],
    progress: Tracker,
    log: Log = print,
    force: bool = False,
) -> StageResult:
    """Stage train-dualformer: every DualFormer variant of the comparison on the features."""
    from desa.training import runs

    features = root.url_of(layout.FEATURES)

    def entry(spec: ModelSpec) -> tuple[dict, Train]:
        config = dualformer_config(comparison, spec)
        identity = {"config": config, "priors": list(spec.priors)}
        return identity, lambda job: runs.train_dualformer(job, features, config, spec.priors)

    models = {spec.name: entry(spec) for spec in dualformers(comparison)}
    stage, loop = layout.DUALFORMERS.stage, training.dualformer
    return train_each(
        root, stage, "dualformer", training, loop, inputs, models, progress, log, force=force
    )


def train_baselines(
    root: DataRoot,
    comparison: ComparisonConfig,
    training: TrainingConfig,
    inputs: dict[str, str],
    progress: Tracker,
    log: Log = print,
    force: bool = False,
) -> StageResult:
    """Stage train-baselines: every aligner of the comparison on the features and priors."""
    from desa.training import runs

    reference_moco = training.reference_moco
    features = root.url_of(layout.FEATURES)

    def entry(spec: ModelSpec) -> tuple[dict, Train]:
        config = baseline_config(comparison, spec)
        identity = {
            "config": config,
            **runs.baseline_identity(spec.kind, spec.priors, reference_moco),
        }

        def train(job: Job) -> tuple[FitResult, dict]:
            return runs.train_baseline(
                job, features, spec.kind, config, spec.priors, reference_moco=reference_moco
            )

        return identity, train

    models = {spec.name: entry(spec) for spec in aligners(comparison)}
    stage, loop = layout.BASELINES.stage, training.baselines
    return train_each(
        root, stage, "baselines", training, loop, inputs, models, progress, log, force=force
    )


def train_heads(
    root: DataRoot,
    training: TrainingConfig,
    profile: str,
    inputs: dict[str, str],
    progress: Tracker,
    log: Log = print,
) -> StageResult:
    """Stage finetune: the binary and age heads of every model named by `embeddings.zarr`,
    published as ``models/finetune/<model>-{binary,age}.ckpt``, and their predictions."""
    from desa.products.embeddings import read_embeddings
    from desa.training.finetune import finetune, star_targets

    stage = layout.PREDICTIONS.stage
    stars, star_values, attrs = read_embeddings(root.url_of(layout.EMBEDDINGS), "stars")
    targets = star_targets(
        stars,
        read_parquet(root.fs, root.of(layout.labels("binary"))),
        read_parquet(root.fs, root.of(layout.labels("ages"))),
    )
    outputs, paths, losses = {}, {}, {}
    heads: dict[str, Progress] = {}  # each head's epochs, until the head is published

    def job(name: str) -> Job:
        heads[name] = progress(stage, "epochs", training.finetune.max_epochs, name)
        loop = training.finetune
        return job_for(root, f"{stage}/{name}", training, loop, inputs, log, heads[name].update)

    def publish(job_name: str, result: FitResult) -> None:
        name = job_name.removeprefix(f"{stage}/")
        heads.pop(name).close()
        dest = paths[name] = root.path(layout.model(job_name))
        outputs[name] = publish_model(root, result, dest, layout.checkpoints(job_name))
        losses[name] = {k: round(v, 6) for k, v in result.losses.items()}

    predictions, scores = finetune(
        job,
        stars,
        star_values,
        targets,
        model_configs(profile).head,
        publish,
        models=attrs["models"],
        binary_only=attrs["binary_only"],
        head_inputs=attrs["head_inputs"],
    )
    output = layout.PREDICTIONS.output
    dest = paths[output] = root.of(layout.PREDICTIONS)
    outputs[output] = fingerprint = fingerprint_frame(predictions)
    write_parquet(predictions, root.fs, dest, metadata={"content_fingerprint": fingerprint})
    rows = [{"model": name, **values} for name, values in scores.items()]
    summary = {"stars": len(stars), **scores, "head_losses": losses}
    return StageResult(outputs, paths, summary, rows)
