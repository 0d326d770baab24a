"""Batches from Zarr stores and the samplers that order them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from desa.sampling import UniqueStarBatchSampler
from desa.training.data import ArrayBatches, ChunkBatchSampler, StoreBatches, batch_loader


def _store(tmp_path, rows: int = 10, width: int = 3, chunk: int = 4) -> str:
    url = str(tmp_path / "store.zarr")
    values = np.arange(rows, dtype="f4")[:, None] * 10 + np.arange(width, dtype="f4")
    xr.Dataset({"flux": (("obs", "pixel"), values)}).to_zarr(
        url, encoding={"flux": {"chunks": (chunk, width)}}
    )
    return url


def test_array_batches_index_by_a_list_of_positions() -> None:
    data = ArrayBatches({"a": np.arange(5), "b": np.arange(5) * 2.0})
    batch = data[[4, 0, 4]]
    assert batch["a"].tolist() == [4, 0, 4] and batch["b"].tolist() == [8.0, 0.0, 8.0]
    assert len(data) == 5
    with pytest.raises(ValueError, match="differ in length"):
        ArrayBatches({"a": np.arange(3), "b": np.arange(4)})


def test_store_batches_read_each_item_row_in_batch_order(tmp_path) -> None:
    url = _store(tmp_path)
    rows = np.array([7, 2, 2, 9, 0])  # items point at rows in any order, repeats allowed
    data = StoreBatches(url, {"x": "flux"}, rows, {"key": np.array([70, 20, 21, 90, 0])})
    batch = data[[3, 1, 2, 0]]
    assert batch["x"][:, 0].tolist() == [90.0, 20.0, 20.0, 70.0]
    assert batch["key"].tolist() == [90, 20, 21, 70]
    assert batch["row"].tolist() == [9, 2, 2, 7]


def test_store_batches_work_through_a_dataloader_with_workers(tmp_path) -> None:
    url = _store(tmp_path)
    data = StoreBatches(url, {"x": "flux"}, np.arange(10), {})
    sampler = ChunkBatchSampler(np.arange(10) // 4, 3, shuffle=True, seed=1)
    seen = torch.cat([b["x"][:, 0] for b in batch_loader(data, sampler, num_workers=2)])
    assert sorted(seen.tolist()) == [10.0 * i for i in range(10)]


def _epoch(sampler: ChunkBatchSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_chunk_sampler_covers_every_item_once_and_is_a_function_of_seed_and_epoch() -> None:
    chunk_of = np.arange(100) // 10
    sampler = ChunkBatchSampler(chunk_of, 8, shuffle=True, seed=3, window=2)
    first = _epoch(sampler, 0)
    assert sorted(i for b in first for i in b) == list(range(100))
    assert len(first) == len(sampler)
    assert _epoch(sampler, 0) == first
    assert _epoch(sampler, 1) != first
    again = ChunkBatchSampler(chunk_of, 8, shuffle=True, seed=3, window=2)
    assert _epoch(again, 1) == _epoch(sampler, 1)


def test_chunk_sampler_keeps_batches_chunk_local() -> None:
    chunk_of = np.arange(200) // 20
    sampler = ChunkBatchSampler(chunk_of, 10, shuffle=True, seed=0, window=2)
    # a window of 2 chunks is 40 items: a 10-item batch can straddle two windows at most
    assert max(len(set(chunk_of[b])) for b in sampler) <= 4
    order = [i for b in sampler for i in b]
    assert order != sorted(order)


def test_chunk_sampler_splits_items_between_ranks_and_drops_tiny_batches() -> None:
    chunk_of = np.zeros(11, dtype=int)
    ranks = [
        list(ChunkBatchSampler(chunk_of, 4, shuffle=True, seed=5, rank=r, world_size=2))
        for r in (0, 1)
    ]
    items = [{i for b in batches for i in b} for batches in ranks]
    assert not items[0] & items[1] and len(items[0] | items[1]) == 10  # one left over
    in_order = ChunkBatchSampler(chunk_of, 5, shuffle=False, min_batch=2)
    assert list(in_order) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]  # [10] alone is dropped
    assert len(in_order) == 2


def test_unique_star_sampler_with_a_seed_repeats_each_epoch() -> None:
    stars = np.repeat(np.arange(20), 2)
    sampler = UniqueStarBatchSampler(stars, 8, seed=4)
    sampler.set_epoch(3)
    first = list(sampler)
    sampler.set_epoch(3)
    assert list(sampler) == first
    sampler.set_epoch(4)
    assert list(sampler) != first
    assert all(len(set(stars[b])) == len(b) for b in first)
    with pytest.raises(ValueError, match="seed"):
        UniqueStarBatchSampler(stars, 8).set_epoch(1)
