"""Rows of the comparison table from ``report/metrics.json``: values with intervals, and DESA's
paired differences, for the HTML report and as the README's markdown.

Works on the metrics dict alone (``models``, ``headline``, ``higher_is_better``, ``bootstrap``
and one dict per model, as desa.evaluate.comparison writes it), so the table printed by
``desa report table`` is the one the pipeline produced, not typed by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MISSING = "–"

LABELS = {
    "few_shot_cmd_r2": "few-shot CMD R²",
    "few_shot_hr_r2": "few-shot HR R²",
    "zero_shot_ari": "zero-shot ARI",
    "zero_shot_matched_accuracy": "zero-shot matched acc.",
    "pair_umap_distance_median": "pair dist. UMAP (÷ random)",
    "pair_embedding_distance_median": "pair dist. embedding (÷ random)",
    "binary_auc": "binary AUC",
    "binary_ap": "binary AP",
    "age_rmse_gyr": "age RMSE (Gyr)",
    "age_mae_gyr": "age MAE (Gyr)",
}
WIDTH = "width"
FIT_STARS = "few-shot fit stars (CMD / HR)"


def label(metric: str) -> str:
    return LABELS.get(metric, metric)


def _check(metrics: Mapping[str, Any]) -> None:
    missing = [k for k in ("models", "headline", "higher_is_better") if k not in metrics]
    if missing:
        raise ValueError(
            f"metrics has no {missing}: written by an older evaluate stage? rerun `desa run "
            "evaluate`"
        )


def directions(metrics: Mapping[str, Any]) -> dict[str, bool]:
    """Column label -> True where higher is better."""
    _check(metrics)
    return {label(m): bool(metrics["higher_is_better"][m]) for m in metrics["headline"]}


def _count(value: object) -> str:
    return MISSING if value is None else str(value)


def comparison_cells(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per model: the embedding width, the few-shot fit sizes, and per headline metric
    ``{"value", "ci"}`` (None where the model lacks it)."""
    _check(metrics)
    rows = []
    for model in metrics["models"]:
        m = metrics[model]
        row: dict[str, Any] = {
            "model": model,
            WIDTH: _count(m.get("embedding_width")),
            FIT_STARS: f"{_count(m.get('few_shot_cmd_n_fit'))} / "
            f"{_count(m.get('few_shot_hr_n_fit'))}",
        }
        for metric in metrics["headline"]:
            row[label(metric)] = {"value": m.get(metric), "ci": m.get(f"{metric}_ci")}
        rows.append(row)
    return rows


def reference(metrics: Mapping[str, Any]) -> str:
    """The model the paired differences start from (DESA)."""
    return metrics.get("bootstrap", {}).get("reference", "desa")


def paired_cells(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per model other than the reference: per headline metric ``{"diff", "diff_ci",
    "verdict"}`` of the reference minus that model (None where either lacks the metric)."""
    _check(metrics)
    rows = []
    for model in metrics["models"]:
        paired = metrics[model].get("vs_desa")
        if paired is None:
            continue
        name = (
            model
            if paired["reference"] == reference(metrics)
            else (f"{model} (vs {paired['reference']})")
        )
        row: dict[str, Any] = {"model": name}
        for metric in metrics["headline"]:
            row[label(metric)] = paired["metrics"].get(metric)
        rows.append(row)
    return rows


def format_number(value: object) -> str:
    """Three decimals; fewer for large magnitudes; "–" for a missing value."""
    if value is None or not isinstance(value, int | float) or value != value:
        return MISSING
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 3
    return f"{value:.{digits}f}"


def format_interval(ci: Sequence[float] | None) -> str:
    return "" if not ci else f"[{format_number(ci[0])}, {format_number(ci[1])}]"


def format_value(cell: Mapping[str, Any] | None) -> str:
    """'0.870 [0.801, 0.921]', or '–'."""
    if not cell or cell.get("value") is None:
        return MISSING
    return f"{format_number(cell['value'])} {format_interval(cell.get('ci'))}".strip()


def format_difference(cell: Mapping[str, Any] | None) -> str:
    """'+0.050 [0.010, 0.090] ahead', or '–'."""
    if not cell or cell.get("diff") is None:
        return MISSING
    diff = cell["diff"]
    sign = "+" if diff > 0 else ""
    interval = format_interval(cell.get("diff_ci"))
    return f"{sign}{format_number(diff)} {interval} {cell.get('verdict', '')}".replace("  ", " ")


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def markdown_table(metrics: Mapping[str, Any]) -> str:
    """The README's comparison: values with intervals per model, then the reference minus
    each model with its paired interval and the verdict, then how the intervals were made."""
    cells = comparison_cells(metrics)
    columns = [WIDTH, FIT_STARS, *(label(m) for m in metrics["headline"])]
    values = [
        [
            row["model"],
            *(row[c] if isinstance(row[c], str) else format_value(row[c]) for c in columns),
        ]
        for row in cells
    ]
    arrows = directions(metrics)
    header = ["model", *(c + {True: " ↑", False: " ↓"}.get(arrows.get(c), "") for c in columns)]
    lines = _markdown(header, values)
    boot = metrics.get("bootstrap", {})
    paired = paired_cells(metrics)
    if paired:
        metric_labels = [label(m) for m in metrics["headline"]]
        title = f"{reference(metrics)} minus each model (paired bootstrap on the same stars):"
        lines += ["", title, ""]
        rows = [
            [row["model"], *(format_difference(row[c]) for c in metric_labels)] for row in paired
        ]
        lines += _markdown(["model", *metric_labels], rows)
    if boot:
        lines += [
            "",
            f"Intervals: {round(100 * boot['level'])}% percentile bootstrap, {boot['resamples']} "
            f"resamples (seed {boot['seed']}) of the {boot['unit']}; held fixed: "
            f'{boot["held_fixed"]}. "ahead"/"behind" only where the paired interval excludes '
            'zero; otherwise "not resolved".',
        ]
    return "\n".join(lines) + "\n"
