"""Every report figure renders to a valid PNG, from three points and from nothing."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from matplotlib.image import imread

from desa.report import figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XY = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 2.0]])
NO_XY = np.empty((0, 2))

CASES: dict[str, tuple[Callable[[], bytes], Callable[[], bytes]]] = {
    "umap continuous": (
        lambda: figures.umap_scatter(XY, values=[1.0, np.nan, 3.0], title="Teff"),
        lambda: figures.umap_scatter(NO_XY, values=[], title="Teff"),
    ),
    "umap classes": (
        lambda: figures.umap_scatter(XY, classes=["MS", "giant", None], title="class"),
        lambda: figures.umap_scatter([], classes=[], title="class"),
    ),
    "neural diagram": (
        lambda: figures.neural_diagram(XY, XY + 0.1, "BP − RP", "M_G", title="CMD"),
        lambda: figures.neural_diagram(NO_XY, NO_XY, "BP − RP", "M_G", title="CMD"),
    ),
    "distance histograms": (
        lambda: figures.distance_histograms(
            {"DESA": ([1, 4, 2], [0.0, 0.5, 1.0, 1.5]), "MoCo": ([3, 1, 0], [0.0, 0.5, 1.0, 1.5])}
        ),
        lambda: figures.distance_histograms({}),
    ),
    "pr curves": (
        lambda: figures.pr_curves({"DESA": ([0.0, 0.5, 1.0], [1.0, 0.8, 0.5])}),
        lambda: figures.pr_curves({"DESA": ([], [])}),
    ),
    "tnr fnr curves": (
        lambda: figures.tnr_fnr_curves({"DESA": ([0.0, 0.2, 1.0], [0.0, 0.9, 1.0])}),
        lambda: figures.tnr_fnr_curves({}),
    ),
    "confusion matrix": (
        lambda: figures.confusion_matrix_plot([[50, 5], [3, 12]]),
        lambda: figures.confusion_matrix_plot([]),
    ),
    "age scatter": (
        lambda: figures.age_scatter(
            [1.0, 4.0, 9.0], [1.5, 3.5, 8.0], [0.5, 2.0, 6.0], [2.5, 5.0, 11]
        ),
        lambda: figures.age_scatter([], [], [], []),
    ),
    "fast rotators": (
        lambda: figures.fast_rotator_panel(
            XY,
            ["binary side", "single side", "single side"],
            ([1.0, -1.0], 0.2),
            {"binary side": -0.45, "single side": None},
        ),
        lambda: figures.fast_rotator_panel(NO_XY, [], None, {}),
    ),
    "W diagnostics": (
        lambda: figures.w_diagnostics_curves(
            [
                {
                    "epoch": e,
                    "w_norm": 5 - 0.1 * e,
                    "w_eig": 1.0,
                    "train_cov": 2 / (e + 1),
                    "val_cov": 3 / (e + 1),
                    "train_dual": 1.0,
                    "val_dual": 0.0,
                }
                for e in range(3)
            ]
        ),
        lambda: figures.w_diagnostics_curves([]),
    ),
}


def _assert_png(png: bytes) -> None:
    assert png.startswith(PNG_SIGNATURE)
    image = imread(io.BytesIO(png), format="png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.parametrize("name", CASES)
def test_figure_from_three_points(name: str) -> None:
    _assert_png(CASES[name][0]())


@pytest.mark.parametrize("name", CASES)
def test_figure_from_empty_input(name: str) -> None:
    _assert_png(CASES[name][1]())


def test_vertical_boundary_and_constant_points() -> None:
    """A boundary with w[1] = 0 and points that all coincide still draw."""
    same = np.ones((3, 2))
    _assert_png(figures.fast_rotator_panel(same, ["a", "a", "b"], ([1.0, 0.0], -1.0), {"a": 0.1}))
    _assert_png(figures.neural_diagram(same, same, "x", "y", invert_y=False))
