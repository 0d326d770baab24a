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
    Scored,
    adjusted_rand,
    auc_score,
    average_precision,
    binary_metrics,
    bootstrap_interval,
    distance_summary,
    fast_rotator_sides,
    few_shot,
    in_cmd_sample,
    matched_accuracy,
    pair_distances,
    pair_star_ids,
    paired_difference,
    paired_verdict,
    r2_per_target,
    random_pair_median,
    regression_metrics,
    scored,
    within_absolute_error,
    within_relative_error,
    zero_shot,
)

CMD_TARGETS = ("bp_rp0", "m_g0")  # dereddened Gaia colour and absolute G (Godoy-Rivera 2025)
# Berger 2020 Teff (K) and log10 of the luminosity (Lsun): L spans decades, so a linear map
# is asked for log L (the paper's HR diagram is in log L too).
HR_TARGETS = ("teff", "log_lum")


@dataclass(frozen=True)
class Tolerance:
    """'Within' scores of a few-shot target: |err| ≤ each limit, absolute or relative."""

    relative: bool
    limits: tuple[float, ...]
    unit: str = ""

    def labels(self) -> list[str]:
        if self.relative:
            return [f"within_{round(100 * limit)}pct" for limit in self.limits]
        return [f"within_{limit:g}{self.unit}" for limit in self.limits]


