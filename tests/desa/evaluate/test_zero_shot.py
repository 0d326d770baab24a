"""Zero-shot scores: Hungarian-matched accuracy, purity, GMM clustering of separated blobs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from desa.evaluate import in_cmd_sample, matched_accuracy, purity, zero_shot


def test_relabelled_perfect_clustering_scores_one() -> None:
    y_true = ["dwarf", "dwarf", "giant", "giant", "subgiant"]
    clusters = [2, 2, 0, 0, 1]
    assert matched_accuracy(y_true, clusters) == 1.0
    assert purity(y_true, clusters) == 1.0
    # The reference's unmatched mean(cluster == class) would call this clustering 0% right.
    assert matched_accuracy([0, 0, 1, 1, 2], clusters) == 1.0


def test_imperfect_clustering_by_hand() -> None:
    # Contingency: a -> {0: 2, 1: 1}, b -> {1: 2}, c -> {1: 1}. Best one-to-one mapping
    # a->0 (2 rows), b->1 (2 rows); class c has no cluster left: 4 of 6 right.
    y_true = ["a", "a", "a", "b", "b", "c"]
    clusters = [0, 0, 1, 1, 1, 1]
    assert matched_accuracy(y_true, clusters) == pytest.approx(4 / 6)
    # Majorities: cluster 0 -> a (2), cluster 1 -> b (2).
    assert purity(y_true, clusters) == pytest.approx(4 / 6)


def test_more_clusters_than_classes_leave_clusters_unmatched() -> None:
    # Class a split over clusters 0 and 1: only one of them maps to a. Purity does not mind.
    y_true = [1, 1, 2, 2]
    clusters = ["x", "y", "z", "z"]
    assert matched_accuracy(y_true, clusters) == pytest.approx(3 / 4)
    assert purity(y_true, clusters) == 1.0


def test_label_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="one length"):
        matched_accuracy([0, 1], [0, 1, 1])


def _blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    centres = {"dwarf": (0.0, 0.0), "giant": (20.0, 0.0), "subgiant": (0.0, 20.0)}
    points, classes = [], []
    for name, centre in centres.items():
        points.append(rng.normal(centre, 1.0, size=(40, 2)))
        classes += [name] * 40
    return np.vstack(points), np.array(classes)


def test_zero_shot_recovers_separated_classes() -> None:
    points, classes = _blobs()
    result = zero_shot(points, classes, seed=0)
    assert result["n"] == 120 and result["n_classes"] == 3
    assert result["ari"] == pytest.approx(1.0)
    assert result["matched_accuracy"] == 1.0 and result["purity"] == 1.0
    assert result["clusters"].shape == (120,)
    assert set(result["clusters"].tolist()) == {0, 1, 2}
    again = zero_shot(points, classes, seed=0)
    np.testing.assert_array_equal(again["clusters"], result["clusters"])


def test_zero_shot_on_mixed_classes_scores_low() -> None:
    points, _ = _blobs()
    classes = np.array(["a", "b", "c"] * 40)  # labels unrelated to position
    result = zero_shot(points, classes)
    assert result["ari"] < 0.1
    assert result["matched_accuracy"] < 0.6


def test_zero_shot_errors() -> None:
    points, classes = _blobs()
    with pytest.raises(ValueError, match="at least 2 classes"):
        zero_shot(points, ["dwarf"] * len(points))
    bad = points.copy()
    bad[[5, 17]] = np.nan
    with pytest.raises(ValueError, match=r"2 rows with NaN.*\[5, 17\]"):
        zero_shot(bad, classes)
    declared = pd.Categorical(classes, categories=["dwarf", "giant", "subgiant", "binary"])
    with pytest.raises(ValueError, match=r"no members: \['binary'\]"):
        zero_shot(points, declared)
    with pytest.raises(ValueError, match="missing labels"):
        zero_shot(points, [None, *classes[1:]])
    with pytest.raises(ValueError, match="120 labels"):
        zero_shot(points, classes[:-1])


def test_not_in_sample_is_not_a_class() -> None:
    classes = ["Dwarf", "notinCMDsample", None, np.nan, "Not in CMD sample", "Subgiant"]
    np.testing.assert_array_equal(in_cmd_sample(classes), [1, 0, 0, 0, 0, 1])
    assert in_cmd_sample(pd.Series(["Giant_Branch"], dtype="category")).tolist() == [True]


def test_adjusted_rand_equals_sklearn() -> None:
    from sklearn.metrics import adjusted_rand_score

    from desa.evaluate import adjusted_rand

    rng = np.random.default_rng(0)
    classes = rng.choice(["a", "b", "c"], 50)
    clusters = rng.integers(0, 4, 50)
    assert adjusted_rand(classes, clusters) == pytest.approx(adjusted_rand_score(classes, clusters))
    assert adjusted_rand(["a", "a"], [0, 0]) == 1.0
