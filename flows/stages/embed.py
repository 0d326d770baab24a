"""Stage `embed`: every compared model's embedding of every pair and star (`embeddings.zarr`).

The models are `desa.training.comparison.comparison_models` of the settings; the store's
attributes name them, so `finetune` and the product stages read the same list from it.
"""

from __future__ import annotations

from dataclasses import asdict

import zarr
from prefect import task
from prefect.cache_policies import NO_CACHE
from torch import nn

from desa.models.dualformer import DualFormer
from desa.products.embeddings import (
    model_attrs,
    pair_embeddings,
    star_embeddings,
    write_embeddings,
)
from desa.training.comparison import (
    DUALFORMER,
    ModelSpec,
    baseline_config,
    comparison_models,
    dualformer_config,
)
from flows.settings import Settings
from flows.stage import StageContext, StageDef
from storage import layout
from storage.fingerprint import fingerprint_json
from storage.publish import publishing
from storage.state import StageResult, read_state

TRAINED = {DUALFORMER: "train-dualformer"}  # any other trained kind: train-baselines


def _stage(spec: ModelSpec) -> str:
    return TRAINED.get(spec.kind, "train-baselines")


def _trained(ctx: StageContext, models: tuple[ModelSpec, ...]) -> dict[str, nn.Module]:
    from desa.training.runs import baseline_model, load_trained  # Lightning: only when run

    reference_moco = ctx.settings.training.reference_moco
    comparison = ctx.settings.comparison()
    out = {}
    for m in models:
        if m.kind == DUALFORMER:
            config = dualformer_config(comparison, m)
            model, folder = DualFormer(config), "dualformer"
        elif m.trained:
            config = baseline_config(comparison, m)
            model, folder = baseline_model(m.kind, config, reference_moco), "baselines"
        else:
            continue
        url = ctx.root.store_url("models", folder, f"{m.name}.ckpt")
        out[m.name] = load_trained(url, model, config)
    return out


def _model_keys(ctx: StageContext, models: tuple[ModelSpec, ...]) -> dict[str, str]:
    """The fingerprint of what makes each embedding (a map or head made from an embedding
    is kept only while its key stays the same): the trained model's weights, or the frozen
    encoders and the priors."""
    features = dict(zarr.open_group(ctx.root.store_url("features.zarr"), mode="r").attrs)
    encoders = features["inputs"]
    outputs = {
        stage: read_state(ctx.root.fs, ctx.root.state_path(stage)).outputs
        for stage in ("train-dualformer", "train-baselines")
    }
    own = {
        "spectra_only": [encoders["train-spectra:model"]],
        "lightcurve_only": [encoders["train-lightcurves:model"]],
        "priors_only": [],
    }
    keys = {}
    for m in models:
        if m.trained:
            keys[m.name] = outputs[_stage(m)][m.name]
        else:
            keys[m.name] = fingerprint_json({"encoders": own[m.kind], "priors": list(m.priors)})
        keys[m.head_input] = keys[m.name]
    return keys


@task(name="embed", cache_policy=NO_CACHE)
def embed_task(ctx: StageContext) -> StageResult:
    from desa.training.runs import training_device

    root, training = ctx.root, ctx.settings.training
    models = comparison_models(ctx.settings.comparison())
    pairs, pair_values = pair_embeddings(
        root.store_url("features.zarr"),
        models,
        _trained(ctx, models),
        batch_size=training.finetune.batch_size,
        device=training_device(training),
    )
    stars, star_values = star_embeddings(pairs, pair_values)
    dest = root.path("embeddings.zarr")
    with publishing(root.fs, dest) as tmp:
        url = tmp if root.is_local else root.fs.unstrip_protocol(tmp)
        attrs = {"model_keys": _model_keys(ctx, models), **model_attrs(models)}
        write_embeddings(url, pairs, pair_values, stars, star_values, attrs)
    counts = stars["split"].value_counts().to_dict()
    summary = {
        "pairs": len(pairs),
        "stars": len(stars),
        "models": len(models),
        **{s: int(counts.get(s, 0)) for s in ("train", "val", "test")},
    }
    key = fingerprint_json({"inputs": ctx.inputs, "config": _config(ctx.settings)})
    return StageResult({"store": key}, {"store": dest}, summary)


def _config(settings: Settings) -> dict:
    comparison = settings.comparison()
    models = comparison_models(comparison)
    return {
        "models": [asdict(m) for m in models],
        "dualformer": {
            m.name: asdict(dualformer_config(comparison, m)) for m in models if m.kind == DUALFORMER
        },
        "reference_moco": settings.training.reference_moco,
    }


EMBED = StageDef(
    name="embed",
    version="2",  # every model of the comparison, with the priors; model list in the attrs
    writes=("embeddings.zarr",),
    reads=(
        layout.FEATURES,
        layout.DUALFORMERS,
        layout.BASELINES,
    ),
    config=_config,
    body=lambda ctx: embed_task(ctx),
    description="Every compared model's embedding of every pair and star (embeddings.zarr).",
)
