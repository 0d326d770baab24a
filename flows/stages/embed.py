"""Stage `embed`: every model's embedding of every pair and star (`embeddings.zarr`)."""

from __future__ import annotations

from dataclasses import asdict

import zarr
from prefect import task
from prefect.cache_policies import NO_CACHE

from desa.models.baselines import BASELINES
from desa.models.dualformer import DualFormer
from desa.models.profiles import model_configs
from desa.training.embeddings import (
    Aligners,
    pair_embeddings,
    star_embeddings,
    write_embeddings,
)
from flows.stage import StageContext, StageDef, StageResult
from flows.stages.train import dualformer_config
from storage.fingerprint import fingerprint_json
from storage.publish import publishing


def _aligners(ctx: StageContext) -> Aligners:
    from desa.training.runs import baseline_model, load_trained  # Lightning: only when run

    configs, training = model_configs(ctx.settings.profile), ctx.settings.training
    config = dualformer_config(ctx.settings)
    dualformer = load_trained(
        ctx.root.store_url("models", "train-dualformer.ckpt"), DualFormer(config), config
    )
    baselines = {
        kind: load_trained(
            ctx.root.store_url("models", "baselines", f"{kind}.ckpt"),
            baseline_model(kind, configs.baselines, training.reference_moco),
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
    from desa.training.runs import training_device

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
    writes=("embeddings.zarr",),
    reads=(
        ("features", "store"),
        ("train-dualformer", "model"),
        *(("train-baselines", kind) for kind in BASELINES),
    ),
    config=lambda s: {
        "dualformer": asdict(dualformer_config(s)),
        "reference_moco": s.training.reference_moco,
    },
    body=lambda ctx: embed_task(ctx),
    description="DESA, baseline and unimodal embeddings of every pair and star (embeddings.zarr).",
)
