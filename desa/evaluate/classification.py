"""Metrics of the fine-tuned heads: binary detection (paper §6.3) and age regression (§6.4).

Binary detection: class 1 is "binary", class 0 "single" (paper §6.3); ``p`` is the predicted
probability of class 1. The paper plots precision-recall and TNR-FNR curves (a flipped ROC
curve) and reports AUC, AP, the confusion matrix and the precision of each class. The reference
(desa_reference.md §11) takes the argmax of the softmax, i.e. binary when p > 0.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


def binary_metrics(y_true: ArrayLike, p: ArrayLike) -> dict[str, Any]:
    """AUC, AP, confusion matrix at 0.5, per-class precision and the ROC, PR and TNR-FNR curves.

    Rows with a NaN label are dropped (counted in ``n_dropped``). Returns ``{"n", "n_dropped",
    "n_single", "n_binary", "auc", "ap", "confusion_matrix" ([[tn, fp], [fn, tp]]),
    "precision" ({"single", "binary"}), "roc" ({"fpr", "tpr", "thresholds"}),
    "pr" ({"precision", "recall", "thresholds"}), "tnr_fnr" ({"tnr", "fnr", "thresholds"}),
    "note"}``. With a single class present, ``auc``, ``ap`` and the three curves are None and
    ``note`` says why (otherwise None); a class never predicted has precision None.
    """
    y = np.asarray(y_true, dtype=float)
    prob = np.asarray(p, dtype=float)
    if y.ndim != 1 or y.shape != prob.shape:
        raise ValueError(f"y_true and p must be 1-D of one length, got {y.shape} and {prob.shape}")
    kept = ~np.isnan(y)
    y, prob = y[kept].astype(int), prob[kept]
    if y.size == 0:
        raise ValueError("no labelled rows")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (single) or 1 (binary), got {np.unique(y).tolist()}")
    if not (np.isfinite(prob).all() and (prob >= 0).all() and (prob <= 1).all()):
        raise ValueError("p must be probabilities in [0, 1] on every labelled row")
    predicted = (prob > 0.5).astype(int)
    (tn, fp), (fn, tp) = confusion_matrix(y, predicted, labels=[0, 1]).tolist()
    result: dict[str, Any] = {
        "n": int(y.size),
        "n_dropped": int((~kept).sum()),
        "n_single": int((y == 0).sum()),
        "n_binary": int((y == 1).sum()),
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "precision": {
            "single": tn / (tn + fn) if tn + fn else None,
            "binary": tp / (tp + fp) if tp + fp else None,
        },
    }
    if len(np.unique(y)) < 2:
        present = "binary" if y[0] else "single"
        return result | {
            "auc": None,
            "ap": None,
            "roc": None,
            "pr": None,
            "tnr_fnr": None,
            "note": f"only {present} stars are labelled: AUC, AP and the curves are undefined",
        }
    fpr, tpr, roc_thresholds = roc_curve(y, prob)
    precision, recall, pr_thresholds = precision_recall_curve(y, prob)
    return result | {
        "auc": float(roc_auc_score(y, prob)),
        "ap": float(average_precision_score(y, prob)),
        "roc": {"fpr": fpr, "tpr": tpr, "thresholds": roc_thresholds},
        "pr": {"precision": precision, "recall": recall, "thresholds": pr_thresholds},
        "tnr_fnr": {"tnr": 1 - fpr, "fnr": 1 - tpr, "thresholds": roc_thresholds},
        "note": None,
    }


def regression_metrics(
    y_true: ArrayLike,
    median: ArrayLike,
    lo: ArrayLike | None = None,
    hi: ArrayLike | None = None,
) -> dict[str, Any]:
    """MAE, RMSE and, given both interval bounds, the fraction of truths inside ``[lo, hi]``.

    The reference (desa_reference.md §11, ``get_results``) reports these for age, with the
    interval between the calibrated quantiles. Rows with NaN truth are dropped. Returns
    ``{"n", "n_dropped", "mae", "rmse", "coverage"}``; ``coverage`` is None without bounds.
    """
    if (lo is None) != (hi is None):
        raise ValueError("give both lo and hi, or neither")
    y = np.asarray(y_true, dtype=float)
    given = {"median": median} if lo is None else {"median": median, "lo": lo, "hi": hi}
    values = {name: np.asarray(a, dtype=float) for name, a in given.items()}
    for name, a in values.items():
        if a.shape != y.shape or y.ndim != 1:
            raise ValueError(f"{name} must be 1-D like y_true {y.shape}, got {a.shape}")
    kept = ~np.isnan(y)
    y = y[kept]
    values = {name: a[kept] for name, a in values.items()}
    if y.size == 0:
        raise ValueError("no rows with a true value")
    for name, a in values.items():
        # An infinite bound is a real interval (split-conformal gives one when the calibration
        # set is too small for the level); NaN anywhere, or an infinite median, is not.
        bad = np.isnan(a) if name != "median" else ~np.isfinite(a)
        if bad.any():
            raise ValueError(f"{name} has NaN or inf on rows with a true value")
    error = values["median"] - y
    coverage = float(((values["lo"] <= y) & (y <= values["hi"])).mean()) if "lo" in values else None
    return {
        "n": int(y.size),
        "n_dropped": int((~kept).sum()),
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "coverage": coverage,
    }


def _two_classes(y: np.ndarray) -> bool:
    positives = int(y.sum())
    return 0 < positives < len(y)


def auc_score(y_true: ArrayLike, p: ArrayLike) -> float:
    """ROC AUC as the Mann–Whitney statistic: the chance a random binary outranks a random
    single, ties counting half (equal to sklearn's ``roc_auc_score``, without its per-call
    overhead, for the bootstrap). NaN with one class."""
    y = np.asarray(y_true, dtype=bool)
    if not _two_classes(y):
        return float("nan")
    ranks = rankdata(np.asarray(p, dtype=float))
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y_true: ArrayLike, p: ArrayLike) -> float:
    """Average precision Σ (R_k − R_{k−1}) P_k over the distinct thresholds, highest first (as
    sklearn's ``average_precision_score``, without its overhead). NaN with one class."""
    y = np.asarray(y_true, dtype=bool)
    if not _two_classes(y):
        return float("nan")
    order = np.argsort(-np.asarray(p, dtype=float), kind="mergesort")
    scores, hits = np.asarray(p, dtype=float)[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # end of each tie group
    tp = np.cumsum(hits)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
