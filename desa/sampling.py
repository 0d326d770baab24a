"""Batch samplers for the alignment baselines (desa_reference.md sec. 6, "MoCo clean")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["UniqueStarBatchSampler"]


class UniqueStarBatchSampler(Sampler[list[int]]):
    """Batches with at most one spectrum per star; every index exactly once per epoch.

    A star with several spectra (several rows with the same id) would otherwise give InfoNCE
    false negatives: two views of the same star in one batch. The reference
    (``UniqueIDDistributedSampler``, sec. 6) keeps one spectrum per star and pads back with
    random repeats, so duplicates reappear; here every index is used once per epoch and no
    batch repeats a star.

    Construction: n_batches = max(ceil(N / batch_size), largest number of rows of one star).
    Each epoch the stars are put in random order, each star's rows in random order, the rows
    laid out star after star, and row i goes to batch i mod n_batches. A star's rows are
    consecutive and at most n_batches many, so they land in distinct batches; every batch
    holds ceil or floor of N / n_batches <= batch_size rows. Batch order and the order inside
    each batch are then shuffled. All randomness comes from ``generator``: the same
    generator state gives the same epoch, and each iteration advances it (a new epoch).
    With ``seed`` instead, ``set_epoch(e)`` (Lightning calls it) makes epoch e's batches a
    function of (seed, e) alone, so a resumed run sees the same batches.
    """

    def __init__(
        self,
        star_ids: Sequence[object] | np.ndarray | torch.Tensor,
        batch_size: int,
        generator: torch.Generator | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        ids = star_ids.cpu().numpy() if isinstance(star_ids, torch.Tensor) else star_ids
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError(f"star_ids must be a non-empty 1-d sequence; got shape {ids.shape}")
        _, self._star, counts = np.unique(ids, return_inverse=True, return_counts=True)
        self._star = self._star.reshape(-1)
        self.n_stars = int(counts.size)
        self.batch_size = int(batch_size)
        self.generator = generator
        self.seed = seed
        if seed is not None:
            self.set_epoch(0)
        n = int(ids.size)
        self._n = n
        self.n_batches = max(-(-n // self.batch_size), int(counts.max()))

    def set_epoch(self, epoch: int) -> None:
        if self.seed is None:
            raise ValueError("set_epoch needs a sampler built with a seed")
        self.generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        g = self.generator
        star_rank = torch.randperm(self.n_stars, generator=g).numpy()
        tie = torch.rand(self._n, generator=g, dtype=torch.float64).numpy()
        order = np.lexsort((tie, star_rank[self._star]))  # star after star, random inside
        nb = self.n_batches
        batches = [order[j::nb] for j in range(nb)]
        shuffled = [b[torch.randperm(b.size, generator=g).numpy()] for b in batches]
        for j in torch.randperm(nb, generator=g).tolist():
            if shuffled[j].size:
                yield shuffled[j].tolist()
