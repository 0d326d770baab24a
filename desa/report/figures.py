"""Drawing: each figure of the report is a function from plain arrays to PNG bytes.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas rather than pyplot, so
they need no display, keep no global state and can be drawn from worker threads.
Every function accepts empty inputs and draws an axes saying "no data" instead of failing:
a report with one empty section is more useful than no report.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

# Colour-blind-safe qualitative palette (Okabe & Ito), cycled for classes and models.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
TRUTH_GREY = "#9a9a9a"
DPI = 100


def fig_to_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def _figure(ncols: int = 1, width: float = 5.5, height: float = 4.2) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    for ax in axes:
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, axes


def _legend_outside(fig: Figure, ax: Axes, **kwargs: float) -> None:
    """Legend beside the axes, never over the points; the figure widens to keep the axes size."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9, **kwargs)
    width, height = fig.get_size_inches()
    fig.set_size_inches(width + 2.2, height)


def _no_data(ax: Axes) -> None:
    ax.text(
        0.5,
        0.5,
        "no data",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=13,
        color="#888888",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _points(xy: ArrayLike) -> np.ndarray:
    """``xy`` as an (n, 2) float array; an empty input gives shape (0, 2)."""
    arr = np.asarray(xy, dtype=float)
    return arr.reshape(-1, 2)


def _class_names(classes: Sequence[object]) -> np.ndarray:
    return np.array(["unknown" if c is None else str(c) for c in classes], dtype=object)


def umap_scatter(
    xy: ArrayLike,
    values: ArrayLike | None = None,
    classes: Sequence[object] | None = None,
    title: str = "UMAP",
    value_label: str = "",
) -> bytes:
    """UMAP projection coloured by a continuous ``values`` (colour bar) or by ``classes`` (legend).

    Points with a NaN value are drawn in light grey underneath, so missing labels stay visible.
    """
    points = _points(xy)
    fig, (ax,) = _figure(width=6.0, height=5.0)
    ax.set_title(title)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    if len(points) == 0:
        _no_data(ax)
        return fig_to_png(fig)
    size = float(np.clip(4000 / len(points), 3, 40))
    if values is not None:
        vals = np.asarray(values, dtype=float).reshape(-1)
        known = np.isfinite(vals)
        ax.scatter(*points[~known].T, s=size, color="#d9d9d9", linewidths=0, label="no value")
        if known.any():
            sc = ax.scatter(*points[known].T, c=vals[known], s=size, cmap="viridis", linewidths=0)
            fig.colorbar(sc, ax=ax, label=value_label, shrink=0.85)
    elif classes is not None:
        names = _class_names(classes)
        for i, name in enumerate(sorted(set(names))):
            chosen = names == name
            color = "#d9d9d9" if name == "unknown" else PALETTE[i % len(PALETTE)]
            ax.scatter(*points[chosen].T, s=size, color=color, linewidths=0, label=name)
        _legend_outside(fig, ax, markerscale=max(1.0, 30 / size) ** 0.5)
    else:
        ax.scatter(*points.T, s=size, color=PALETTE[0], linewidths=0)
    return fig_to_png(fig)


def neural_diagram(
    truth: ArrayLike,
    pred: ArrayLike,
    xlabel: str,
    ylabel: str,
    invert_y: bool = True,
    title: str = "Neural diagram",
) -> bytes:
    """Few-shot predictions of a two-axis diagram (CMD or HR) beside the true one.

    ``truth`` and ``pred`` are (n, 2) arrays of (x, y) for the same stars. Both panels share
    limits so the reader compares shapes, not autoscaling.
    """
    true_xy, pred_xy = _points(truth), _points(pred)
    fig, (left, right) = _figure(ncols=2, width=4.6, height=4.4)
    fig.suptitle(title)
    left.set_title("Truth", fontsize=10)
    right.set_title("Prediction (truth in grey)", fontsize=10)
    if len(true_xy) == 0 and len(pred_xy) == 0:
        for ax in (left, right):
            _no_data(ax)
        return fig_to_png(fig)
    size = float(np.clip(3000 / max(len(true_xy), len(pred_xy)), 3, 30))
    left.scatter(*true_xy.T, s=size, color="#333333", linewidths=0)
    right.scatter(*true_xy.T, s=size, color=TRUTH_GREY, alpha=0.5, linewidths=0)
    right.scatter(*pred_xy.T, s=size, color=PALETTE[0], linewidths=0)
    both = np.vstack([true_xy, pred_xy])
    both = both[np.isfinite(both).all(axis=1)]
    if len(both):
        lo, hi = both.min(axis=0), both.max(axis=0)
        pad = np.where(hi > lo, (hi - lo) * 0.05, 0.5)
        ylim = (lo[1] - pad[1], hi[1] + pad[1])
        for ax in (left, right):
            ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            ax.set_ylim(ylim[::-1] if invert_y else ylim)
    for ax in (left, right):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    return fig_to_png(fig)


def distance_histograms(
    hists: Mapping[str, tuple[ArrayLike, ArrayLike]],
    title: str = "Distances",
    xlabel: str = "distance",
) -> bytes:
    """One step line per model from precomputed ``(counts, edges)`` histograms."""
    fig, (ax,) = _figure()
    ax.set_title(title)
    drawn = False
    for i, (name, (counts, edges)) in enumerate(hists.items()):
        counts, edges = np.asarray(counts, dtype=float), np.asarray(edges, dtype=float)
        if len(counts) == 0 or len(edges) != len(counts) + 1:
            continue
        ax.stairs(counts, edges, label=name, color=PALETTE[i % len(PALETTE)], linewidth=1.6)
        drawn = True
    if not drawn:
        _no_data(ax)
        return fig_to_png(fig)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.legend(frameon=False, fontsize=9)
    return fig_to_png(fig)


def _curves(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    title: str,
    xlabel: str,
    ylabel: str,
) -> bytes:
    fig, (ax,) = _figure(width=5.0, height=4.6)
    ax.set_title(title)
    drawn = False
    for i, (name, (x, y)) in enumerate(curves.items()):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) == 0:
            continue
        ax.plot(x, y, label=name, color=PALETTE[i % len(PALETTE)], linewidth=1.6)
        drawn = True
    if not drawn:
        _no_data(ax)
        return fig_to_png(fig)
    # Rates live in [0, 1]; fixed limits make curves of different reports comparable.
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=9, loc="best")
    return fig_to_png(fig)


