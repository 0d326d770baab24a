from collections import Counter

import numpy as np
import pytest
import torch

from desa.sampling import UniqueStarBatchSampler


def _ids(n_stars: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 5, size=n_stars)
    counts[0] = 9  # one star with many spectra
    return np.repeat(np.arange(100, 100 + n_stars), counts)


def _epoch(ids, batch_size, seed):
    g = torch.Generator().manual_seed(seed)
    return list(UniqueStarBatchSampler(ids, batch_size, g))


@pytest.mark.parametrize("batch_size", [1, 4, 7, 32, 1000])
def test_no_batch_repeats_a_star_and_every_index_once(batch_size):
    ids = _ids()
    batches = _epoch(ids, batch_size, 0)
    for b in batches:
        assert 0 < len(b) <= batch_size
        assert len({ids[i] for i in b}) == len(b)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(ids)))
    assert len(batches) == len(UniqueStarBatchSampler(ids, batch_size))


def test_star_with_more_spectra_than_batches_forces_more_batches():
    ids = np.array([7] * 5 + [1, 2, 3])
    s = UniqueStarBatchSampler(ids, batch_size=8)
    assert len(s) == 5
    batches = list(s)
    assert Counter(ids[i] for b in batches for i in b)[7] == 5
    assert all(len({ids[i] for i in b}) == len(b) for b in batches)


def test_deterministic_with_generator_and_epochs_differ():
    ids = _ids()
    assert _epoch(ids, 8, 3) == _epoch(ids, 8, 3)
    assert _epoch(ids, 8, 3) != _epoch(ids, 8, 4)
    g = torch.Generator().manual_seed(3)
    s = UniqueStarBatchSampler(ids, 8, g)
    assert list(s) != list(s)  # the generator advances: a new epoch


def test_string_ids_and_dataloader():
    ids = ["a", "b", "a", "c", "b", "a"]
    data = torch.arange(len(ids))
    s = UniqueStarBatchSampler(ids, 2, torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(data, batch_sampler=s)
    seen = torch.cat(list(loader))
    assert sorted(seen.tolist()) == list(range(len(ids)))


def test_bad_input():
    with pytest.raises(ValueError):
        UniqueStarBatchSampler([], 4)
    with pytest.raises(ValueError):
        UniqueStarBatchSampler([1, 2], 0)
