"""Embeddings of every pair under DESA and each baseline, from the frozen features.

Feature sets (desa_reference.md sec. 6-7): ``desa`` = cat(W h_spec, Wᵀ h_lc), the input of
the reference's fine-tuning heads; each aligner's downstream feature (MoCo q_s + q_l,
SimSiam cat(z_s, z_l), VICReg z_s + z_l); and the unimodal features themselves
(``spectra_only``, ``lightcurve_only``). A star with several spectra gets the mean of its
pairs' embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import zarr
from torch import nn

from desa.models.dualformer import DualFormer
from desa.training.data import StoreBatches

FEATURE_SETS = (
    "desa",
    "moco",
    "moco_clean",
    "simsiam",
    "vicreg",
    "spectra_only",
    "lightcurve_only",
)


@dataclass
class Aligners:
    dualformer: DualFormer
    baselines: dict[str, nn.Module]  # kind -> MoCo / SimSiam / VICReg aligner


@torch.no_grad()
def embed_batch(
    aligners: Aligners, spec: torch.Tensor, lc: torch.Tensor, priors: torch.Tensor
) -> dict[str, torch.Tensor]:
    out = aligners.dualformer.eval()(spec, lc, priors)
    embeddings = {"desa": torch.cat([out.e_spec, out.e_lc], dim=-1)}
    for kind, model in aligners.baselines.items():
        embeddings[kind] = model.eval().embed(spec, lc)
    embeddings["spectra_only"], embeddings["lightcurve_only"] = spec, lc
    return embeddings


def pair_embeddings(
    features: str, aligners: Aligners, *, batch_size: int, device: torch.device
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(pairs: obsid, kic, star_id, split; feature set -> (n_pairs, dim)) in store order."""
    group = zarr.open_group(features, mode="r")
    pairs = pd.DataFrame(
        {name: group[name][:] for name in ("obsid", "kic", "star_id", "split")}
    ).astype({"star_id": object, "split": object})
    rows = np.arange(len(pairs))
    store = StoreBatches(features, {"spec": "spec_feature", "lc": "lc_feature"}, rows, {})
    priors = group["priors"][:]
    aligners.dualformer.to(device)
    for model in aligners.baselines.values():
        model.to(device)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(pairs), batch_size):
        index = list(range(start, min(start + batch_size, len(pairs))))
        batch = store[index]
        out = embed_batch(
            aligners,
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
    """Mean over each star's pairs: (stars: kic, star_id, split, n_spectra; set -> array)."""
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
