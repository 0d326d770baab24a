"""Fast rotators: GMM sides, the linear SVM boundary and per-side statistics."""

from __future__ import annotations

import numpy as np
import pytest

from desa.evaluate import fast_rotator_sides, velocity_dispersion

OFFSETS = np.array([[0.0, 0.0], [0.3, 0.1], [-0.2, 0.3], [0.1, -0.3], [-0.3, -0.1], [0.2, 0.2]])


def _two_blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    points = np.vstack([OFFSETS, OFFSETS + np.array([10.0, 0.0])])
    delta_k = np.array([1, 2, 3, 4, 5, np.nan, -1, -2, -3, -4, -5, -6], dtype=float)
    # (U, V, W) in km/s. Left: U = 10, 12, 14 about a mean motion of (12, -20, 5), then three
    # unknown. Right: U = 20 .. 70 with V and W fixed.
    u = np.array([10, 12, 14, np.nan, 0, 0, 20, 30, 40, 50, 60, 70], dtype=float)
    v = np.array([-20, -20, -20, 0, np.nan, 0, 1, 1, 1, 1, 1, 1], dtype=float)
    w = np.array([5, 5, 5, 0, 0, np.nan, 2, 2, 2, 2, 2, 2], dtype=float)
    return points, delta_k, np.column_stack([u, v, w])


def test_sides_of_two_blobs() -> None:
    points, delta_k, velocity = _two_blobs()
    result = fast_rotator_sides(points, delta_k, velocity, seed=0)
    labels = result["labels"]
    assert result["n"] == 12
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6]
    left, right = result["sides"][labels[0]], result["sides"][labels[6]]
    # Left blob: ΔK 1..5 (NaN skipped) -> median = mean = 3. Velocities: U has sample
    # variance 4 about its mean, V and W none -> RMS over the three components sqrt(4 / 3).
    assert (left["n"], left["n_delta_k"], left["n_velocity"]) == (6, 5, 3)
    assert left["delta_k_median"] == 3.0 and left["delta_k_mean"] == 3.0
    assert left["velocity_dispersion"] == pytest.approx(np.sqrt(4.0 / 3.0))
    np.testing.assert_array_equal(left["delta_k"], [1, 2, 3, 4, 5])
    # Right blob: ΔK -1..-6 -> median = mean = -3.5; U 20..70 step 10 has variance 350.
    assert right["delta_k_median"] == -3.5 and right["delta_k_mean"] == -3.5
    assert right["velocity_dispersion"] == pytest.approx(np.sqrt(350.0 / 3.0))


def test_dispersion_is_about_the_mean_motion_not_the_speed() -> None:
    # Stars moving at 30 km/s in opposite directions: every speed is 30 (the old std of the
    # speed was 0), but they scatter by 30 km/s along U about a mean motion of 0.
    uvw = np.array([[30.0, 0, 0], [-30.0, 0, 0]] * 3)
    assert velocity_dispersion(uvw) == pytest.approx(np.sqrt(uvw[:, 0].var(ddof=1) / 3))
    assert velocity_dispersion(uvw) > 10
    # A common motion adds nothing.
    moving = uvw + np.array([100.0, -50.0, 7.0])
    assert velocity_dispersion(moving) == pytest.approx(velocity_dispersion(uvw))
    assert velocity_dispersion(uvw[:1]) is None


def test_svm_boundary_separates_the_blobs() -> None:
    points, delta_k, velocity = _two_blobs()
    result = fast_rotator_sides(points, delta_k, velocity)
    svm = result["svm"]
    assert svm["accuracy"] == 1.0
    w, b = np.array(svm["w"]), svm["b"]
    decision = points @ w + b
    np.testing.assert_array_equal(decision > 0, result["labels"] == 1)
    # On the x axis the line crosses between the blobs.
    assert 0.3 < -b / w[0] < 9.7


def test_velocity_dispersion_needs_two_values() -> None:
    points, delta_k, velocity = _two_blobs()
    velocity[:5, 0] = np.nan
    result = fast_rotator_sides(points, delta_k, velocity)
    assert result["sides"][result["labels"][0]]["velocity_dispersion"] is None


def test_errors() -> None:
    points, delta_k, velocity = _two_blobs()
    with pytest.raises(ValueError, match="at least 4 points"):
        fast_rotator_sides(points[:3], delta_k[:3], velocity[:3])
    bad = points.copy()
    bad[4, 0] = np.nan
    with pytest.raises(ValueError, match=r"rows \[4\]"):
        fast_rotator_sides(bad, delta_k, velocity)
    with pytest.raises(ValueError, match="12 values"):
        fast_rotator_sides(points, delta_k[:-1], velocity)
    with pytest.raises(ValueError, match=r"\(12, 3\)"):
        fast_rotator_sides(points, delta_k, velocity[:, 0])
