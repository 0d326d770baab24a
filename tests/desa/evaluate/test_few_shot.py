"""Few-shot regression scores: R², error fractions, the ridge fit and the fit/score split."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from desa.evaluate import few_shot, r2_per_target, within_absolute_error, within_relative_error
from desa.evaluate.few_shot import RIDGE_ALPHAS


def test_r2_per_target_by_hand() -> None:
    # Column 0: residuals (0, 0, 0, -1) -> SS_res 1; mean 2.5 -> SS_tot 5; R² = 1 - 1/5.
    # Column 1: predicting the mean 3 everywhere -> SS_res = SS_tot = 4; R² = 0.
    y_true = np.array([[1, 2], [2, 2], [3, 4], [4, 4]], dtype=float)
    y_pred = np.array([[1, 3], [2, 3], [3, 3], [5, 3]], dtype=float)
    np.testing.assert_allclose(r2_per_target(y_true, y_pred), [0.8, 0.0], atol=1e-12)
    np.testing.assert_allclose(r2_per_target([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]), [0.5])


def test_r2_undefined_cases_are_nan() -> None:
    assert np.isnan(r2_per_target([1.0], [2.0])).all()
    assert np.isnan(r2_per_target([3.0, 3.0], [3.0, 3.0])).all()


def test_within_relative_error_by_hand() -> None:
    # |error| vs 10% of |true|: 0.5 <= 1 yes, 2 <= 1 no, 1 <= 1 yes (inclusive), 0 <= 0 yes.
    y_true = np.array([[10.0, 1.0], [10.0, 1.0], [-10.0, 1.0], [0.0, 1.0]])
    y_pred = np.array([[10.5, 1.0], [12.0, 2.0], [-11.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(within_relative_error(y_true, y_pred, 0.1), [0.75, 0.75])
    np.testing.assert_allclose(within_relative_error(y_true, y_pred, 0.2), [1.0, 0.75])
    # tol 0: only exact predictions count (column 0 row 3: 0 <= 0).
    np.testing.assert_allclose(within_relative_error(y_true, y_pred, 0.0), [0.25, 0.75])
    with pytest.raises(ValueError, match="non-negative"):
        within_relative_error(y_true, y_pred, -0.1)


def test_within_absolute_error_by_hand() -> None:
    # M_G near 0: 10% of |0.05| is 0.005 mag, so a relative score would fail every star; the
    # absolute bins count |error| <= 0.1 mag: 0.05 yes, 0.15 no, 0.1 yes (inclusive).
    y_true = np.array([0.05, -0.02, 0.0])
    y_pred = np.array([0.10, 0.13, -0.1])
    np.testing.assert_allclose(within_absolute_error(y_true, y_pred, 0.1), [2 / 3])
    np.testing.assert_allclose(within_absolute_error(y_true, y_pred, 0.2), [1.0])
    np.testing.assert_allclose(within_relative_error(y_true, y_pred, 0.1), [0.0])
    with pytest.raises(ValueError, match="non-negative"):
        within_absolute_error(y_true, y_pred, -1)


def _linear_data(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 5)) * [1.0, 10.0, 0.1, 3.0, 1.0] + 4.0
    y = np.column_stack([x @ [0.5, 0.1, 2.0, 0.0, 0.0] + 3.0, x @ [0.0, 0.0, 0.0, 1.0, -1.0] + 30])
    return x, y


def test_few_shot_recovers_an_exact_linear_map() -> None:
    x, y = _linear_data()
    result = few_shot(x, y, fraction=0.1, seed=4, target_names=["bp_rp", "m_g"])
    assert (result["n_fit"], result["n_score"], result["n_dropped"]) == (20, 180, 0)
    assert result["r2"]["bp_rp"] == pytest.approx(1.0) and result["r2"]["m_g"] == pytest.approx(1.0)
    assert result["r2_mean"] == pytest.approx(1.0)
    assert result["width"] == 5
    assert result["predictions"].shape == (180, 2)
    np.testing.assert_array_equal(result["truth"], y[result["scored_index"]])
    # Noiseless and more rows than dimensions: the cross-validation picks the smallest penalty.
    assert result["alpha"] == {"bp_rp": RIDGE_ALPHAS[0], "m_g": RIDGE_ALPHAS[0]}
    np.testing.assert_allclose(result["predictions"], result["truth"], atol=1e-2)


def _wide_embedding(seed: int = 0, n: int = 300, width: int = 32):
    """A 32-wide embedding with one informative dimension and noisy targets."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, width))
    return x, x[:, 0] + 0.5 * rng.normal(size=n)


def test_few_shot_with_fewer_fit_rows_than_dimensions_does_not_interpolate() -> None:
    # 30 fit rows for 32 dimensions: plain least squares passes through every fit row and its
    # predictions on the scored rows are worse than the mean; the cross-validated ridge is not.
    x, y = _wide_embedding()
    result = few_shot(x, y, fraction=0.1, seed=0, target_names=["t"])
    assert result["n_fit"] == 30 < result["width"] == 32
    scored = result["scored_index"]
    fit = np.setdiff1d(np.arange(len(x)), scored)
    lstsq = LinearRegression().fit(x[fit], y[fit]).predict(x[scored])
    assert r2_score(y[scored], lstsq) < 0  # what the old code reported
    assert result["r2"]["t"] > 0.3
    assert result["alpha"]["t"] > RIDGE_ALPHAS[0]


def test_few_shot_drops_nan_rows_and_indexes_the_input() -> None:
    x, y = _linear_data(50)
    x[3, 1] = np.nan
    y[7, 0] = np.nan
    result = few_shot(x, y[:, 0], fraction=0.2, seed=0, target_names=["t"])
    assert result["n_dropped"] == 2
    assert (result["n_fit"], result["n_score"]) == (10, 38)  # round(0.2 * 48) = 10
    assert not {3, 7} & set(result["scored_index"].tolist())
    np.testing.assert_array_equal(result["truth"][:, 0], y[result["scored_index"], 0])


def test_few_shot_model_sees_only_the_fit_rows() -> None:
    x, y = _linear_data(60)
    y = y + np.random.default_rng(2).normal(size=y.shape)
    first = few_shot(x, y, fraction=0.25, seed=5, target_names=["a", "b"])
    scored = first["scored_index"]
    # Change every scored target and one scored star's features: the fit must not move.
    y2, x2 = y.copy(), x.copy()
    y2[scored] += 100.0
    x2[scored[0]] *= 50.0
    second = few_shot(x2, y2, fraction=0.25, seed=5, target_names=["a", "b"])
    np.testing.assert_array_equal(second["scored_index"], scored)
    np.testing.assert_allclose(second["predictions"][1:], first["predictions"][1:])


def test_few_shot_errors() -> None:
    x, y = _linear_data(10)
    with pytest.raises(ValueError, match="1 rows to fit"):
        few_shot(x, y, fraction=0.1, target_names=["a", "b"])
    with pytest.raises(ValueError, match="0 to score"):
        few_shot(x, y, fraction=0.99, target_names=["a", "b"])
    with pytest.raises(ValueError, match="1 to score; need at least 2 of each"):
        few_shot(x, y, fraction=0.9, target_names=["a", "b"])
    with pytest.raises(ValueError, match="1 target names for 2"):
        few_shot(x, y, target_names=["a"])
    with pytest.raises(ValueError, match="strictly between"):
        few_shot(x, y, fraction=1.0, target_names=["a", "b"])
