"""Held-out quality of a trained quantile regressor: MAE against a constant, calibrated coverage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from desa.evaluate import regression_metrics
from desa.losses import apply_calibration, conformal_calibrate


def quantile_report(
    names: Sequence[str],
    scales: Sequence[float],
    quantiles: Sequence[float],
    *,
    y_train: np.ndarray,
    pred_cal: np.ndarray,
    y_cal: np.ndarray,
    pred_test: np.ndarray,
    y_test: np.ndarray,
) -> dict[str, float]:
    """Test-set quality of (N, L, Q) quantile predictions of L labels (NaN targets skipped).

    Per label (in physical units, ``scale`` times the model's): MAE and RMSE of the median,
    and MAE of the constant predictor (the training median). The outermost quantile pair is
    calibrated on the calibration split (split-conformal, `desa.losses.conformal_calibrate`)
    and its test coverage is reported per label and pooled, with the nominal level.
    """
    mid = len(quantiles) // 2
    report: dict[str, float] = {
        "n_test": int(np.isfinite(y_test).any(axis=1).sum()),
        "n_calibration": int(np.isfinite(y_cal).any(axis=1).sum()),
    }
    calibrated = apply_calibration(pred_test, conformal_calibrate(pred_cal, y_cal, quantiles))
    inside = counted = 0
    for j, (name, scale) in enumerate(zip(names, scales, strict=True)):
        scores = regression_metrics(
            y_test[:, j] * scale,
            pred_test[:, j, mid] * scale,
            calibrated[:, j, 0] * scale,
            calibrated[:, j, -1] * scale,
        )
        constant = np.nanmedian(y_train[:, j])
        report[f"{name}_mae"], report[f"{name}_rmse"] = scores["mae"], scores["rmse"]
        report[f"{name}_constant_mae"] = float(np.nanmean(np.abs(constant - y_test[:, j])) * scale)
        report[f"{name}_coverage"] = scores["coverage"]
        inside, counted = inside + scores["coverage"] * scores["n"], counted + scores["n"]
    report["coverage"] = inside / counted
    report["coverage_nominal"] = round(quantiles[-1] - quantiles[0], 6)
    return report
