"""The UMAP maps' settings, torch-free: the umap stage's cache key is computed from them by
`desa status` and a no-op `desa rebuild`, which must not import `desa.products.umap_maps`
(torch, through the embedding store)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UmapSettings:
    n_neighbors: int = 15
    min_dist: float = 0.1
    fit_max: int = 50_000  # training stars the reducer is fitted on, at most
    seed: int = 0
