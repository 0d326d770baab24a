"""Bootstrap intervals over test stars, alone and paired between two models.

A metric is scored on rows that belong to stars (one row per star for most metrics, one row
per pair of spectra for the pair distances). A resample draws stars with replacement and takes
every row of each drawn star, so a star with several rows counts as one unit (a cluster
bootstrap). Intervals are percentile intervals (Efron & Tibshirani 1993, ch. 13). Whatever was
fitted (a few-shot regression, a clustering, a normaliser) is held fixed: only the scoring
rows are resampled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Scored:
    """A metric's scoring rows: the star of every row and the metric of any row selection.

    ``statistic`` takes integer row indices (with repeats) and returns the metric on those
    rows; it may return NaN (or raise ValueError) where the metric is undefined on a resample.
    """

    star_ids: np.ndarray
    statistic: Callable[[np.ndarray], float]

    @property
    def value(self) -> float:
        return _safe(self.statistic, np.arange(len(self.star_ids)))


def scored(star_ids: ArrayLike, statistic: Callable[[np.ndarray], float]) -> Scored:
    """A :class:`Scored` with the star ids as a 1-D array."""
    ids = np.asarray(star_ids)
    if ids.ndim != 1:
        raise ValueError(f"star_ids must be 1-D, got shape {ids.shape}")
    return Scored(ids, statistic)


def _safe(statistic: Callable[[np.ndarray], float], rows: np.ndarray) -> float:
    try:
        value = float(statistic(rows))
    except ValueError:  # e.g. AUC of a resample with one class
        return float("nan")
    return value if np.isfinite(value) else float("nan")


def resample_stars(stars: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, len(stars)) stars drawn with replacement; the same for one seed and set.

    ``stars`` are sorted first, so the draws depend on the set of stars, not their order.
    """
    ordered = np.sort(np.asarray(stars))
    draws = np.random.default_rng(seed).integers(0, len(ordered), (n_resamples, len(ordered)))
    return ordered[draws]


def statistics(item: Scored, draws: np.ndarray) -> np.ndarray:
    """The metric on every resample of ``draws`` (stars per resample), NaN where undefined.

    Every drawn star must have rows in ``item``; each draw of a star adds all of its rows.
    """
    order = np.argsort(item.star_ids, kind="stable")
    stars, starts, counts = np.unique(item.star_ids[order], return_index=True, return_counts=True)
    where = np.searchsorted(stars, draws)
    if (where >= len(stars)).any() or (stars[np.minimum(where, len(stars) - 1)] != draws).any():
        raise ValueError("a drawn star has no rows in this metric's scoring set")
    out = np.empty(len(draws))
    for i, picked in enumerate(where):
        lengths = counts[picked]
        offsets = np.repeat(starts[picked] - np.cumsum(lengths) + lengths, lengths)
        out[i] = _safe(item.statistic, order[offsets + np.arange(lengths.sum())])
    return out


def percentile_interval(values: np.ndarray, level: float = 0.95) -> list[float] | None:
    """[low, high] percentiles of the finite values; None when fewer than half are finite."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < len(values) / 2:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


Cache = dict[tuple[int, bytes], np.ndarray]


def _statistics_on(
    item: Scored, stars: np.ndarray, n_resamples: int, seed: int, cache: Cache | None
) -> np.ndarray:
    """The metric on resamples of ``stars`` (a subset of the item's stars), cached by item and
    star set: the draws depend on the set and the seed only."""
    key = (id(item), np.sort(stars).tobytes())
    if cache is not None and key in cache:
        return cache[key]
    draws = resample_stars(stars, n_resamples, seed)
    rows = np.flatnonzero(np.isin(item.star_ids, stars))
    subset = Scored(item.star_ids[rows], lambda picked: item.statistic(rows[picked]))
    values = statistics(subset, draws)
    if cache is not None:
        cache[key] = values
    return values


def bootstrap_interval(
    item: Scored,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    cache: Cache | None = None,
) -> list[float] | None:
    """Percentile interval of the metric over resamples of its own stars.

    ``cache`` (a dict kept by the caller while its items live) lets an interval and a paired
    difference over the same stars share their resamples."""
    values = _statistics_on(item, np.unique(item.star_ids), n_resamples, seed, cache)
    return percentile_interval(values, level)


def paired_difference(
    a: Scored,
    b: Scored,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    cache: Cache | None = None,
) -> dict[str, object]:
    """Metric of ``a`` minus metric of ``b`` on the stars both score, resampled together.

    Each resample draws the same stars for both, so what the two have in common (which stars
    are easy) cancels. Returns ``{"diff", "diff_ci", "n_stars"}``; ``diff`` and ``diff_ci``
    are None when the two share no star.
    """
    common = np.intersect1d(a.star_ids, b.star_ids)
    if common.size == 0:
        return {"diff": None, "diff_ci": None, "n_stars": 0}
    rows_a = np.flatnonzero(np.isin(a.star_ids, common))
    rows_b = np.flatnonzero(np.isin(b.star_ids, common))
    diff = _safe(a.statistic, rows_a) - _safe(b.statistic, rows_b)
    diffs = _statistics_on(a, common, n_resamples, seed, cache) - _statistics_on(
        b, common, n_resamples, seed, cache
    )
    return {
        "diff": float(diff) if np.isfinite(diff) else None,
        "diff_ci": percentile_interval(diffs, level),
        "n_stars": int(common.size),
    }


def paired_verdict(diff_ci: list[float] | None, higher_is_better: bool) -> str:
    """ "ahead" or "behind" (for the first model of the difference) only when the paired
    interval excludes zero; "not resolved" when it holds zero; "no interval" without one."""
    if diff_ci is None:
        return "no interval"
    low, high = diff_ci
    if low > 0 or high < 0:
        better = low > 0 if higher_is_better else high < 0
        return "ahead" if better else "behind"
    return "not resolved"
