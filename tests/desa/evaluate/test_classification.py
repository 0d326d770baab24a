"""Binary-detection and regression metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from desa.evaluate import binary_metrics, regression_metrics

Y = np.array([0, 0, 1, 1, 1, 0, 1], dtype=float)
P = np.array([0.1, 0.6, 0.4, 0.8, 0.9, 0.3, 0.7])


def test_binary_auc_ap_against_sklearn_and_by_hand() -> None:
    result = binary_metrics(Y, P)
    assert result["auc"] == pytest.approx(roc_auc_score(Y, P))
    assert result["ap"] == pytest.approx(average_precision_score(Y, P))
    # 11 of the 12 (binary, single) pairs are ordered right: only 0.4 < 0.6.
    assert result["auc"] == pytest.approx(11 / 12)
    # Ranked: 1 1 1 0 1 0 0 -> AP = 3 * 0.25 * 1 + 0.25 * 4/5.
    assert result["ap"] == pytest.approx(0.95)
    assert result["note"] is None


def test_binary_confusion_and_precision_by_hand() -> None:
    result = binary_metrics(Y, P)
    # Predicted binary where p > 0.5: singles 0.1, 0.3 right, 0.6 wrong; binaries 0.4 wrong.
    assert result["confusion_matrix"] == [[2, 1], [1, 3]]
    assert result["precision"]["single"] == pytest.approx(2 / 3)
    assert result["precision"]["binary"] == pytest.approx(3 / 4)
    assert (result["n"], result["n_single"], result["n_binary"]) == (7, 3, 4)


def test_binary_curves() -> None:
    result = binary_metrics(Y, P)
    roc, tnr_fnr = result["roc"], result["tnr_fnr"]
    np.testing.assert_allclose(tnr_fnr["tnr"], 1 - roc["fpr"])
    np.testing.assert_allclose(tnr_fnr["fnr"], 1 - roc["tpr"])
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
    assert len(result["pr"]["precision"]) == len(result["pr"]["recall"])
    assert len(result["pr"]["thresholds"]) == len(result["pr"]["recall"]) - 1


def test_binary_drops_nan_labels() -> None:
    result = binary_metrics(np.append(Y, np.nan), np.append(P, 0.99))
    assert result["n_dropped"] == 1 and result["n"] == 7
    assert result["auc"] == pytest.approx(11 / 12)


def test_binary_single_class() -> None:
    result = binary_metrics([1, 1, 1], [0.2, 0.7, 0.9])
    assert result["auc"] is None and result["ap"] is None and result["roc"] is None
    assert "only binary" in result["note"]
    assert result["confusion_matrix"] == [[0, 0], [1, 2]]
    assert result["precision"] == {"single": 0.0, "binary": 1.0}


def test_binary_errors() -> None:
    with pytest.raises(ValueError, match="0 \\(single\\) or 1"):
        binary_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="probabilities"):
        binary_metrics([0, 1], [0.1, 1.2])


def test_regression_metrics_by_hand() -> None:
    y = [1.0, 2.0, 3.0, np.nan]
    median = [1.0, 3.0, 5.0, 0.0]
    lo = [0.0, 2.0, 4.0, 0.0]
    hi = [2.0, 2.5, 6.0, 0.0]
    result = regression_metrics(y, median, lo, hi)
    # Errors 0, 1, 2 -> MAE 1, RMSE sqrt(5/3); truths 1 and 2 in their intervals, 3 is not.
    assert (result["n"], result["n_dropped"]) == (3, 1)
    assert result["mae"] == pytest.approx(1.0)
    assert result["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert result["coverage"] == pytest.approx(2 / 3)
    assert regression_metrics(y, median)["coverage"] is None


def test_regression_metrics_errors() -> None:
    with pytest.raises(ValueError, match="both lo and hi"):
        regression_metrics([1.0], [1.0], lo=[0.0])
    with pytest.raises(ValueError, match="median has NaN"):
        regression_metrics([1.0, 2.0], [1.0, np.nan])


def test_regression_metrics_take_an_infinite_interval_as_covering() -> None:
    scores = regression_metrics([1.0, 5.0], [2.0, 5.0], [-np.inf, 4.0], [np.inf, 4.5])
    assert scores["coverage"] == 0.5 and scores["mae"] == 0.5
    with pytest.raises(ValueError, match="median"):
        regression_metrics([1.0], [np.inf])


def test_fast_auc_and_ap_equal_sklearn_with_ties() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from desa.evaluate import auc_score, average_precision

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.uniform(size=60), 1)  # many ties
    assert auc_score(y, p) == pytest.approx(roc_auc_score(y, p))
    assert average_precision(y, p) == pytest.approx(average_precision_score(y, p))
    assert np.isnan(auc_score(np.ones(5), p[:5])) and np.isnan(
        average_precision(np.zeros(5), p[:5])
    )
