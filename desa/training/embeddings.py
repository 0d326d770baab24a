"""Embeddings of every pair and star under DESA and each baseline, from the frozen features.

- ``desa``: the final DESA embedding, (h_spec + h_lc) projected on W's eigenspace sorted by
  |λ| (desa_reference.md sec. 5; `desa.embed`);
- ``desa_projections``: cat(W h_spec, Wᵀ h_lc), the input of the reference's fine-tuning
  heads (sec. 7);
- each aligner's downstream feature (MoCo q_s + q_l, SimSiam cat(z_s, z_l), VICReg z_s + z_l);
- ``spectra_only`` / ``lightcurve_only``: the frozen encoder features themselves.

`embeddings.zarr` holds two groups, ``pairs`` (one row per LAMOST–Kepler pair: coords obsid,
kic, star_id, split) and ``stars`` (the mean over each star's pairs: coords kic, star_id,
split, n_spectra), with one array per embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr
import zarr
from torch import nn

from desa.embed import eigenspace, project
from desa.models.dualformer import DualFormer
from desa.training.data import StoreBatches

# The models compared downstream, and the embedding each one's fine-tuning heads read.
MODELS = ("desa", "moco", "moco_clean", "simsiam", "vicreg", "spectra_only", "lightcurve_only")
HEAD_INPUT = {"desa": "desa_projections"}
EMBEDDINGS = (*MODELS, "desa_projections")
LEVELS = ("pairs", "stars")
STRING = np.dtypes.StringDType()


@dataclass
class Aligners:
    dualformer: DualFormer
    baselines: dict[str, nn.Module]  # kind -> MoCo / SimSiam / VICReg aligner


@torch.no_grad()
def embed_batch(
    aligners: Aligners,
    basis: torch.Tensor,
    spec: torch.Tensor,
    lc: torch.Tensor,
    priors: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Every embedding of a batch of frozen features; ``basis`` from `desa.embed.eigenspace`."""
    out = aligners.dualformer.eval()(spec, lc, priors)
    embeddings = {
        "desa": project(out.h_spec, out.h_lc, basis.to(out.h_spec.dtype)),
        "desa_projections": torch.cat([out.e_spec, out.e_lc], dim=-1),
    }
    for kind, model in aligners.baselines.items():
        embeddings[kind] = model.eval().embed(spec, lc)
    embeddings["spectra_only"], embeddings["lightcurve_only"] = spec, lc
    return embeddings


def pair_embeddings(
    features: str, aligners: Aligners, *, batch_size: int, device: torch.device
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(pairs: obsid, kic, star_id, split; embedding -> (n_pairs, dim)) in store order."""
    group = zarr.open_group(features, mode="r")
    pairs = pd.DataFrame(
        {name: group[name][:] for name in ("obsid", "kic", "star_id", "split")}
    ).astype({"star_id": object, "split": object})
    store = StoreBatches(
        features, {"spec": "spec_feature", "lc": "lc_feature"}, np.arange(len(pairs)), {}
    )
    priors = group["priors"][:]
    _, basis = eigenspace(aligners.dualformer.W.detach().cpu())
    aligners.dualformer.to(device)
    for model in aligners.baselines.values():
        model.to(device)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(pairs), batch_size):
        index = list(range(start, min(start + batch_size, len(pairs))))
        batch = store[index]
        out = embed_batch(
            aligners,
            basis.to(device),
            batch["spec"].to(device),
            batch["lc"].to(device),
            torch.from_numpy(priors[index]).to(device),
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
