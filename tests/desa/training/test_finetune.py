"""Fine-tuning targets and scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from desa.training.finetune import _binary_scores, star_targets


def test_star_targets_map_labels_and_leave_unknowns_nan() -> None:
    stars = pd.DataFrame({"kic": [1, 2, 3, 4]})
    binary = pd.DataFrame({"kic": [1, 2, 3], "label": ["binary", "single", None]})
    ages = pd.DataFrame({"kic": [2, 4], "age_gyr": [3.5, 9.0]})
    targets = star_targets(stars, binary, ages)
    np.testing.assert_array_equal(targets["binary"], [1.0, 0.0, np.nan, np.nan])
    np.testing.assert_array_equal(targets["age_gyr"], [np.nan, 3.5, np.nan, 9.0])


def test_binary_scores_match_scikit_learn_on_test_stars_only() -> None:
    y = np.array([1, 0, 1, 0, 1, np.nan, 0])
    p = np.array([0.9, 0.2, 0.4, 0.6, 0.7, 0.5, 0.1])
    test = np.array([True, True, True, True, False, True, True])
    scores = _binary_scores(y, p, test)
    keep = test & np.isfinite(y)
    assert scores["binary_auc"] == pytest.approx(roc_auc_score(y[keep], p[keep]))
    assert scores["binary_ap"] == pytest.approx(average_precision_score(y[keep], p[keep]))
    assert scores["binary_n_test"] == 5
    one_class = _binary_scores(np.array([1.0, 1.0]), np.array([0.2, 0.8]), np.ones(2, bool))
    assert one_class["binary_auc"] is None and one_class["binary_ap"] is None
