"""Held-out quality report on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from desa.evaluate.quantiles import quantile_report

Q = (0.1, 0.5, 0.9)


def test_quantile_report_on_a_hand_made_case() -> None:
    y_test = np.array([[1.0], [2.0], [3.0], [np.nan]])
    # median predictions 1.5, 2.0, 2.0 -> errors 0.5, 0, -1 (the NaN target is skipped)
    pred_test = np.array([[[1.0, 1.5, 2.0]], [[1.9, 2.0, 2.1]], [[1.0, 2.0, 3.5]], [[0, 0, 0]]])
    # calibration: every interval already covers with room to spare -> negative correction
    y_cal = np.array([[0.0], [0.0], [0.0], [0.0]])
    pred_cal = np.tile(np.array([[[-1.0, 0.0, 1.0]]]), (4, 1, 1))
    report = quantile_report(
        ["x"],
        [10.0],
        Q,
        y_train=np.array([[4.0], [2.0], [np.nan]]),
        pred_cal=pred_cal,
        y_cal=y_cal,
        pred_test=pred_test,
        y_test=y_test,
    )
    assert report["n_test"] == 3 and report["n_calibration"] == 4
    assert report["x_mae"] == pytest.approx(10 * 1.5 / 3)
    assert report["x_rmse"] == pytest.approx(10 * np.sqrt(1.25 / 3))
    # the constant predictor is the training median, 3.0: errors 2, 1, 0
    assert report["x_constant_mae"] == pytest.approx(10.0)
    # scores all -1 -> finite-sample correction -1: intervals shrink by 1 on each side:
    # [2, 1] (empty), [2.9, 1.1] (empty), [2.0, 2.5] -> 3.0 is outside: coverage 0
    assert report["x_coverage"] == 0.0 and report["coverage"] == 0.0
    assert report["coverage_nominal"] == pytest.approx(0.8)
