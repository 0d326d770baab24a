"""Embeddings of every pair and star under every compared model, from the frozen features.

The models are `desa.training.comparison.comparison_models`; each sees its own priors (picked
by name from `features.zarr`, encoded as values plus missing-indicators):

- a DualFormer variant ``<name>`` (``desa``, ``desa_no_priors``, ablations): (h_spec + h_lc)
  projected on W's eigenspace sorted by |λ| (desa_reference.md sec. 5;
  `desa.models.eigenspace`), and ``<name>_projections`` = cat(W h_spec, Wᵀ h_lc), the input
  of its fine-tuning heads (sec. 7);
- each aligner's downstream feature (MoCo q_s + q_l, SimSiam cat(z_s, z_l), VICReg z_s + z_l);
- ``spectra_only`` / ``lightcurve_only``: the frozen encoder feature with the encoded priors
  appended; ``priors_only``: the encoded priors alone.

`embeddings.zarr` holds two groups, ``pairs`` (one row per LAMOST–Kepler pair: coords obsid,
kic, star_id, split) and ``stars`` (the mean over each star's pairs: coords kic, star_id,
split, n_spectra), with one array per embedding; its attributes name the models of the
comparison (``models``), those scored on the binary task only (``binary_only``) and the
embedding each model's heads read (``head_inputs``), so every later stage reads the model
list from the store it works on. `write_embedding_store` is the embed stage's body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr
import zarr
from torch import nn

from desa.models.dualformer import DualFormer, encode_priors
from desa.models.eigenspace import eigenspace, project
from desa.training.comparison import (
    DUALFORMER,
    PRIORS_ONLY,
    ModelSpec,
    baseline_config,
    comparison_models,
    dualformer_config,
    embed_config,
)
from desa.training.config import ComparisonConfig, TrainingConfig
from desa.training.data import StoreBatches
from desa.training.datasets import prior_columns
from storage import layout
from storage.fingerprint import fingerprint_json
from storage.layout import DataRoot, Product
from storage.publish import publishing
from storage.state import StageResult, read_state

LEVELS = ("pairs", "stars")
STRING = np.dtypes.StringDType()


def model_attrs(models: Sequence[ModelSpec]) -> dict[str, object]:
    """The store attributes that name the compared models (see the module doc)."""
    return {
        "models": [m.name for m in models if not m.binary_only],
        "binary_only": [m.name for m in models if m.binary_only],
        "head_inputs": {m.name: m.head_input for m in models},
    }


@torch.no_grad()
def embed_batch(
    models: Sequence[ModelSpec],
    trained: Mapping[str, nn.Module],
    bases: Mapping[str, torch.Tensor],
    spec: torch.Tensor,
    lc: torch.Tensor,
    priors: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Every embedding of a batch of frozen features. ``trained``: name -> DualFormer or
    aligner; ``bases``: DualFormer name -> basis from `desa.models.eigenspace.eigenspace`;
    ``priors``: name -> that model's raw priors (B, P), NaN = unknown."""
    embeddings: dict[str, torch.Tensor] = {}
    for m in models:
        p = priors[m.name]
        if m.kind == DUALFORMER:
            out = trained[m.name].eval()(spec, lc, p)
            basis = bases[m.name].to(out.h_spec.dtype)
            embeddings[m.name] = project(out.h_spec, out.h_lc, basis)
            embeddings[m.head_input] = torch.cat([out.e_spec, out.e_lc], dim=-1)
        elif m.name in trained:
            embeddings[m.name] = trained[m.name].eval().embed(spec, lc, p)
        else:
            encoded = encode_priors(p, len(spec), len(m.priors), spec)
            own = {"spectra_only": spec, "lightcurve_only": lc, PRIORS_ONLY: spec[:, :0]}
            embeddings[m.name] = torch.cat([own[m.kind], encoded], dim=-1)
    return embeddings


