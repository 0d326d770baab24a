"""The comparison of DESA and every baseline (paper sec. 6; desa_reference.md sec. 11).

`evaluate` turns the embeddings, the UMAP maps, the label tables and the fine-tuned heads'
predictions into one metrics dict per model (the content of ``report/metrics.json``) and the
arrays the report draws. Every metric is computed the same way for every model, on the same
stars; a metric that cannot be computed (too few stars, one class) is None with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from desa.evaluate import (
    binary_metrics,
    distance_summary,
    fast_rotator_sides,
    few_shot,
    pair_distances,
    regression_metrics,
    zero_shot,
)

CMD_TARGETS = ("bp_rp0", "m_g0")  # dereddened Gaia colour and absolute G (Godoy-Rivera 2025)
HR_TARGETS = ("teff", "lum")  # Berger 2020 Teff (K) and luminosity (Lsun)
HEADLINE = (
    "few_shot_cmd_r2",
    "few_shot_hr_r2",
    "zero_shot_ari",
    "zero_shot_matched_accuracy",
    "pair_umap_distance_median",
    "binary_auc",
    "binary_ap",
    "age_rmse_gyr",
    "age_mae_gyr",
)
HIGHER_IS_BETTER = {
    "few_shot_cmd_r2": True,
    "few_shot_hr_r2": True,
    "zero_shot_ari": True,
    "zero_shot_matched_accuracy": True,
    "pair_umap_distance_median": False,
    "binary_auc": True,
    "binary_ap": True,
    "age_rmse_gyr": False,
    "age_mae_gyr": False,
}


@dataclass
class Inputs:
    stars: pd.DataFrame  # kic, star_id, split, n_spectra
    star_values: dict[str, np.ndarray]  # model -> (n_stars, d)
    pairs: pd.DataFrame  # obsid, kic, star_id, split
    pair_values: dict[str, np.ndarray]
    maps: pd.DataFrame  # model, level, kic, obsid, split, x, y
    labels: dict[str, pd.DataFrame]  # cmd, hr, fast_rotators, kinematics
    predictions: pd.DataFrame  # finetune/predictions.parquet
    encoders: dict[str, dict]  # train-spectra / train-lightcurves summaries
    models: tuple[str, ...]  # the compared models (embeddings.zarr attribute `models`)
    binary_only: tuple[str, ...]  # scored on the binary task alone (RUWE left out)


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> arrays to draw


def _guarded(fn, *args, **kwargs) -> tuple[dict | None, str | None]:
    try:
        return fn(*args, **kwargs), None
    except ValueError as exc:
        return None, str(exc)


def _star_map(inputs: Inputs, model: str) -> pd.DataFrame:
    maps = inputs.maps
    return maps[(maps["model"] == model) & (maps["level"] == "star")].set_index("kic")


def _few_shot(inputs: Inputs, model: str, table: str, targets, fraction, seed) -> tuple:
    test = inputs.stars["split"].to_numpy() == "test"
    labels = inputs.labels[table].set_index("kic")
    y = labels.reindex(inputs.stars["kic"])[list(targets)].to_numpy("f8")
    x = inputs.star_values[model]
    return _guarded(
        few_shot, x[test], y[test], fraction=fraction, seed=seed, target_names=list(targets)
    )


def _consistency(inputs: Inputs, model: str) -> dict[str, Any]:
    pairs = inputs.pairs
    test = (pairs["split"] == "test").to_numpy()
    repeat = pairs["kic"].map(pairs["kic"].value_counts()).to_numpy() >= 2
    keep = test & repeat
    maps = inputs.maps
    pair_map = maps[(maps["model"] == model) & (maps["level"] == "pair")]
    xy = pairs[keep].merge(pair_map, on=["kic", "obsid"], how="left")[["x", "y"]].to_numpy()
    ids = pairs.loc[keep, "kic"].to_numpy()
    umap_d = pair_distances(xy, ids)
    embed_d = pair_distances(inputs.pair_values[model][keep], ids)
    return {"umap": distance_summary(umap_d), "embedding": distance_summary(embed_d)}


def _heads(inputs: Inputs, model: str) -> dict[str, Any]:
    p = inputs.predictions
    test = p[(p["model"] == model) & (p["split"] == "test")]
    binary, binary_note = _guarded(binary_metrics, test["binary"], test["binary_prob"])
    ages = test[np.isfinite(test["age_gyr"])]
    age, age_note = _guarded(
        regression_metrics, ages["age_gyr"], ages["age_median"], ages["age_lo"], ages["age_hi"]
    )
    return {
        "binary": binary,
        "binary_note": binary_note,
        "age": age,
        "age_note": age_note,
        "age_points": ages,
    }


def _fast_rotators(inputs: Inputs, model: str, seed: int) -> tuple[dict | None, str | None]:
    fast = inputs.labels["fast_rotators"].set_index("kic")
    kin = inputs.labels["kinematics"].set_index("kic")
    star_map = _star_map(inputs, model)
    kics = fast.index.intersection(star_map.index)
    points = star_map.loc[kics, ["x", "y"]].to_numpy()
    velocity = kin.reindex(kics)["v_pec"].to_numpy("f8")
    result, note = _guarded(
        fast_rotator_sides,
        points,
        fast.loc[kics, "delta_k_iso"].to_numpy("f8"),
        velocity,
        seed=seed,
    )
    if result is not None:
        result["points"] = points
    return result, note


def evaluate(inputs: Inputs, *, few_shot_fraction: float, seed: int) -> Evaluation:
    """One metrics dict per model of ``inputs.models``, the binary scores of the binary-only
    models (``binary_without_ruwe``), the sizes of every set, the encoder scores."""
    cmd = inputs.labels["cmd"].dropna(subset=["cmd_class"]).set_index("kic")
    metrics: dict[str, Any] = {}
    details: dict[str, dict[str, Any]] = {}
    sizes: dict[str, Any] = {}
    for model in inputs.models:
        star_map = _star_map(inputs, model)
        classed = star_map.index.intersection(cmd.index)
        zero, zero_note = _guarded(
            zero_shot,
            star_map.loc[classed, ["x", "y"]].to_numpy(),
            cmd.loc[classed, "cmd_class"].to_numpy(),
            seed=seed,
        )
        cmd_fit, cmd_note = _few_shot(inputs, model, "cmd", CMD_TARGETS, few_shot_fraction, seed)
        hr_fit, hr_note = _few_shot(inputs, model, "hr", HR_TARGETS, few_shot_fraction, seed)
        consistency = _consistency(inputs, model)
        heads = _heads(inputs, model)
        fast, fast_note = _fast_rotators(inputs, model, seed)
        binary, age = heads["binary"], heads["age"]
        metrics[model] = {
            "few_shot_cmd_r2": cmd_fit["r2_mean"] if cmd_fit else None,
            "few_shot_cmd": _plain_fit(cmd_fit),
            "few_shot_hr_r2": hr_fit["r2_mean"] if hr_fit else None,
            "few_shot_hr": _plain_fit(hr_fit),
            "zero_shot_ari": zero["ari"] if zero else None,
            "zero_shot_matched_accuracy": zero["matched_accuracy"] if zero else None,
            "zero_shot_purity": zero["purity"] if zero else None,
            "pair_umap_distance_median": consistency["umap"]["median"],
            "pair_umap_distance_mean": consistency["umap"]["mean"],
            "pair_embedding_distance_median": consistency["embedding"]["median"],
            "binary_auc": binary["auc"] if binary else None,
            "binary_ap": binary["ap"] if binary else None,
            "binary_confusion_matrix": binary["confusion_matrix"] if binary else None,
            "binary_precision": binary["precision"] if binary else None,
            "age_mae_gyr": age["mae"] if age else None,
            "age_rmse_gyr": age["rmse"] if age else None,
            "age_coverage": age["coverage"] if age else None,
            "fast_rotators": _plain_fast(fast),
            "notes": {
                k: v
                for k, v in {
                    "zero_shot": zero_note,
                    "few_shot_cmd": cmd_note,
                    "few_shot_hr": hr_note,
                    "binary": heads["binary_note"] or (binary or {}).get("note"),
                    "age": heads["age_note"],
                    "fast_rotators": fast_note,
                }.items()
                if v
            },
        }
        details[model] = {
            "zero_shot": zero,
            "few_shot_cmd": cmd_fit,
            "few_shot_hr": hr_fit,
            "consistency": consistency,
            "binary": binary,
            "age_points": heads["age_points"],
            "fast_rotators": fast,
        }
        sizes[model] = {
            "zero_shot_stars": zero["n"] if zero else 0,
            "few_shot_cmd_fit": cmd_fit["n_fit"] if cmd_fit else 0,
            "few_shot_cmd_scored": cmd_fit["n_score"] if cmd_fit else 0,
            "few_shot_hr_fit": hr_fit["n_fit"] if hr_fit else 0,
            "few_shot_hr_scored": hr_fit["n_score"] if hr_fit else 0,
            "consistency_pairs": consistency["umap"]["n_pairs"],
            "binary_test_stars": binary["n"] if binary else 0,
            "age_test_stars": age["n"] if age else 0,
            "fast_rotators": fast["n"] if fast else 0,
        }
    split_counts = inputs.stars["split"].value_counts().to_dict()
    metrics["sizes"] = {
        "stars": len(inputs.stars),
        "pairs": len(inputs.pairs),
        **{f"{s}_stars": int(split_counts.get(s, 0)) for s in ("train", "val", "test")},
        "per_model": sizes,
    }
    metrics["encoders"] = inputs.encoders
    metrics["models"] = list(inputs.models)
    metrics["binary_without_ruwe"] = {m: _binary_only(inputs, m) for m in inputs.binary_only}
    return Evaluation(metrics, details)


def _binary_only(inputs: Inputs, model: str) -> dict[str, Any]:
    heads = _heads(inputs, model)
    binary = heads["binary"]
    note = heads["binary_note"] or (binary or {}).get("note")
    return {
        "binary_auc": binary["auc"] if binary else None,
        "binary_ap": binary["ap"] if binary else None,
        "binary_test_stars": binary["n"] if binary else 0,
        "notes": {"binary": note} if note else {},
    }


def _plain_fit(fit: dict | None) -> dict | None:
    if fit is None:
        return None
    keys = ("r2", "within_10pct", "within_20pct", "n_fit", "n_score", "n_dropped")
    return {k: fit[k] for k in keys}


def _plain_fast(fast: dict | None) -> dict | None:
    if fast is None:
        return None
    sides = [{k: v for k, v in side.items() if k != "delta_k"} for side in fast["sides"]]
    return {"n": fast["n"], "svm": fast["svm"], "sides": sides}


def comparison_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline table: one row per model, the `HEADLINE` metrics as columns."""
    rows = [{"model": m, **{k: metrics[m][k] for k in HEADLINE}} for m in metrics["models"]]
    return rows
