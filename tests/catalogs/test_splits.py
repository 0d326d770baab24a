"""Star-level splits: stable across processes, proportional, unmoved by new stars."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from catalogs.labels.splits import SPLITS, split_of, splits_for, unit_hash

IDS = [f"{2_000_000_000_000_000_000 + 7919 * i}" for i in range(20_000)]


def test_same_splits_in_a_fresh_process_with_another_hash_seed() -> None:
    sample = [*IDS[:300], "kic:757076", "lamost:J195139.96+412543.6", "ü-star"]
    code = (
        "import json, sys\n"
        "from catalogs.labels.splits import splits_for\n"
        "print(json.dumps(list(splits_for(json.loads(sys.stdin.read())))))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(sample),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(result.stdout) == list(splits_for(sample))


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.5, 0.3, 0.2)])
def test_fractions_hold_within_two_percent(fractions: tuple[float, float, float]) -> None:
    splits = splits_for(IDS, fractions)
    for name, expected in zip(SPLITS, fractions, strict=True):
        assert abs(np.mean(splits == name) - expected) < 0.02, name


def test_adding_stars_moves_no_star() -> None:
    before = splits_for(IDS[:5000])
    after = splits_for([*IDS[15000:], *IDS[:5000], *IDS[5000:15000]])
    assert list(after[5000:10000]) == list(before)


def test_scalar_and_vector_agree_and_repeats_share_a_split() -> None:
    ids = IDS[:50]
    repeated = [ids[i % 50] for i in range(200)]
    splits = splits_for(repeated)
    assert list(splits) == [split_of(s) for s in repeated]
    for star in ids:
        assert len({s for s, i in zip(splits, repeated, strict=True) if i == star}) == 1


def test_salt_and_edges() -> None:
    assert np.mean(splits_for(IDS[:2000]) != splits_for(IDS[:2000], salt="other")) > 0.1
    assert set(splits_for(IDS[:500], (1.0, 0.0, 0.0))) == {"train"}
    assert set(splits_for(IDS[:500], (0.0, 0.0, 1.0))) == {"test"}
    assert set(splits_for(IDS[:500], (0.5, 0.5, 0.0))) == {"train", "val"}
    points = [unit_hash(s) for s in IDS[:1000]]
    assert min(points) >= 0.0 and max(points) < 1.0


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.8, 0.1, 0.2), (1.1, -0.1, 0.0)])
def test_bad_fractions_are_refused(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="fractions"):
        split_of("123", fractions)  # type: ignore[arg-type]


def test_ids_must_be_text() -> None:
    with pytest.raises(TypeError, match="str"):
        split_of(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing"):
        splits_for(["1", None])  # type: ignore[list-item]