def pr_curves(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    title: str = "Precision–recall",
) -> bytes:
    """Precision against recall, one line per model: ``{model: (recall, precision)}``."""
    return _curves(curves, title, "recall", "precision")


def tnr_fnr_curves(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    title: str = "True-negative rate against false-negative rate",
) -> bytes:
    """TNR against FNR, one line per model: ``{model: (fnr, tnr)}``."""
    return _curves(curves, title, "false-negative rate", "true-negative rate")


def confusion_matrix_plot(
    matrix: ArrayLike,
    labels: Sequence[str] = ("single", "binary"),
    title: str = "Confusion matrix",
) -> bytes:
    """A binary confusion matrix ``[[tn, fp], [fn, tp]]``: counts and row fractions per cell."""
    fig, (ax,) = _figure(width=4.4, height=4.0)
    ax.set_title(title)
    ax.grid(False)
    counts = np.asarray(matrix, dtype=float)
    if counts.size == 0 or counts.sum() == 0:
        _no_data(ax)
        return fig_to_png(fig)
    counts = counts.reshape(len(labels), len(labels))
    rows = counts.sum(axis=1, keepdims=True)
    # Row fractions colour the cells so a small class is as readable as a large one.
    fractions = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        color = "white" if fractions[i, j] > 0.6 else "#222222"
        text = f"{int(count)}\n{fractions[i, j]:.0%}"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=11)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig_to_png(fig)


def age_scatter(
    truth: ArrayLike,
    median: ArrayLike,
    lo: ArrayLike,
    hi: ArrayLike,
    title: str = "Age",
    unit: str = "Gyr",
) -> bytes:
    """Predicted median age against truth, error bars from the calibrated ``[lo, hi]`` interval."""
    true_age = np.asarray(truth, dtype=float).reshape(-1)
    mid = np.asarray(median, dtype=float).reshape(-1)
    low = np.asarray(lo, dtype=float).reshape(-1)
    high = np.asarray(hi, dtype=float).reshape(-1)
    fig, (ax,) = _figure(width=5.0, height=4.8)
    ax.set_title(title)
    if len(true_age) == 0:
        _no_data(ax)
        return fig_to_png(fig)
    # A calibrated interval may not contain its own median after clipping; bars stay >= 0.
    yerr = np.vstack([np.clip(mid - low, 0, None), np.clip(high - mid, 0, None)])
    ax.errorbar(
        true_age,
        mid,
        yerr=yerr,
        fmt="o",
        markersize=3.5,
        color=PALETTE[0],
        ecolor="#9ec3e0",
        elinewidth=0.8,
        capsize=0,
    )
    span = np.concatenate([true_age, low, high])
    span = span[np.isfinite(span)]
    if len(span):
        a, b = float(span.min()), float(span.max())
        ax.plot([a, b], [a, b], color="#555555", linestyle="--", linewidth=1, label="1:1")
        ax.legend(frameon=False, fontsize=9, loc="upper left")
    ax.set_xlabel(f"true age [{unit}]")
    ax.set_ylabel(f"predicted age [{unit}]")
    return fig_to_png(fig)