def pair_embeddings(
    features: str,
    models: Sequence[ModelSpec],
    trained: Mapping[str, nn.Module],
    *,
    batch_size: int,
    device: torch.device,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(pairs: obsid, kic, star_id, split; embedding -> (n_pairs, dim)) in store order."""
    group = zarr.open_group(features, mode="r")
    pairs = pd.DataFrame(
        {name: group[name][:] for name in ("obsid", "kic", "star_id", "split")}
    ).astype({"star_id": object, "split": object})
    store = StoreBatches(
        features, {"spec": "spec_feature", "lc": "lc_feature"}, np.arange(len(pairs)), {}
    )
    stored = group["priors"][:]
    columns = {m.name: prior_columns(features, m.priors) for m in models}
    bases = {
        m.name: eigenspace(trained[m.name].W.detach().cpu())[1].to(device)
        for m in models
        if m.kind == DUALFORMER
    }
    for model in trained.values():
        model.to(device)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(pairs), batch_size):
        index = list(range(start, min(start + batch_size, len(pairs))))
        batch = store[index]
        priors = {
            name: torch.from_numpy(stored[index][:, cols]).to(device)
            for name, cols in columns.items()
        }
        out = embed_batch(
            models,
            trained,
            bases,
            batch["spec"].to(device),
            batch["lc"].to(device),
            priors,
        )
        for name, value in out.items():
            parts.setdefault(name, []).append(value.float().cpu().numpy())
    return pairs, {name: np.concatenate(values) for name, values in parts.items()}


def star_embeddings(
    pairs: pd.DataFrame, embeddings: dict[str, np.ndarray]
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Mean over each star's pairs: (stars: kic, star_id, split, n_spectra; name -> array)."""
    codes, kics = pd.factorize(pairs["kic"], sort=True)
    counts = np.bincount(codes)
    first = pairs.groupby(codes, sort=True).first()
    stars = pd.DataFrame(
        {
            "kic": np.asarray(kics),
            "star_id": first["star_id"].to_numpy(),
            "split": first["split"].to_numpy(),
            "n_spectra": counts,
        }
    )
    means = {}
    for name, values in embeddings.items():
        sums = np.zeros((len(kics), values.shape[1]), dtype=np.float64)
        np.add.at(sums, codes, values)
        means[name] = (sums / counts[:, None]).astype(np.float32)
    return stars, means


def _dataset(index: pd.DataFrame, dim: str, embeddings: dict[str, np.ndarray]) -> xr.Dataset:
    coords = {
        name: ((dim,), values.to_numpy().astype(STRING) if values.dtype == object else values)
        for name, values in index.items()
    }
    data = {name: ((dim, f"{name}_dim"), values) for name, values in embeddings.items()}
    return xr.Dataset(data, coords=coords)


def write_embeddings(
    url: str,
    pairs: pd.DataFrame,
    pair_values: dict[str, np.ndarray],
    stars: pd.DataFrame,
    star_values: dict[str, np.ndarray],
    attrs: dict,
) -> None:
    """Write both levels to a new store at ``url`` (the caller publishes it atomically)."""
    _dataset(pairs, "pair", pair_values).assign_attrs(attrs).to_zarr(url, group="pairs")
    _dataset(stars, "star", star_values).assign_attrs(attrs).to_zarr(url, group="stars")
    zarr.consolidate_metadata(url)


def read_embeddings(url: str, level: str) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict]:
    """(index frame, embedding name -> array, attrs) of ``level`` 'pairs' or 'stars'."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}; got {level!r}")
    ds = xr.open_zarr(url, group=level).load()
    index = pd.DataFrame(
        {
            name: ds[name].values.astype(object) if ds[name].dtype.kind == "T" else ds[name].values
            for name in ds.coords
        }
    )
    return index, {name: ds[name].values for name in ds.data_vars}, dict(ds.attrs)


def _trained_product(spec: ModelSpec) -> Product:
    return layout.dualformer(spec.name) if spec.kind == DUALFORMER else layout.baseline(spec.name)


def _trained(
    root: DataRoot,
    comparison: ComparisonConfig,
    reference_moco: bool,
    models: tuple[ModelSpec, ...],
) -> dict[str, nn.Module]:
    from desa.training.runs import baseline_model, load_trained  # Lightning: only when run

    out = {}
    for m in models:
        if m.kind == DUALFORMER:
            config = dualformer_config(comparison, m)
            model = DualFormer(config)
        elif m.trained:
            config = baseline_config(comparison, m)
            model = baseline_model(m.kind, config, reference_moco)
        else:
            continue
        out[m.name] = load_trained(root.url_of(_trained_product(m)), model, config)
    return out


def _model_keys(root: DataRoot, models: tuple[ModelSpec, ...]) -> dict[str, str]:
    """The fingerprint of what makes each embedding (a map or head made from an embedding
    is kept only while its key stays the same): the trained model's weights, or the frozen
    encoders and the priors."""
    features = dict(zarr.open_group(root.url_of(layout.FEATURES), mode="r").attrs)
    encoders = features["inputs"]
    outputs = {
        stage: read_state(root.fs, root.state_path(stage)).outputs
        for stage in (layout.DUALFORMERS.stage, layout.BASELINES.stage)
    }
    own = {
        "spectra_only": [encoders[layout.SPECTRA_MODEL.key]],
        "lightcurve_only": [encoders[layout.LIGHTCURVE_MODEL.key]],
        PRIORS_ONLY: [],
    }
    keys = {}
    for m in models:
        if m.trained:
            product = _trained_product(m)
            keys[m.name] = outputs[product.stage][product.output]
        else:
            keys[m.name] = fingerprint_json({"encoders": own[m.kind], "priors": list(m.priors)})
        keys[m.head_input] = keys[m.name]
    return keys


def write_embedding_store(
    root: DataRoot,
    comparison: ComparisonConfig,
    training: TrainingConfig,
    inputs: dict[str, str],
) -> StageResult:
    """Stage embed: every compared model's embedding of every pair and star."""
    from desa.training.runs import training_device

    models = comparison_models(comparison)
    pairs, pair_values = pair_embeddings(
        root.url_of(layout.FEATURES),
        models,
        _trained(root, comparison, training.reference_moco, models),
        batch_size=training.finetune.batch_size,
        device=training_device(training),
    )
    stars, star_values = star_embeddings(pairs, pair_values)
    dest = root.of(layout.EMBEDDINGS)
    with publishing(root.fs, dest) as tmp:
        url = tmp if root.is_local else root.fs.unstrip_protocol(tmp)
        attrs = {"model_keys": _model_keys(root, models), **model_attrs(models)}
        write_embeddings(url, pairs, pair_values, stars, star_values, attrs)
    counts = stars["split"].value_counts().to_dict()
    summary = {
        "pairs": len(pairs),
        "stars": len(stars),
        "models": len(models),
        **{s: int(counts.get(s, 0)) for s in ("train", "val", "test")},
    }
    config = embed_config(comparison, training.reference_moco)
    key = fingerprint_json({"inputs": inputs, "config": config})
    output = layout.EMBEDDINGS.output
    return StageResult({output: key}, {output: dest}, summary)
