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


def velocity_dispersion(uvw: np.ndarray) -> float | None:
    """1-D velocity dispersion of a group: the RMS of (U, V, W) about the group's mean.

    sqrt(Σ_i |v_i − v̄|² / (3 (n − 1))): per component the sample variance (ddof 1), averaged
    over the three, as catalogs/labels/build.py defines a group's dispersion (the RMS of the
    members' 1-D sigma) but about the group's mean motion. None under 2 stars.
    """
    if len(uvw) < 2:
        return None
    return float(np.sqrt(uvw.var(axis=0, ddof=1).mean()))


def _side(delta_k: np.ndarray, uvw: np.ndarray) -> dict[str, Any]:
    """Statistics of one side; NaN values (any NaN component of a velocity) are skipped."""
    dk = delta_k[~np.isnan(delta_k)]
    v = uvw[~np.isnan(uvw).any(axis=1)]
    return {
        "n": len(delta_k),
        "n_delta_k": len(dk),
        "delta_k_median": float(np.median(dk)) if dk.size else None,
        "delta_k_mean": float(dk.mean()) if dk.size else None,
        "delta_k": dk,
        "n_velocity": len(v),
        "velocity_dispersion": velocity_dispersion(v),
    }


def fast_rotator_sides(
    points: ArrayLike, delta_k: ArrayLike, uvw: ArrayLike, *, seed: int = 0
) -> dict[str, Any]:
    """Split 2-D UMAP points of short-period stars in two and describe each side.

    A two-component GaussianMixture (seeded) labels the points 0 or 1; a linear SVM
    (``SVC(kernel="linear")``) fitted to those labels gives the boundary ``w · x + b = 0`` in
    UMAP coordinates, with label 1 where ``w · x + b > 0``. Per GMM side: the ΔK_iso values
    and the velocity dispersion of the (N, 3) ``uvw`` velocities (km/s), see
    :func:`velocity_dispersion`; NaN ΔK_iso values and velocities with a NaN are skipped.

    Returns ``{"n", "labels" (N,), "svm": {"w" [w0, w1], "b", "accuracy"}, "sides": [side 0,
    side 1]}``, each side ``{"n", "n_delta_k", "delta_k_median", "delta_k_mean", "delta_k"
    (finite values), "n_velocity", "velocity_dispersion"}``.
    """
    x = np.asarray(points, dtype=float)
    dk = np.asarray(delta_k, dtype=float)
    v = np.asarray(uvw, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"points must be an (N, 2) array, got shape {x.shape}")
    if dk.shape != (len(x),) or v.shape != (len(x), 3):
        raise ValueError(
            f"delta_k must have {len(x)} values and uvw be ({len(x)}, 3), got {dk.shape} and "
            f"{v.shape}"
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