def fast_rotator_panel(
    xy: ArrayLike,
    side_labels: Sequence[object],
    boundary: tuple[ArrayLike, float] | None,
    delta_k_by_side: Mapping[object, float | None],
    title: str = "Fast rotators",
) -> bytes:
    """Fast rotators in the embedding, split by a linear boundary ``w · x + b = 0``.

    Each side's legend entry carries its star count and ΔK (K-band excess over the isochrone),
    the quantity that tells near-synchronised binaries from single stars.
    """
    points = _points(xy)
    sides = np.array(list(side_labels), dtype=object)
    fig, (ax,) = _figure(width=6.0, height=5.0)
    ax.set_title(title)
    if len(points) == 0:
        _no_data(ax)
        return fig_to_png(fig)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    for i, side in enumerate(dict.fromkeys(sides.tolist())):
        chosen = sides == side
        delta_k = delta_k_by_side.get(side)
        shown = (
            "–"
            if delta_k is None or not np.isfinite(delta_k)
            else f"{delta_k:+.2f} mag".replace("-", "−")
        )
        label = f"{side} (n={int(chosen.sum())}, ΔK {shown})"
        ax.scatter(*points[chosen].T, s=18, color=PALETTE[i % len(PALETTE)], label=label)
    if boundary is not None:
        _draw_boundary(ax, np.asarray(boundary[0], dtype=float), float(boundary[1]), points)
    _legend_outside(fig, ax)
    return fig_to_png(fig)


def _draw_boundary(ax: Axes, w: np.ndarray, b: float, points: np.ndarray) -> None:
    """Draw the line ``w · x + b = 0`` across the points' extent (vertical when w[1] is 0)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * 0.1, 1.0)
    lo, hi = lo - pad, hi + pad
    style = {"color": "#333333", "linestyle": "--", "linewidth": 1.2, "label": "boundary"}
    if abs(w[1]) > 1e-12:
        x = np.array([lo[0], hi[0]])
        ax.plot(x, -(w[0] * x + b) / w[1], **style)
    elif abs(w[0]) > 1e-12:
        ax.plot([-b / w[0]] * 2, [lo[1], hi[1]], **style)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])


def w_diagnostics_curves(
    rows: Sequence[Mapping[str, float]], title: str = "DualFormer: W and the loss terms"
) -> bytes:
    """Per-epoch curves of a DualFormer run: ‖W‖ and W's leading |λ| (left), and the
    covariance and dual-projection terms, train and validation (right, log scale).
    ``rows``: the training history, one mapping per epoch with ``epoch`` and any of
    ``w_norm``, ``w_eig``, ``{train,val}_{cov,dual}``; missing columns are skipped."""
    fig, (left, right) = _figure(ncols=2, width=4.8, height=3.8)
    fig.suptitle(title)
    panels = (
        (left, {"‖W‖ (Frobenius)": "w_norm", "leading |λ| of W": "w_eig"}, "linear"),
        (
            right,
            {
                "covariance, train": "train_cov",
                "covariance, val": "val_cov",
                "dual, train": "train_dual",
                "dual, val": "val_dual",
            },
            "log",
        ),
    )
    for ax, series, scale in panels:
        drawn = False
        terms = list(dict.fromkeys(key.rpartition("_")[2] for key in series.values()))
        for label, key in series.items():
            points = [(r["epoch"], r[key]) for r in rows if key in r and np.isfinite(r[key])]
            if not points:
                continue
            x, y = np.asarray(points, dtype=float).T
            colour = PALETTE[terms.index(key.rpartition("_")[2])]  # one colour per term
            style = "--" if key.startswith("val_") else "-"  # validation dashed
            ax.plot(x, y, style, label=label, color=colour, linewidth=1.6)
            drawn = True
        if not drawn:
            _no_data(ax)
            continue
        if scale == "log" and all(v > 0 for line in ax.get_lines() for v in line.get_ydata()):
            ax.set_yscale("log")
        if scale == "linear":
            ax.set_ylim(bottom=0)  # collapse would show as curves falling to 0
        ax.set_xlabel("epoch")
        ax.legend(frameon=False, fontsize=8, loc="best")
    return fig_to_png(fig)
