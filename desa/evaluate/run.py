"""The evaluate stage: every compared model scored on the data root's stars, written as
``report/metrics.json``, ``report/comparison.csv`` and the report's figures with their index
``report/figures.json`` (`storage.layout` names them)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from desa.evaluate.apogee import apogee_metrics
from desa.evaluate.comparison import Inputs, comparison_rows, evaluate
from desa.products.embeddings import read_embeddings
from desa.products.umap_maps import check_maps
from desa.report.sections import report_figures
from desa.training.config import TrainingConfig
from storage import layout
from storage.fingerprint import fingerprint_json
from storage.layout import DataRoot
from storage.publish import atomic_write_bytes
from storage.state import StageResult, read_state
from storage.tables import read_parquet

LABEL_TABLES = ("cmd", "hr", "fast_rotators", "kinematics")
ENCODERS = (layout.SPECTRA_MODEL, layout.LIGHTCURVE_MODEL)  # their runs' summaries are scored


def evaluation_inputs(root: DataRoot) -> Inputs:
    """What the comparison reads from the root: embeddings, maps, labels, predictions."""
    url = root.url_of(layout.EMBEDDINGS)
    stars, star_values, attrs = read_embeddings(url, "stars")
    pairs, pair_values, _ = read_embeddings(url, "pairs")
    labels = {name: read_parquet(root.fs, root.of(layout.labels(name))) for name in LABEL_TABLES}
    encoders = {
        encoder.stage: read_state(root.fs, root.state_path(encoder.stage)).summary
        for encoder in ENCODERS
    }
    maps = read_parquet(root.fs, root.of(layout.MAPS))
    check_maps(maps, stars, pairs, root.of(layout.MAPS))
    return Inputs(
        stars,
        star_values,
        pairs,
        pair_values,
        maps,
        labels,
        read_parquet(root.fs, root.of(layout.PREDICTIONS)),
        encoders,
        tuple(attrs["models"]),
        tuple(attrs["binary_only"]),
    )


def dualformer_history(root: DataRoot) -> list[dict[str, float]]:
    """The published DualFormer's per-epoch training history (‖W‖, |λ|, loss terms)."""
    from desa.training.checkpoints import read_checkpoint
    from desa.training.fit import checkpoint_history

    return checkpoint_history(read_checkpoint(root.fs, root.of(layout.dualformer("desa"))))


def _json(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_evaluation(
    root: DataRoot,
    *,
    few_shot_fraction: float,
    seed: int,
    radius_arcsec: float,
    profile: str,
    training: TrainingConfig,
) -> StageResult:
    """Score every model (`evaluate`) and the spectra encoder against APOGEE
    (`apogee_metrics`, matched within ``radius_arcsec``), draw the figures, write them all."""
    inputs = evaluation_inputs(root)
    result = evaluate(inputs, few_shot_fraction=few_shot_fraction, seed=seed)
    result.metrics["apogee"] = apogee_metrics(root, radius_arcsec, profile, training)
    text = json.dumps(result.metrics, indent=2, sort_keys=True, default=_json, allow_nan=False)
    metrics_path = root.of(layout.METRICS)
    atomic_write_bytes(root.fs, metrics_path, text.encode())
    table = pd.DataFrame(comparison_rows(result.metrics))
    table_path = root.path(layout.COMPARISON_TABLE)
    atomic_write_bytes(root.fs, table_path, table.to_csv(index=False).encode())
    index = []
    for section, figures in report_figures(inputs, result, dualformer_history(root)):
        for stem, _, png in figures:
            atomic_write_bytes(root.fs, root.path(layout.figure(stem)), png)
        index.append({"section": section, "figures": [[s, c] for s, c, _ in figures]})
    figures_path = root.path(layout.FIGURE_INDEX)
    atomic_write_bytes(root.fs, figures_path, json.dumps(index, indent=1).encode())
    rows = json.loads(table.to_json(orient="records"))  # plain types, NaN as null
    summary = {row["model"]: {k: v for k, v in row.items() if k != "model"} for row in rows}
    return StageResult(
        {"metrics": fingerprint_json(json.loads(text))},
        {"metrics": metrics_path, "comparison": table_path, "figures": figures_path},
        summary,
        rows,
    )