# Relative errors only for Teff, far from zero; magnitudes, colours and log L cross zero, so a
# relative error there is meaningless and absolute bins are used (0.1 and 0.2 mag or dex).
TOLERANCES = {
    "bp_rp0": Tolerance(False, (0.1, 0.2), "mag"),
    "m_g0": Tolerance(False, (0.1, 0.2), "mag"),
    "teff": Tolerance(True, (0.1, 0.2)),
    "log_lum": Tolerance(False, (0.1, 0.2), "dex"),
}
HEADLINE = (
    "few_shot_cmd_r2",
    "few_shot_hr_r2",
    "zero_shot_ari",
    "zero_shot_matched_accuracy",
    "pair_umap_distance_median",
    "pair_embedding_distance_median",
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
    "pair_embedding_distance_median": False,
    "binary_auc": True,
    "binary_ap": True,
    "age_rmse_gyr": False,
    "age_mae_gyr": False,
}
REFERENCE = "desa"  # the paired differences are this model minus each other one
# Bootstrap over test stars (desa.evaluate.bootstrap): resamples, level, and what is resampled.
BOOTSTRAP = {
    "resamples": 1000,
    "level": 0.95,
    "unit": "test star (all rows of a drawn star)",
    "held_fixed": (
        "the few-shot ridge fits, the zero-shot clustering, the random-pair normalisers of the "
        "pair distances and the fine-tuned heads; only the scored test stars are resampled"
    ),
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


def model_names(inputs: Inputs) -> list[str]:
    """The compared models, then those scored on the binary task only (`<model>_no_ruwe`);
    `REFERENCE` first."""
    names = [*inputs.models, *inputs.binary_only]
    return sorted(names, key=lambda m: m != REFERENCE)  # stable: the others keep their order


def _has_embedding(inputs: Inputs, model: str) -> bool:
    return model in inputs.star_values and bool((inputs.maps["model"] == model).any())


def _star_map(inputs: Inputs, model: str) -> pd.DataFrame:
    maps = inputs.maps
    return maps[(maps["model"] == model) & (maps["level"] == "star")].set_index("kic")


def _test_kics(inputs: Inputs) -> pd.Index:
    stars = inputs.stars
    return pd.Index(stars.loc[stars["split"] == "test", "kic"])


def _target_table(inputs: Inputs, table: str) -> pd.DataFrame:
    labels = inputs.labels[table].set_index("kic")
    if table == "hr":
        lum = labels["lum"].to_numpy("f8")
        with np.errstate(divide="ignore", invalid="ignore"):
            labels = labels.assign(log_lum=np.where(lum > 0, np.log10(lum), np.nan))
    return labels


def _few_shot(inputs: Inputs, model: str, table: str, targets, fraction, seed) -> tuple:
    test = inputs.stars["split"].to_numpy() == "test"
    labels = _target_table(inputs, table)
    y = labels.reindex(inputs.stars["kic"])[list(targets)].to_numpy("f8")
    x = inputs.star_values[model]
    fit, note = _guarded(
        few_shot, x[test], y[test], fraction=fraction, seed=seed, target_names=list(targets)
    )
    if fit is None:
        return None, note, None
    fit["within"] = _within(fit["truth"], fit["predictions"], targets)
    truth, predictions = fit["truth"], fit["predictions"]
    ids = inputs.stars["kic"].to_numpy()[test][fit["scored_index"]]
    item = scored(ids, lambda rows: float(np.mean(r2_per_target(truth[rows], predictions[rows]))))
    return fit, None, item


def _within(truth: np.ndarray, predictions: np.ndarray, targets) -> dict[str, dict[str, float]]:
    out = {}
    for column, name in enumerate(targets):
        rule = TOLERANCES[name]
        score = within_relative_error if rule.relative else within_absolute_error
        out[name] = {
            label: float(score(truth[:, column], predictions[:, column], limit)[0])
            for label, limit in zip(rule.labels(), rule.limits, strict=True)
        }
    return out


def _zero_shot(inputs: Inputs, model: str, seed: int) -> tuple:
    """Clustering of the test stars with a real CMD class (not NaN, not 'notinCMDsample')."""
    cmd = inputs.labels["cmd"]
    cmd = cmd[in_cmd_sample(cmd["cmd_class"])].set_index("kic")["cmd_class"]
    star_map = _star_map(inputs, model)
    kics = star_map.index.intersection(cmd.index).intersection(_test_kics(inputs))
    classes = cmd.loc[kics].to_numpy()
    zero, note = _guarded(zero_shot, star_map.loc[kics, ["x", "y"]].to_numpy(), classes, seed=seed)
    if zero is None:
        return None, note, {}
    ids, clusters = kics.to_numpy(), zero["clusters"]
    items = {
        "zero_shot_ari": scored(ids, lambda r: adjusted_rand(classes[r], clusters[r])),
        "zero_shot_matched_accuracy": scored(
            ids, lambda r: matched_accuracy(classes[r], clusters[r])
        ),
    }
    return zero, None, items


def _pair_distances(points: np.ndarray, ids: np.ndarray, all_points, all_ids, seed: int) -> dict:
    """Distances between two spectra of one star, raw and divided by the median distance
    between random spectra of two different test stars in the same space."""
    raw = pair_distances(points, ids)
    scale = random_pair_median(all_points, all_ids, seed=seed)
    normalised = raw / scale if scale else np.empty(0)
    return {
        "raw": distance_summary(raw),
        "random_pair_median": scale,
        "normalised": distance_summary(normalised),
        "distances": normalised,
        "star_ids": pair_star_ids(ids),
    }


def _consistency(inputs: Inputs, model: str, seed: int) -> dict[str, Any]:
    pairs = inputs.pairs
    test = (pairs["split"] == "test").to_numpy()
    repeat = pairs["kic"].map(pairs["kic"].value_counts()).to_numpy() >= 2
    keep = test & repeat
    maps = inputs.maps
    pair_map = maps[(maps["model"] == model) & (maps["level"] == "pair")]
    xy = pairs.merge(pair_map, on=["kic", "obsid"], how="left")[["x", "y"]].to_numpy()
    ids = pairs["kic"].to_numpy()
    values = inputs.pair_values[model]
    return {
        "umap": _pair_distances(xy[keep], ids[keep], xy[test], ids[test], seed),
        "embedding": _pair_distances(values[keep], ids[keep], values[test], ids[test], seed),
    }


def _median_of(distances: np.ndarray, ids: np.ndarray) -> Scored | None:
    if distances.size == 0 or not np.isfinite(distances).all():
        return None
    return scored(ids, lambda rows: float(np.median(distances[rows])))


def _heads(inputs: Inputs, model: str) -> dict[str, Any]:
    p = inputs.predictions
    test = p[(p["model"] == model) & (p["split"] == "test")]
    if test.empty:
        note = "no fine-tuned head predictions for this model"
        return {
            "binary": None,
            "binary_note": note,
            "age": None,
            "age_note": note,
            "age_points": test,
            "items": {},
        }
    binary, binary_note = _guarded(binary_metrics, test["binary"], test["binary_prob"])
    ages = test[np.isfinite(test["age_gyr"])]
    age, age_note = _guarded(
        regression_metrics, ages["age_gyr"], ages["age_median"], ages["age_lo"], ages["age_hi"]
    )
    items: dict[str, Scored] = {}
    if binary is not None and binary["auc"] is not None:
        labelled = test[np.isfinite(test["binary"])]
        y, prob = labelled["binary"].to_numpy(int), labelled["binary_prob"].to_numpy("f8")
        ids = labelled["kic"].to_numpy()
        items["binary_auc"] = scored(ids, lambda r: auc_score(y[r], prob[r]))
        items["binary_ap"] = scored(ids, lambda r: average_precision(y[r], prob[r]))
    if age is not None:
        error = (ages["age_median"] - ages["age_gyr"]).to_numpy("f8")
        ids = ages["kic"].to_numpy()
        items["age_rmse_gyr"] = scored(ids, lambda r: float(np.sqrt(np.mean(error[r] ** 2))))
        items["age_mae_gyr"] = scored(ids, lambda r: float(np.mean(np.abs(error[r]))))
    return {
        "binary": binary,
        "binary_note": binary_note,
        "age": age,
        "age_note": age_note,
        "age_points": ages,
        "items": items,
    }


def _fast_rotators(inputs: Inputs, model: str, seed: int) -> tuple[dict | None, str | None]:
    fast = inputs.labels["fast_rotators"].set_index("kic")
    kin = inputs.labels["kinematics"].set_index("kic")
    star_map = _star_map(inputs, model)
    kics = fast.index.intersection(star_map.index)
    points = star_map.loc[kics, ["x", "y"]].to_numpy()
    uvw = kin.reindex(kics)[["u", "v", "w"]].to_numpy("f8")  # Chen et al. 2021, km/s
    result, note = _guarded(
        fast_rotator_sides,
        points,
        fast.loc[kics, "delta_k_iso"].to_numpy("f8"),
        uvw,
        seed=seed,
    )
    if result is not None:
        result["points"] = points
    return result, note


NO_EMBEDDING = "no embedding for this model: scored on the fine-tuned heads only"


def _embedding_metrics(inputs: Inputs, model: str, fraction: float, seed: int) -> dict:
    """Zero-shot, few-shot, consistency and fast rotators of one model's embedding."""
    if not _has_embedding(inputs, model):
        notes = dict.fromkeys(("zero_shot", "few_shot_cmd", "few_shot_hr", "fast_rotators"))
        return {
            "notes": {k: NO_EMBEDDING for k in notes},
            "items": {},
            "zero": None,
            "cmd": None,
            "hr": None,
            "consistency": None,
            "fast": None,
        }
    zero, zero_note, items = _zero_shot(inputs, model, seed)
    cmd_fit, cmd_note, cmd_item = _few_shot(inputs, model, "cmd", CMD_TARGETS, fraction, seed)
    hr_fit, hr_note, hr_item = _few_shot(inputs, model, "hr", HR_TARGETS, fraction, seed)
    consistency = _consistency(inputs, model, seed)
    fast, fast_note = _fast_rotators(inputs, model, seed)
    for key, item in (
        ("few_shot_cmd_r2", cmd_item),
        ("few_shot_hr_r2", hr_item),
        ("pair_umap_distance_median", _median_of(**_distances(consistency["umap"]))),
        ("pair_embedding_distance_median", _median_of(**_distances(consistency["embedding"]))),
    ):
        if item is not None:
            items[key] = item
    notes = {
        "zero_shot": zero_note,
        "few_shot_cmd": cmd_note,
        "few_shot_hr": hr_note,
        "fast_rotators": fast_note,
    }
    return {
        "notes": notes,
        "items": items,
        "zero": zero,
        "cmd": cmd_fit,
        "hr": hr_fit,
        "consistency": consistency,
        "fast": fast,
    }


def _distances(space: dict) -> dict:
    return {"distances": space["distances"], "ids": space["star_ids"]}


def _model_metrics(emb: dict, heads: dict, width: int | None) -> dict[str, Any]:
    zero, cmd_fit, hr_fit, consistency = emb["zero"], emb["cmd"], emb["hr"], emb["consistency"]
    binary, age = heads["binary"], heads["age"]
    umap = consistency["umap"] if consistency else None
    embedding = consistency["embedding"] if consistency else None
    notes = {
        **emb["notes"],
        "binary": heads["binary_note"] or (binary or {}).get("note"),
        "age": heads["age_note"],
    }
    return {
        "embedding_width": width,
        "few_shot_cmd_r2": cmd_fit["r2_mean"] if cmd_fit else None,
        "few_shot_cmd_n_fit": cmd_fit["n_fit"] if cmd_fit else None,
        "few_shot_cmd": _plain_fit(cmd_fit),
        "few_shot_hr_r2": hr_fit["r2_mean"] if hr_fit else None,
        "few_shot_hr_n_fit": hr_fit["n_fit"] if hr_fit else None,
        "few_shot_hr": _plain_fit(hr_fit),
        "zero_shot_ari": zero["ari"] if zero else None,
        "zero_shot_matched_accuracy": zero["matched_accuracy"] if zero else None,
        "zero_shot_purity": zero["purity"] if zero else None,
        "zero_shot_n": zero["n"] if zero else None,
        "zero_shot_n_classes": zero["n_classes"] if zero else None,
        "pair_umap_distance_median": umap["normalised"]["median"] if umap else None,
        "pair_umap_distance_median_raw": umap["raw"]["median"] if umap else None,
        "pair_umap_random_pair_median": umap["random_pair_median"] if umap else None,
        "pair_embedding_distance_median": embedding["normalised"]["median"] if umap else None,
        "pair_embedding_distance_median_raw": embedding["raw"]["median"] if umap else None,
        "pair_embedding_random_pair_median": embedding["random_pair_median"] if umap else None,
        "binary_auc": binary["auc"] if binary else None,
        "binary_ap": binary["ap"] if binary else None,
        "binary_confusion_matrix": binary["confusion_matrix"] if binary else None,
        "binary_precision": binary["precision"] if binary else None,
        "age_mae_gyr": age["mae"] if age else None,
        "age_rmse_gyr": age["rmse"] if age else None,
        "age_coverage": age["coverage"] if age else None,
        "fast_rotators": _plain_fast(emb["fast"]),
        "notes": {k: v for k, v in notes.items() if v},
    }


def _intervals(items: dict[str, dict[str, Scored]], metrics: dict, seed: int) -> None:
    """`<metric>_ci` beside every headline value and, per model, DESA minus that model."""
    settings = {
        "n_resamples": BOOTSTRAP["resamples"],
        "seed": seed,
        "level": BOOTSTRAP["level"],
        "cache": {},  # an interval and a paired difference on the same stars share resamples
    }
    for model, found in items.items():
        for metric in HEADLINE:
            item = found.get(metric)
            metrics[model][f"{metric}_ci"] = bootstrap_interval(item, **settings) if item else None
    for model, found in items.items():
        if model == REFERENCE:
            continue
        reference_name = reference_for(model, list(items))
        reference = items.get(reference_name, {})
        paired = {}
        for metric in HEADLINE:
            if metric not in found or metric not in reference:
                continue
            result = paired_difference(reference[metric], found[metric], **settings)
            verdict = paired_verdict(result["diff_ci"], HIGHER_IS_BETTER[metric])
            paired[metric] = {**result, "verdict": verdict}
        metrics[model]["vs_desa"] = {"reference": reference_name, "metrics": paired}


def reference_for(model: str, models: list[str]) -> str:
    """DESA for every model, except that a `<model>_no_ruwe` variant (scored with RUWE left
    out of the priors) is compared with DESA's own variant when there is one: like with like."""
    variant = f"{REFERENCE}_no_ruwe"
    if model.endswith("_no_ruwe") and model != variant and variant in models:
        return variant
    return REFERENCE


def evaluate(inputs: Inputs, *, few_shot_fraction: float, seed: int) -> Evaluation:
    """One metrics dict per model the inputs hold, the sizes of every set, the encoder scores,
    with bootstrap intervals and DESA's paired differences (`BOOTSTRAP`)."""
    models = model_names(inputs)
    metrics: dict[str, Any] = {"models": models}
    details: dict[str, dict[str, Any]] = {}
    sizes: dict[str, Any] = {}
    items: dict[str, dict[str, Scored]] = {}
    for model in models:
        emb = _embedding_metrics(inputs, model, few_shot_fraction, seed)
        heads = _heads(inputs, model)
        width = inputs.star_values[model].shape[1] if _has_embedding(inputs, model) else None
        metrics[model] = _model_metrics(emb, heads, width)
        items[model] = {**emb["items"], **heads["items"]}
        details[model] = {
            "zero_shot": emb["zero"],
            "few_shot_cmd": emb["cmd"],
            "few_shot_hr": emb["hr"],
            "consistency": emb["consistency"],
            "binary": heads["binary"],
            "age_points": heads["age_points"],
            "fast_rotators": emb["fast"],
        }
        sizes[model] = _sizes(emb, heads)
    _intervals(items, metrics, seed)
    split_counts = inputs.stars["split"].value_counts().to_dict()
    metrics["sizes"] = {
        "stars": len(inputs.stars),
        "pairs": len(inputs.pairs),
        **{f"{s}_stars": int(split_counts.get(s, 0)) for s in ("train", "val", "test")},
        "per_model": sizes,
    }
    metrics["headline"] = list(HEADLINE)
    metrics["higher_is_better"] = HIGHER_IS_BETTER
    metrics["bootstrap"] = {**BOOTSTRAP, "seed": seed, "reference": REFERENCE}
    metrics["encoders"] = inputs.encoders
    return Evaluation(metrics, details)


def _sizes(emb: dict, heads: dict) -> dict[str, int]:
    zero, cmd_fit, hr_fit, fast = emb["zero"], emb["cmd"], emb["hr"], emb["fast"]
    consistency, binary, age = emb["consistency"], heads["binary"], heads["age"]
    return {
        "zero_shot_stars": zero["n"] if zero else 0,
        "few_shot_cmd_fit": cmd_fit["n_fit"] if cmd_fit else 0,
        "few_shot_cmd_scored": cmd_fit["n_score"] if cmd_fit else 0,
        "few_shot_hr_fit": hr_fit["n_fit"] if hr_fit else 0,
        "few_shot_hr_scored": hr_fit["n_score"] if hr_fit else 0,
        "consistency_pairs": consistency["umap"]["raw"]["n_pairs"] if consistency else 0,
        "binary_test_stars": binary["n"] if binary else 0,
        "age_test_stars": age["n"] if age else 0,
        "fast_rotators": fast["n"] if fast else 0,
    }


def _plain_fit(fit: dict | None) -> dict | None:
    if fit is None:
        return None
    keys = ("r2", "within", "alpha", "n_fit", "n_score", "n_dropped", "width")
    return {k: fit[k] for k in keys}


def _plain_fast(fast: dict | None) -> dict | None:
    if fast is None:
        return None
    sides = [{k: v for k, v in side.items() if k != "delta_k"} for side in fast["sides"]]
    return {"n": fast["n"], "svm": fast["svm"], "sides": sides}


def comparison_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline table, one flat row per model (comparison.csv): each `HEADLINE` metric
    with its interval (`_ci_low`, `_ci_high`) and DESA minus the model (`_desa_minus`, its
    interval and the verdict); the few-shot fit sizes and the embedding width beside R²."""
    rows = []
    for model in metrics["models"]:
        m = metrics[model]
        row: dict[str, Any] = {
            "model": model,
            "embedding_width": m.get("embedding_width"),
            "few_shot_cmd_n_fit": m.get("few_shot_cmd_n_fit"),
            "few_shot_hr_n_fit": m.get("few_shot_hr_n_fit"),
        }
        paired = m.get("vs_desa", {}).get("metrics", {})
        for metric in HEADLINE:
            low, high = m.get(f"{metric}_ci") or (None, None)
            row |= {metric: m.get(metric), f"{metric}_ci_low": low, f"{metric}_ci_high": high}
            if model != REFERENCE:
                diff = paired.get(metric, {})
                d_low, d_high = diff.get("diff_ci") or (None, None)
                row |= {
                    f"{metric}_desa_minus": diff.get("diff"),
                    f"{metric}_desa_minus_ci_low": d_low,
                    f"{metric}_desa_minus_ci_high": d_high,
                    f"{metric}_desa_is": diff.get("verdict"),
                }
        rows.append(row)
    return rows
