"""Zero-shot clustering of 2-D UMAP points against CMD classes (paper §6.2, Table 2).

The reference (desa_reference.md §11, ``compare_zero_shot``) scores "accuracy" as
``mean(cluster_id == class_id)`` without matching clusters to classes, which depends on the
arbitrary numbering of the clusters. Here accuracy is taken after the best one-to-one matching
(Hungarian algorithm on the contingency table), beside ARI and purity.

Godoy-Rivera et al. 2025's ``flag_CMD`` marks stars outside their CMD sample as
'notinCMDsample' (research/data_sources.md); that is not a class, and the reference drops those
rows (and NaN) before clustering (desa_reference.md §11): :func:`in_cmd_sample` finds them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler


def _contingency(y_true: ArrayLike, y_cluster: ArrayLike) -> np.ndarray:
    """Counts of (class, cluster) pairs: rows are classes, columns clusters."""
    true = np.asarray(y_true)
    cluster = np.asarray(y_cluster)
    if true.ndim != 1 or cluster.ndim != 1 or len(true) != len(cluster):
        raise ValueError(
            f"labels must be two 1-D arrays of one length, got shapes {true.shape} "
            f"and {cluster.shape}"
        )
    if len(true) == 0:
        raise ValueError("labels are empty")
    _, class_index = np.unique(true, return_inverse=True)
    _, cluster_index = np.unique(cluster, return_inverse=True)
    table = np.zeros((class_index.max() + 1, cluster_index.max() + 1), dtype=np.int64)
    np.add.at(table, (class_index, cluster_index), 1)
    return table


def matched_accuracy(y_true: ArrayLike, y_cluster: ArrayLike) -> float:
    """Accuracy after the best one-to-one mapping of clusters to classes.

    The mapping maximises the number of agreeing rows (scipy ``linear_sum_assignment`` on the
    contingency table); rows in clusters (or of classes) left unmatched count as wrong. Labels
    may be strings or integers, with different numbers of clusters and classes.
    """
    table = _contingency(y_true, y_cluster)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def adjusted_rand(y_true: ArrayLike, y_cluster: ArrayLike) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) from the contingency table; 1 when both
    labelings are trivial (as sklearn's ``adjusted_rand_score``, without its overhead)."""
    table = _contingency(y_true, y_cluster).astype(float)

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) / 2).sum())

    index = pairs(table)
    rows, cols = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    n = table.sum()
    expected = rows * cols / (n * (n - 1) / 2) if n > 1 else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return float((index - expected) / (maximum - expected))


def purity(y_true: ArrayLike, y_cluster: ArrayLike) -> float:
    """Fraction of rows whose class is the majority class of their cluster (reference §11)."""
    table = _contingency(y_true, y_cluster)
    return float(table.max(axis=0).sum() / table.sum())


NOT_IN_SAMPLE = "notinCMDsample"


def in_cmd_sample(classes: ArrayLike) -> np.ndarray:
    """True where a row has a real CMD class: not missing and not 'notinCMDsample'.

    The comparison ignores case, spaces and underscores ('not in CMD sample' counts too).
    """
    labels = np.asarray(classes, dtype=object)

    def real(label: object) -> bool:
        if label is None or label != label:  # None or NaN
            return False
        key = "".join(ch for ch in str(label).lower() if ch.isalnum())
        return key != NOT_IN_SAMPLE.lower()

    return np.fromiter((real(label) for label in labels), dtype=bool, count=len(labels))


def _check_classes(classes: ArrayLike) -> np.ndarray:
    """The labels as an array; every declared category must have members, none missing."""
    categories = getattr(classes, "categories", None)  # pandas.Categorical
    if categories is None and hasattr(classes, "cat"):  # pandas.Series of category dtype
        categories = classes.cat.categories
    labels = np.asarray(classes)
    missing = [i for i, label in enumerate(labels) if label is None or label != label]
    if missing:
        raise ValueError(
            f"classes has {len(missing)} missing labels (rows {missing[:10]}); "
            "drop them before clustering"
        )
    if categories is not None:
        empty = sorted(str(c) for c in set(categories) - set(labels.tolist()))
        if empty:
            raise ValueError(f"classes with no members: {empty}")
    return labels


def zero_shot(points: ArrayLike, classes: ArrayLike, *, seed: int = 0) -> dict[str, Any]:
    """Cluster UMAP points with a Gaussian mixture, one component per class, and score it.

    As in the reference (desa_reference.md §11) the points are standardised and the mixture
    has full covariances; the paper (§6.2) clusters the 2-D UMAP of the embeddings.

    Returns ``{"ari", "matched_accuracy", "purity", "n", "n_classes", "clusters"}``, where
    ``clusters`` holds the mixture component (0 .. n_classes-1) of every row.
    """
    x = np.asarray(points, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"points must be an (N, d) array, got shape {x.shape}")
    labels = _check_classes(classes)
    if labels.ndim != 1 or len(labels) != len(x):
        raise ValueError(f"classes must be 1-D with {len(x)} labels, got shape {labels.shape}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(f"points has {bad.size} rows with NaN or inf (rows {bad[:10].tolist()})")
    n_classes = len(np.unique(labels))
    if n_classes < 2:
        raise ValueError(f"zero-shot clustering needs at least 2 classes, got {n_classes}")
    scaled = StandardScaler().fit_transform(x)
    mixture = GaussianMixture(n_components=n_classes, covariance_type="full", random_state=seed)
    clusters = mixture.fit_predict(scaled)
    return {
        "ari": adjusted_rand(labels, clusters),
        "matched_accuracy": matched_accuracy(labels, clusters),
        "purity": purity(labels, clusters),
        "n": len(x),
        "n_classes": n_classes,
        "clusters": clusters,
    }
