"""Embedding consistency: UMAP distances between rows of one star (paper §6.2, Figure 8).

Stars with several spectra appear several times in the test set; their rows should sit close
together. The reference (desa_reference.md §11, ``compare_pair_distances``) histograms the
log of these distances; pass ``np.log10(distances)`` or log-spaced edges to
:func:`distance_summary` for that. A distance means little on its own (each embedding and
each map has its own scale), so :func:`random_pair_median` gives the yardstick: the median
distance between rows of two different stars in the same space.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.distance import pdist


def pair_distances(points: ArrayLike, star_ids: ArrayLike) -> np.ndarray:
    """Euclidean distances between all pairs of rows that share a star id.

    ``points`` is (N, d). Stars come in sorted id order and, within a star, pairs (i, j) with
    i < j in row order. Returns an empty array when no star has two rows.
    """
    x = np.asarray(points, dtype=float)
    ids = np.asarray(star_ids)
    if x.ndim != 2 or ids.ndim != 1 or len(ids) != len(x):
        raise ValueError(f"points must be (N, d) and star_ids (N,), got {x.shape} and {ids.shape}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(f"points has {bad.size} rows with NaN or inf (rows {bad[:10].tolist()})")
    if ids.size == 0:
        return np.empty(0)
    _, star_index, counts = np.unique(ids, return_inverse=True, return_counts=True)
    order = np.argsort(star_index, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    groups = [order[s : s + c] for s, c in zip(starts, counts, strict=True) if c >= 2]
    if not groups:
        return np.empty(0)
    return np.concatenate([pdist(x[rows]) for rows in groups])


def pair_star_ids(star_ids: ArrayLike) -> np.ndarray:
    """The star of every distance :func:`pair_distances` returns, in the same order."""
    ids, counts = np.unique(np.asarray(star_ids), return_counts=True)
    repeated = counts >= 2
    return np.repeat(ids[repeated], counts[repeated] * (counts[repeated] - 1) // 2)


def distance_summary(distances: ArrayLike, bins: int | Sequence[float] = 20) -> dict[str, Any]:
    """Count, mean, std, median and histogram (``np.histogram`` bins) of pair distances.

    Returns ``{"n_pairs", "mean", "std", "median", "hist_counts", "hist_edges"}``; every value but
    ``n_pairs`` is None when there are no distances.
    """
    d = np.asarray(distances, dtype=float).ravel()
    if d.size == 0:
        return {
            "n_pairs": 0,
            "mean": None,
            "std": None,
            "median": None,
            "hist_counts": None,
            "hist_edges": None,
        }
    counts, edges = np.histogram(d, bins=bins)
    return {
        "n_pairs": int(d.size),
        "mean": float(d.mean()),
        "std": float(d.std()),
        "median": float(np.median(d)),
        "hist_counts": counts.tolist(),
        "hist_edges": edges.tolist(),
    }


def random_pair_median(
    points: ArrayLike, star_ids: ArrayLike, *, n_pairs: int = 10_000, seed: int = 0
) -> float | None:
    """Median Euclidean distance between random pairs of rows of two different stars.

    ``n_pairs`` pairs (i, j) are drawn uniformly with replacement (seeded); pairs of one star
    are redrawn once and then dropped. None when fewer than two stars are present.
    """
    x = np.asarray(points, dtype=float)
    ids = np.asarray(star_ids)
    if x.ndim != 2 or ids.ndim != 1 or len(ids) != len(x):
        raise ValueError(f"points must be (N, d) and star_ids (N,), got {x.shape} and {ids.shape}")
    if not np.isfinite(x).all():
        raise ValueError("points has NaN or inf")
    if len(np.unique(ids)) < 2:
        return None
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(x), (2, n_pairs))
    same = ids[i] == ids[j]
    j[same] = rng.integers(0, len(x), int(same.sum()))
    keep = ids[i] != ids[j]
    return float(np.median(np.linalg.norm(x[i[keep]] - x[j[keep]], axis=1)))
