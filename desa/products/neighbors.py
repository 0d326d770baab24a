"""Similarity search: the nearest stars to a star in embedding space (Euclidean)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors


def nearest(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances), each (N, k): every row's k nearest other rows, nearest first."""
    if len(values) < 2:
        raise ValueError(f"nearest neighbours need at least 2 stars; got {len(values)}")
    k = min(k, len(values) - 1)
    distances, indices = NearestNeighbors(n_neighbors=k + 1).fit(values).kneighbors(values)
    return indices[:, 1:], distances[:, 1:]  # column 0 is the row itself


def neighbors_of(kic: int, stars: pd.DataFrame, values: np.ndarray, k: int) -> pd.DataFrame:
    """The ``k`` stars nearest to ``kic``: kic, distance (ascending)."""
    where = np.flatnonzero(stars["kic"].to_numpy() == kic)
    if where.size == 0:
        raise KeyError(f"KIC {kic} has no embedding (it has no LAMOST–Kepler pair)")
    distance = np.linalg.norm(values - values[where[0]], axis=1)
    distance[where[0]] = np.inf
    order = np.argsort(distance, kind="stable")[: min(k, len(values) - 1)]
    return pd.DataFrame({"kic": stars["kic"].to_numpy()[order], "distance": distance[order]})
