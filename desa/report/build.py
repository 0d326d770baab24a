"""The report stage: ``report/index.html`` from what evaluate wrote (metrics, figures) and
``report/explorer.html`` from the DESA map (`storage.layout` names them)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from desa.evaluate.comparison import comparison_rows
from desa.report.explorer import explorer_points
from desa.report.html import apogee_section, render_explorer, render_report, with_section
from desa.report.reading import comparison_limits, limits_section
from desa.report.table import comparison_cells, directions, paired_cells
from storage import layout
from storage.fingerprint import fingerprint_json
from storage.layout import DataRoot
from storage.publish import atomic_write_bytes
from storage.state import StageResult


def write_report(root: DataRoot, priors: Sequence[str], neighbors: int) -> StageResult:
    """Both pages: the report reads ``priors`` (the models' priors) for its reading guide,
    the explorer lists each star's ``neighbors`` nearest stars."""
    with root.fs.open(root.of(layout.METRICS)) as handle:
        metrics = json.load(handle)
    with root.fs.open(root.path(layout.FIGURE_INDEX)) as handle:
        index = json.load(handle)
    sections = []
    for entry in index:
        figures = []
        for stem, caption in entry["figures"]:
            with root.fs.open(root.path(layout.figure(stem)), "rb") as handle:
                figures.append((caption, handle.read()))
        sections.append((entry["section"], figures))
    sizes = metrics["sizes"]
    notes = [
        f"{sizes['stars']} stars ({sizes['train_stars']} train, {sizes['val_stars']} val, "
        f"{sizes['test_stars']} test) with {sizes['pairs']} LAMOST–Kepler pairs.",
        "Intervals: {level:.0%} percentile bootstrap, {resamples} resamples (seed {seed}) of the "
        "{unit}; held fixed: {held_fixed}.".format(**metrics["bootstrap"]),
        *(
            f"{model}: {what}: {why}"
            for model in metrics["models"]
            for what, why in metrics[model]["notes"].items()
        ),
    ]
    page = render_report(
        "DESA: comparison with the baselines",
        comparison_cells(metrics),
        sections,
        notes,
        directions(metrics),
        paired=paired_cells(metrics),
        reference=metrics["bootstrap"]["reference"],
    )
    page = with_section(page, apogee_section(metrics.get("apogee")))
    page = with_section(page, limits_section(comparison_limits(priors, metrics["models"])))
    paths = {"report": root.of(layout.REPORT), "explorer": root.of(layout.EXPLORER)}
    atomic_write_bytes(root.fs, paths["report"], page.encode())
    points, nearest = explorer_points(root, neighbors)
    explorer = render_explorer(points, nearest)
    atomic_write_bytes(root.fs, paths["explorer"], explorer.encode())
    outputs = {
        name: fingerprint_json(text) for name, text in (("report", page), ("explorer", explorer))
    }
    summary = {
        "report": paths["report"],
        "explorer": paths["explorer"],
        "figures": sum(len(f) for _, f in sections),
    }
    return StageResult(outputs, paths, summary, comparison_rows(metrics))
