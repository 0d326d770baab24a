"""Star-level train/val/test splits from a stable hash of the star id (DESIGN.md §3).

A star's split depends only on its id, the fractions and the salt: not on which other stars
exist, nor on the process, platform or ``PYTHONHASHSEED`` (hashlib, never ``hash()``). So a
star never moves when data are added, and every spectrum of a star shares the star's split
(the reference code split rows, so one star could sit in train and test: desa_reference.md §9).
Changing the salt or the fractions reshuffles stars on purpose.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
DEFAULT_SALT = "desa-v1"

_MANTISSA_BITS = 53  # a float64 holds every 53-bit integer exactly: u stays strictly below 1


def unit_hash(star_id: str, salt: str = DEFAULT_SALT) -> float:
    """The star's point in [0, 1): the top 53 bits of SHA-256(salt, NUL, star_id)."""
    if not isinstance(star_id, str):
        raise TypeError(f"star id must be a str, got {type(star_id).__name__}: {star_id!r}")
    digest = hashlib.sha256(f"{salt}\0{star_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> (64 - _MANTISSA_BITS)) / 2.0**_MANTISSA_BITS


def split_of(
    star_id: str,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    salt: str = DEFAULT_SALT,
) -> Split:
    """The star's split: where its unit hash falls among the cumulative fractions."""
    point = unit_hash(star_id, salt)
    return SPLITS[bisect.bisect_right(split_edges(fractions), point)]


def splits_for(
    star_ids: Iterable[str],
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    salt: str = DEFAULT_SALT,
) -> np.ndarray:
    """``split_of`` for many ids (object array of "train"/"val"/"test", input order).

    Each distinct id is hashed once, so repeat spectra of a star cost one hash.
    """
    # here, not above: every `desa` command imports this module's config (`desa --help` too)
    import numpy as np
    import pandas as pd

    edges = split_edges(fractions)
    codes, uniques = pd.factorize(pd.Series(list(star_ids), dtype=object))
    if (codes < 0).any():
        raise ValueError("star ids must not be missing")
    points = np.fromiter((unit_hash(s, salt) for s in uniques), dtype=float, count=len(uniques))
    names = np.asarray(SPLITS, dtype=object)
    return names[np.searchsorted(edges, points, side="right")][codes]


def split_edges(fractions: tuple[float, float, float]) -> tuple[float, float]:
    """Upper edges of train and val in [0, 1]; ValueError unless 3 fractions >= 0 sum to 1."""
    values = tuple(float(f) for f in fractions)
    if len(values) != len(SPLITS):
        raise ValueError(f"fractions must give train, val, test; got {fractions!r}")
    if any(not math.isfinite(f) or f < 0 for f in values) or abs(sum(values) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be >= 0 and sum to 1; got {fractions!r}")
    return values[0], values[0] + values[1]
