"""The two sides of the fast rotators in UMAP space (paper §6.2, Figure 11).

Short-period stars split into two blobs: one mostly synchronised binaries (over-luminous,
different ΔK_iso), the other young single stars (low peculiar-velocity dispersion). The paper
separates them with a two-component GMM and a linear SVM, then compares ΔK_iso and the
velocity dispersion of the two groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.mixture import GaussianMixture
from sklearn.svm import SVC


def _side(delta_k: np.ndarray, velocity: np.ndarray) -> dict[str, Any]:
    """Statistics of one side; NaN values are skipped."""
    dk = delta_k[~np.isnan(delta_k)]
    v = velocity[~np.isnan(velocity)]
    return {
        "n": len(delta_k),
        "n_delta_k": len(dk),
        "delta_k_median": float(np.median(dk)) if dk.size else None,
        "delta_k_mean": float(dk.mean()) if dk.size else None,
        "delta_k": dk,
        "n_velocity": len(v),
        "velocity_dispersion": float(v.std(ddof=1)) if v.size >= 2 else None,
    }


def fast_rotator_sides(
    points: ArrayLike, delta_k: ArrayLike, velocity: ArrayLike, *, seed: int = 0
) -> dict[str, Any]:
    """Split 2-D UMAP points of short-period stars in two and describe each side.

    A two-component GaussianMixture (seeded) labels the points 0 or 1; a linear SVM
    (``SVC(kernel="linear")``) fitted to those labels gives the boundary ``w · x + b = 0`` in
    UMAP coordinates, with label 1 where ``w · x + b > 0``. Per GMM side: the ΔK_iso values
    and the velocity dispersion (sample std, ddof=1, None under 2 values) of ``velocity``
    (e.g. total peculiar velocity); NaN ΔK_iso or velocity values are skipped.

    Returns ``{"n", "labels" (N,), "svm": {"w" [w0, w1], "b", "accuracy"}, "sides": [side 0,
    side 1]}``, each side ``{"n", "n_delta_k", "delta_k_median", "delta_k_mean", "delta_k"
    (finite values), "n_velocity", "velocity_dispersion"}``.
    """
    x = np.asarray(points, dtype=float)
    dk = np.asarray(delta_k, dtype=float)
    v = np.asarray(velocity, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"points must be an (N, 2) array, got shape {x.shape}")
    if dk.shape != (len(x),) or v.shape != (len(x),):
        raise ValueError(
            f"delta_k and velocity must be 1-D with {len(x)} values, got {dk.shape} and {v.shape}"
        )
    if len(x) < 4:
        raise ValueError(f"need at least 4 points to split in two, got {len(x)}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(f"points has {bad.size} rows with NaN or inf (rows {bad[:10].tolist()})")
    labels = GaussianMixture(n_components=2, random_state=seed).fit_predict(x)
    if len(np.unique(labels)) < 2:
        raise ValueError("the mixture put every point in one group; no boundary to fit")
    svm = SVC(kernel="linear").fit(x, labels)
    return {
        "n": len(x),
        "labels": labels,
        "svm": {
            "w": svm.coef_[0].tolist(),
            "b": float(svm.intercept_[0]),
            "accuracy": float(svm.score(x, labels)),
        },
        "sides": [_side(dk[labels == k], v[labels == k]) for k in (0, 1)],
    }
