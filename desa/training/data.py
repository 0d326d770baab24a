"""Batches read from the Zarr stores, a few rows at a time, and the samplers that order them.

A dataset here is indexed by a *list* of item positions and returns a whole batch (a dict
of tensors): the rows of a batch are fetched from the store in one orthogonal read, sorted
and de-duplicated, so a chunk is decompressed once per batch rather than once per row.
`ChunkBatchSampler` keeps batches chunk-local by shuffling the order of chunks and the rows
inside a small window of chunks. Nothing loads a whole store into memory. `collect` runs a
model over a loader's batches and gathers its outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import zarr
from torch.utils.data import DataLoader, Dataset, Sampler


class ArrayBatches(Dataset):
    """Items are positions in equal-length arrays; ``dataset[[i, j, ...]]`` is a batch dict."""

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns differ in length: {lengths}")
        self.columns = {name: np.asarray(values) for name, values in columns.items()}
        self.n = next(iter(lengths.values()), 0)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, positions: Sequence[int]) -> dict[str, torch.Tensor]:
        index = np.asarray(positions, dtype=np.int64)
        return {name: torch.from_numpy(values[index]) for name, values in self.columns.items()}


class StoreBatches(ArrayBatches):
    """`ArrayBatches` plus arrays read from a Zarr store at each item's store row.

    ``arrays`` maps batch names to array names in the store (all along the row dimension);
    ``rows`` is each item's row. The store is opened lazily in each DataLoader process.
    """

    def __init__(
        self,
        url: str,
        arrays: Mapping[str, str],
        rows: np.ndarray,
        columns: Mapping[str, np.ndarray],
    ) -> None:
        super().__init__({**columns, "row": np.asarray(rows, dtype=np.int64)})
        self.url, self.arrays = url, dict(arrays)
        self._group: zarr.Group | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_group": None}  # worker processes open their own handle

    def _store(self) -> zarr.Group:
        if self._group is None:
            self._group = zarr.open_group(self.url, mode="r")
        return self._group

    def __getitem__(self, positions: Sequence[int]) -> dict[str, torch.Tensor]:
        batch = super().__getitem__(positions)
        unique, inverse = np.unique(batch["row"].numpy(), return_inverse=True)
        for name, array in self.arrays.items():
            values = self._store()[array].get_orthogonal_selection((unique,))
            batch[name] = torch.from_numpy(np.ascontiguousarray(values[inverse]))
        return batch


def _batches(order: np.ndarray, batch_size: int, min_batch: int) -> list[list[int]]:
    cuts = range(0, len(order), batch_size)
    batches = [order[i : i + batch_size].tolist() for i in cuts]
    return [b for b in batches if len(b) >= min_batch]


class ChunkBatchSampler(Sampler[list[int]]):
    """Batches of item positions; shuffled per epoch, but chunk-local.

    Each epoch (``set_epoch``; Lightning calls it) the chunks are put in a random order and
    the items of each window of ``window`` consecutive chunks are shuffled together, so a
    batch reads from at most a few chunks. The order is a function of (seed, epoch) only, so
    a resumed run sees the same batches. With ``world_size`` > 1 each rank takes every
    ``world_size``-th item (the tail that does not divide evenly is dropped). Batches smaller
    than ``min_batch`` are dropped (BatchNorm and batch-centred losses need two samples).
    """

    def __init__(
        self,
        chunk_of: np.ndarray,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        window: int = 4,
        min_batch: int = 1,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1 or window < 1:
            raise ValueError(f"batch_size and window must be >= 1; got {batch_size}, {window}")
        self.chunk_of = np.asarray(chunk_of, dtype=np.int64)
        self.batch_size, self.shuffle, self.seed, self.window = batch_size, shuffle, seed, window
        self.min_batch, self.rank, self.world_size = min_batch, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> np.ndarray:
        positions = np.arange(len(self.chunk_of))
        if not self.shuffle:
            return positions
        rng = np.random.default_rng([self.seed, self.epoch])
        chunks = rng.permutation(np.unique(self.chunk_of))
        parts = []
        for start in range(0, len(chunks), self.window):
            members = positions[np.isin(self.chunk_of, chunks[start : start + self.window])]
            parts.append(rng.permutation(members))
        return np.concatenate(parts) if parts else positions

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        usable = len(order) - len(order) % self.world_size
        order = order[:usable][self.rank :: self.world_size]
        yield from _batches(order, self.batch_size, self.min_batch)

    def __len__(self) -> int:
        per_rank = len(self.chunk_of) // self.world_size
        full, rest = divmod(per_rank, self.batch_size)
        return full + (1 if rest >= self.min_batch else 0)


def batch_loader(dataset: Dataset, sampler: Sampler[list[int]], num_workers: int = 0) -> DataLoader:
    """A DataLoader whose sampler yields whole batches of positions (batch_size=None)."""
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


@torch.no_grad()
def collect(
    loader: DataLoader, fn: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
) -> dict[str, np.ndarray]:
    """Run ``fn`` on every batch of ``loader`` and concatenate its outputs (as numpy)."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in loader:
        for name, value in fn(batch).items():
            parts.setdefault(name, []).append(value.detach().float().cpu().numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}
