"""Few-shot linear regression from embeddings to stellar diagrams (paper §6.2, Table 2).

The paper fits a linear regression on 10% of the test set to predict de-reddened BP-RP and
M_G and reports R² and the fraction of points within a relative error. The reference
(desa_reference.md §11, ``apply_linear_regression``) standardises on all data before the split
and draws the split without a seed; here the scaler sees the fit rows only and the split is
seeded. With fewer fit rows than embedding dimensions, plain least squares interpolates the fit
rows and its predictions blow up, so the map is a ridge regression whose penalty is chosen by
leave-one-out cross-validation on the fit rows only (sklearn ``RidgeCV``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# Ridge penalties tried by the cross-validation, on standardised features: from almost plain
# least squares to almost predicting the mean of the fit rows.
RIDGE_ALPHAS = np.logspace(-3, 6, 19)


def _columns(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as (N, k) floats of one shape; a 1-D array is one column."""
    true = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    if true.shape != pred.shape or true.ndim not in (1, 2):
        raise ValueError(
            f"y_true and y_pred must share a 1-D or 2-D shape: {true.shape}, {pred.shape}"
        )
    if true.ndim == 1:
        true, pred = true[:, None], pred[:, None]
    return true, pred


def r2_per_target(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """R² of every column (as sklearn ``r2_score``, ``multioutput="raw_values"``).

    R² is undefined for fewer than 2 rows or a constant column: those give NaN (or -inf when a
    constant column is predicted wrongly) instead of sklearn's default 0 or 1.
    """
    true, pred = _columns(y_true, y_pred)
    if len(true) < 2:
        return np.full(true.shape[1], np.nan)
    # 1 - SS_res / SS_tot per column, written out: the bootstrap calls this thousands of times
    # and sklearn's input checks cost more than the sums.
    residual = ((true - pred) ** 2).sum(axis=0)
    total = ((true - true.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 of a constant column
        return 1.0 - residual / total


def within_relative_error(y_true: ArrayLike, y_pred: ArrayLike, tol: float) -> np.ndarray:
    """Fraction of rows per column with ``|pred - true| <= tol * |true|`` (reference §11).

    Meaningful only for quantities far from zero (Teff); use :func:`within_absolute_error` for
    magnitudes, colours and logarithms.
    """
    if tol < 0:
        raise ValueError(f"tol must be non-negative, got {tol}")
    true, pred = _columns(y_true, y_pred)
    if len(true) == 0:
        raise ValueError("y_true is empty")
    return (np.abs(pred - true) <= tol * np.abs(true)).mean(axis=0)


def within_absolute_error(y_true: ArrayLike, y_pred: ArrayLike, tol: float) -> np.ndarray:
    """Fraction of rows per column with ``|pred - true| <= tol`` (in the targets' units)."""
    if tol < 0:
        raise ValueError(f"tol must be non-negative, got {tol}")
    true, pred = _columns(y_true, y_pred)
    if len(true) == 0:
        raise ValueError("y_true is empty")
    return (np.abs(pred - true) <= tol).mean(axis=0)


def few_shot(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    fraction: float = 0.1,
    seed: int = 0,
    target_names: Sequence[str],
) -> dict[str, Any]:
    """Fit a ridge regression on a random ``fraction`` of the stars and score the rest.

    Rows with NaN in X or Y are dropped first. The fit part holds ``round(fraction * n)`` rows
    (at least 2), the scored part the others (at least 2); a StandardScaler fitted on the fit
    part only feeds sklearn's RidgeCV, which picks one penalty per target from `RIDGE_ALPHAS`
    by leave-one-out cross-validation on the fit rows. Scores are in the targets' own units.

    Returns ``{"r2": {name: R²}, "r2_mean", "alpha": {name: penalty}, "n_fit", "n_score",
    "n_dropped", "width" (embedding dimensions), "predictions" (n_score, k), "truth"
    (n_score, k), "scored_index"}``; ``scored_index`` holds the row numbers of the scored stars
    in the given X and Y (before NaN rows were dropped).
    """
    x = np.asarray(X, dtype=float)
    y = np.asarray(Y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"X must be (N, d) and Y (N, k) of one N, got {x.shape} and {y.shape}")
    names = list(target_names)
    if len(names) != y.shape[1]:
        raise ValueError(f"{len(names)} target names for {y.shape[1]} target columns")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}")
    kept = np.flatnonzero(np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1))
    n = len(kept)
    n_fit = round(fraction * n)
    n_score = n - n_fit
    if n_fit < 2 or n_score < 2:  # R² of one scored row is undefined
        raise ValueError(
            f"{n} usable rows (after dropping {len(x) - n} with NaN) at fraction {fraction} give "
            f"{n_fit} rows to fit and {n_score} to score; need at least 2 of each"
        )
    order = np.random.default_rng(seed).permutation(n)
    fit_rows = np.sort(kept[order[:n_fit]])
    scored_rows = np.sort(kept[order[n_fit:]])
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True)
    model = make_pipeline(StandardScaler(), ridge)
    model.fit(x[fit_rows], y[fit_rows])
    predictions = model.predict(x[scored_rows]).reshape(n_score, -1)
    truth = y[scored_rows]
    r2 = r2_per_target(truth, predictions)
    alphas = np.broadcast_to(ridge.alpha_, (len(names),))
    return {
        "r2": dict(zip(names, r2.tolist(), strict=True)),
        "r2_mean": float(r2.mean()),
        "alpha": dict(zip(names, alphas.tolist(), strict=True)),
        "n_fit": n_fit,
        "n_score": n_score,
        "n_dropped": len(x) - n,
        "width": x.shape[1],
        "predictions": predictions,
        "truth": truth,
        "scored_index": scored_rows,
    }
