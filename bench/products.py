"""`desa bench products`: embedding throughput and UMAP fit / transform time at N and 4N.

Synthetic frozen features of a profile's widths go through that profile's (untrained)
models of the comparison (default settings), as the `embed` stage runs them; UMAP is fitted
on N and on 4N clustered points of the DESA embedding's width and each reducer places N new
points.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from desa.models.dualformer import DualFormer
from desa.models.eigenspace import eigenspace
from desa.models.profiles import model_configs
from desa.products.embeddings import embed_batch
from desa.products.umap_maps import UmapSettings, fit_reducer
from desa.training.comparison import (
    DUALFORMER,
    baseline_config,
    comparison_models,
    dualformer_config,
)
from desa.training.config import ComparisonConfig
from desa.training.runs import baseline_model


def embedding_rate(comparison: ComparisonConfig, n: int, batch_size: int = 256) -> float:
    """Pairs per second through every model of `embed` (CPU, or CUDA when present)."""
    cfg = model_configs(comparison.profile)
    models = comparison_models(comparison)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    trained = {
        m.name: (
            DualFormer(dualformer_config(comparison, m))
            if m.kind == DUALFORMER
            else baseline_model(m.kind, baseline_config(comparison, m), False)
        ).to(device)
        for m in models
        if m.trained
    }
    bases = {
        m.name: eigenspace(trained[m.name].W.detach().cpu())[1].to(device)
        for m in models
        if m.kind == DUALFORMER
    }
    g = torch.Generator().manual_seed(0)
    spec = torch.randn(n, cfg.spectra.d_model, generator=g)
    lc = torch.randn(n, cfg.lightcurves.feature_dim, generator=g)
    priors = torch.randn(n, len(comparison.priors), generator=g)

    def run(count: int) -> None:
        for start in range(0, count, batch_size):
            part = slice(start, min(start + batch_size, count))
            own = {m.name: priors[part, : len(m.priors)].to(device) for m in models}
            embed_batch(models, trained, bases, spec[part].to(device), lc[part].to(device), own)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(min(n, batch_size))  # warm-up
    start = time.perf_counter()
    run(n)
    return n / (time.perf_counter() - start)


def _clusters(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (8, dim))
    return (centres[rng.integers(0, 8, n)] + rng.normal(0, 1, (n, dim))).astype("f4")


def umap_times(n: int, dim: int) -> dict[str, float]:
    """Seconds to fit on N and on 4N points, and to transform N new points with each."""
    settings = UmapSettings()
    new = _clusters(n, dim, seed=99)
    out: dict[str, float] = {}
    for label, size in (("n", n), ("4n", 4 * n)):
        points = _clusters(size, dim, seed=size)
        start = time.perf_counter()
        reducer = fit_reducer(points, settings)
        out[f"umap_fit_s_{label}"] = time.perf_counter() - start
        start = time.perf_counter()
        reducer.transform(new)
        out[f"umap_transform_s_{label}"] = time.perf_counter() - start
    return out


def products_benchmark(comparison: ComparisonConfig, n: int = 2000) -> dict[str, Any]:
    """Embedding stars/s at N and 4N, UMAP fit and transform time at N and 4N, and ratios.

    ``comparison``: the profile's compared models (the CLI's `Settings(...).comparison()`).
    """
    dim = model_configs(comparison.profile).dualformer.embed_dim
    umap_times(n, dim)  # untimed: numba compiles UMAP's code paths on first use
    rate_n, rate_4n = embedding_rate(comparison, n), embedding_rate(comparison, 4 * n)
    times = umap_times(n, dim)
    return {
        "profile": comparison.profile,
        "n": n,
        "embedding_dim": dim,
        "embed_pairs_per_s_n": rate_n,
        "embed_pairs_per_s_4n": rate_4n,
        **times,
        "umap_fit_ratio_4n_vs_n": times["umap_fit_s_4n"] / times["umap_fit_s_n"],
        "umap_transform_ratio_4n_vs_n": times["umap_transform_s_4n"] / times["umap_transform_s_n"],
    }
