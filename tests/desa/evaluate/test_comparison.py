"""The comparison on a small constructed sky: test stars only, what is dropped, the log L
target, the normalised pair distances, intervals and DESA's paired differences."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from desa.evaluate.comparison import HEADLINE, Inputs, comparison_rows, evaluate
from desa.report.table import markdown_table

N = 160
CLASSES = np.array(["Dwarf", "Subgiant", "Giant_Branch"])


def _inputs(scale: float = 1.0) -> Inputs:
    rng = np.random.default_rng(0)
    kic = np.arange(N) + 1000
    split = np.where(np.arange(N) % 4 == 0, "train", "test")
    stars = pd.DataFrame({"kic": kic, "star_id": kic.astype(str), "split": split, "n_spectra": 2})
    centre = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    klass = np.arange(N) % 3
    xy = centre[klass] + 0.5 * rng.normal(size=(N, 2))
    truth = {
        "bp_rp0": 0.5 + 0.3 * xy[:, 0],
        "m_g0": 0.05 * xy[:, 1] + 0.05 * rng.normal(size=N),  # near zero
        "teff": 5000 + 100 * xy[:, 0],
        "lum": 10 ** (0.2 * xy[:, 1]),  # spans decades: linear in log L only
    }
    good = np.column_stack([xy, rng.normal(size=(N, 4))])
    values = {"desa": good, "moco": rng.normal(size=(N, 6))}
    pairs = pd.DataFrame({"kic": np.repeat(kic, 2), "obsid": np.arange(2 * N)})
    pairs["star_id"], pairs["split"] = pairs["kic"].astype(str), np.repeat(split, 2)
    pair_values = {
        m: np.repeat(v, 2, axis=0) + 0.05 * rng.normal(size=(2 * N, v.shape[1]))
        for m, v in values.items()
    }
    maps = []
    for model, v in values.items():
        maps.append(
            pd.DataFrame(
                {
                    "model": model,
                    "level": "star",
                    "kic": kic,
                    "obsid": -1,
                    "split": split,
                    "x": v[:, 0],
                    "y": v[:, 1],
                }
            )
        )
        p = pair_values[model]
        maps.append(
            pd.DataFrame(
                {
                    "model": model,
                    "level": "pair",
                    "kic": pairs["kic"],
                    "obsid": pairs["obsid"],
                    "split": pairs["split"],
                    "x": p[:, 0],
                    "y": p[:, 1],
                }
            )
        )
    maps = pd.concat(maps, ignore_index=True)
    maps[["x", "y"]] *= scale
    cmd_class = CLASSES[klass].astype(object)
    cmd_class[::7] = "notinCMDsample"  # Godoy-Rivera's flag for stars outside their sample
    labels = {
        "cmd": pd.DataFrame(
            {"kic": kic, "cmd_class": cmd_class, "bp_rp0": truth["bp_rp0"], "m_g0": truth["m_g0"]}
        ),
        "hr": pd.DataFrame({"kic": kic, "teff": truth["teff"], "logg": 4.4, "lum": truth["lum"]}),
        "fast_rotators": pd.DataFrame(
            {"kic": kic[:40], "prot": 2.0, "delta_k_iso": rng.normal(size=40)}
        ),
        "kinematics": pd.DataFrame(
            {
                "kic": kic,
                "u": rng.normal(0, 20, N),
                "v": rng.normal(-20, 15, N),
                "w": rng.normal(0, 10, N),
            }
        ),
    }
    binary = (klass == 1).astype(float)
    age = 1.0 + xy[:, 0] / 2
    predictions = []
    for model, noise in (("desa", 0.2), ("moco", 2.0), ("moco_no_ruwe", 2.0)):
        prob = 1 / (1 + np.exp(-(4 * binary - 2 + noise * rng.normal(size=N))))
        median = age + noise * rng.normal(size=N)
        predictions.append(
            pd.DataFrame(
                {
                    "model": model,
                    "kic": kic,
                    "star_id": kic.astype(str),
                    "split": split,
                    "binary": binary,
                    "binary_prob": prob,
                    "age_gyr": age,
                    "age_median": median,
                    "age_lo": median - 1,
                    "age_hi": median + 1,
                }
            )
        )
    return Inputs(
        stars,
        values,
        pairs,
        pair_values,
        maps,
        labels,
        pd.concat(predictions, ignore_index=True),
        {},
        ("desa", "moco"),
        ("moco_no_ruwe",),
    )


@pytest.fixture(scope="module")
def result():
    return evaluate(_inputs(), few_shot_fraction=0.2, seed=0)


def test_every_model_the_inputs_hold_is_scored(result) -> None:
    metrics = result.metrics
    assert metrics["models"] == ["desa", "moco", "moco_no_ruwe"]
    head_only = metrics["moco_no_ruwe"]
    assert head_only["binary_auc"] is not None and head_only["few_shot_cmd_r2"] is None
    assert "no embedding" in head_only["notes"]["few_shot_cmd"]
    assert head_only["embedding_width"] is None
    json.dumps(metrics, default=float, allow_nan=False)


def test_zero_shot_clusters_test_stars_with_a_real_class_only(result) -> None:
    kic = np.arange(N)
    test = kic % 4 != 0
    in_sample = kic % 7 != 0
    desa = result.metrics["desa"]
    assert desa["zero_shot_n"] == int((test & in_sample).sum())
    assert desa["zero_shot_n_classes"] == 3  # 'notinCMDsample' is not a fourth class
    assert desa["zero_shot_ari"] > 0.9


def test_few_shot_reports_fit_size_and_width_and_regresses_log_l(result) -> None:
    desa = result.metrics["desa"]
    hr = desa["few_shot_hr"]
    assert desa["embedding_width"] == hr["width"] == 6
    assert desa["few_shot_hr_n_fit"] == hr["n_fit"] == round(0.2 * 120)
    assert set(hr["r2"]) == {"teff", "log_lum"}
    assert hr["r2"]["log_lum"] > 0.95  # log L is linear in the embedding; L is not
    cmd = desa["few_shot_cmd"]["within"]
    assert set(cmd["m_g0"]) == {"within_0.1mag", "within_0.2mag"}  # absolute bins near zero
    assert set(desa["few_shot_hr"]["within"]["teff"]) == {"within_10pct", "within_20pct"}
    assert cmd["m_g0"]["within_0.1mag"] > 0.8


def test_pair_distances_do_not_depend_on_the_scale_of_a_map() -> None:
    small = evaluate(_inputs(1.0), few_shot_fraction=0.2, seed=0).metrics["desa"]
    large = evaluate(_inputs(40.0), few_shot_fraction=0.2, seed=0).metrics["desa"]
    assert large["pair_umap_distance_median_raw"] == pytest.approx(
        40 * small["pair_umap_distance_median_raw"]
    )
    assert large["pair_umap_distance_median"] == pytest.approx(small["pair_umap_distance_median"])
    assert small["pair_umap_distance_median"] < 0.2
    assert small["pair_embedding_distance_median"] < 0.2


def test_every_headline_metric_has_an_interval_and_a_paired_difference(result) -> None:
    metrics = result.metrics
    assert metrics["bootstrap"]["resamples"] == 1000
    for model in ("desa", "moco"):
        for metric in HEADLINE:
            value, ci = metrics[model][metric], metrics[model][f"{metric}_ci"]
            assert ci is not None, (model, metric)
            assert ci[0] <= value <= ci[1], (model, metric, value, ci)
    paired = metrics["moco"]["vs_desa"]
    assert paired["reference"] == "desa"
    auc = paired["metrics"]["binary_auc"]
    assert auc["diff"] == pytest.approx(
        metrics["desa"]["binary_auc"] - metrics["moco"]["binary_auc"]
    )
    assert auc["diff_ci"][0] > 0 and auc["verdict"] == "ahead"  # DESA's head is far less noisy
    assert set(metrics["moco_no_ruwe"]["vs_desa"]["metrics"]) == {
        "binary_auc",
        "binary_ap",
        "age_rmse_gyr",
        "age_mae_gyr",
    }
    again = evaluate(_inputs(), few_shot_fraction=0.2, seed=0).metrics
    assert again["moco"]["vs_desa"] == paired  # seeded


def test_comparison_rows_and_markdown_table(result) -> None:
    rows = {row["model"]: row for row in comparison_rows(result.metrics)}
    assert rows["moco"]["binary_auc_desa_is"] == "ahead"
    assert rows["desa"]["binary_auc_ci_low"] <= rows["desa"]["binary_auc"]
    assert rows["moco_no_ruwe"]["few_shot_cmd_r2"] is None
    text = markdown_table(json.loads(json.dumps(result.metrics, default=float)))
    lines = text.splitlines()
    assert lines[0].startswith("| model | width |")
    desa_line = next(line for line in lines if line.startswith("| desa |"))
    auc = result.metrics["desa"]["binary_auc"]
    low, high = result.metrics["desa"]["binary_auc_ci"]
    assert f"{auc:.3f} [{low:.3f}, {high:.3f}]" in desa_line
    no_ruwe = next(line for line in lines if line.startswith("| moco_no_ruwe | –"))
    assert "–" in no_ruwe
    assert "1000 resamples" in text and "ahead" in text


def test_no_ruwe_variants_compare_with_desas_own_variant() -> None:
    from desa.evaluate.comparison import reference_for

    models = ["desa", "moco", "desa_no_ruwe", "moco_no_ruwe"]
    assert reference_for("moco_no_ruwe", models) == "desa_no_ruwe"
    assert reference_for("desa_no_ruwe", models) == "desa"
    assert reference_for("moco", models) == "desa"
    assert reference_for("moco_no_ruwe", ["desa", "moco_no_ruwe"]) == "desa"
