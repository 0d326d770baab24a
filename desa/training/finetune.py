"""Train every model's fine-tuning heads on its star embeddings (desa_reference.md sec. 7).

For each model (a DualFormer's heads read cat(W h_spec, Wᵀ h_lc), as the reference's do; the
models and their head inputs are named in the attributes of `embeddings.zarr`): a
binary-vs-single classifier (BCE, positives up-weighted by the training class ratio) and an
age regressor (CQR, quantiles 0.14/0.5/0.86) whose interval is calibrated on the validation
stars (split-conformal). Binary-only models (RUWE left out of their priors) get the
classifier alone; their age columns are NaN. Inputs are standardised with the training
stars' statistics, kept with the head's weights. Scores are on the test stars.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch import nn

from desa.evaluate import binary_metrics, regression_metrics
from desa.losses import apply_calibration, conformal_calibrate
from desa.models.heads import AgeHead, BinaryHead, HeadConfig
from desa.models.layers import Standardize
from desa.training.data import ArrayBatches, batch_loader
from desa.training.fit import FitResult
from desa.training.runs import Job
from desa.training.tasks import HeadTask

BINARY_CODES = {"binary": 1.0, "single": 0.0}  # labels/binary.parquet `label`; other = NaN


def star_targets(stars: pd.DataFrame, binary: pd.DataFrame, ages: pd.DataFrame) -> pd.DataFrame:
    """Per star: ``binary`` (1, 0 or NaN) and ``age_gyr`` (NaN when unknown)."""
    label = binary.set_index("kic")["label"].map(BINARY_CODES)
    age = ages.set_index("kic")["age_gyr"]
    return pd.DataFrame(
        {
            "binary": stars["kic"].map(label).astype("float64").to_numpy(),
            "age_gyr": stars["kic"].map(age).astype("float64").to_numpy(),
        }
    )


def _head(
    scaler: Standardize, head: type[BinaryHead | AgeHead], config: HeadConfig
) -> nn.Sequential:
    return nn.Sequential(Standardize(scaler.mean, scaler.std), head(config))


def _train_head(
    job: Job,
    model: nn.Sequential,
    config: HeadConfig,
    x: np.ndarray,
    y: np.ndarray,
    kic: np.ndarray,
    split: np.ndarray,
    pos_weight: float | None = None,
) -> FitResult:
    def dataset(name: str) -> ArrayBatches:
        keep = (split == name) & np.isfinite(y)
        return ArrayBatches({"x": x[keep], "y": y[keep].astype("f4"), "kic": kic[keep]})

    def loader(data: ArrayBatches, shuffle: bool):
        return batch_loader(data, job.sampler(np.zeros(len(data), "i8"), shuffle))

    train, val = dataset("train"), dataset("val")
    task = HeadTask(model, pos_weight=pos_weight, **job.task_args(config, head=job.name))
    result = job.fit(task, loader(train, True), loader(val, False))
    job.best(result, model)
    return result


@torch.no_grad()
def _predict(model: nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    return model.to(device).eval()(torch.from_numpy(x).to(device)).float().cpu().numpy()


def _binary_scores(y: np.ndarray, p: np.ndarray, test: np.ndarray) -> dict[str, float | None]:
    scores = binary_metrics(y[test], p[test])  # drops unlabelled stars; None for one class
    return {"binary_auc": scores["auc"], "binary_ap": scores["ap"], "binary_n_test": scores["n"]}


def _age_scores(
    y: np.ndarray, median: np.ndarray, lo: np.ndarray, hi: np.ndarray, test: np.ndarray
) -> dict[str, float | None]:
    if not np.isfinite(y[test]).any():
        return {"age_mae_gyr": None, "age_rmse_gyr": None, "age_coverage": None, "age_n_test": 0}
    scores = regression_metrics(y[test], median[test], lo[test], hi[test])
    return {
        "age_mae_gyr": scores["mae"],
        "age_rmse_gyr": scores["rmse"],
        "age_coverage": scores["coverage"],
        "age_n_test": scores["n"],
    }


def finetune(
    job_for: Callable[[str], Job],
    stars: pd.DataFrame,
    embeddings: dict[str, np.ndarray],
    targets: pd.DataFrame,
    head: HeadConfig,
    on_trained: Callable[[str, FitResult], None],
    *,
    models: Sequence[str],
    binary_only: Sequence[str],
    head_inputs: Mapping[str, str],
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Train the heads on each model's embedding; (predictions for every star, scores per
    model). ``models`` get both heads, ``binary_only`` the classifier alone; ``head_inputs``
    names the embedding each model's heads read (the attributes of `embeddings.zarr`).

    ``on_trained(job name, result)`` is called as soon as each head is trained (to publish
    it); the job names are ``<model>-binary`` and ``<model>-age``.
    """
    split, kic = stars["split"].to_numpy(), stars["kic"].to_numpy("i8")
    train, val, test = (split == "train"), (split == "val"), (split == "test")
    y_bin, y_age = targets["binary"].to_numpy(), targets["age_gyr"].to_numpy()
    positives = np.nansum(y_bin[train])
    negatives = np.sum(np.isfinite(y_bin[train])) - positives
    pos_weight = float(negatives / positives) if positives else None
    predictions, scores = [], {}
    for name in (*models, *binary_only):
        x = embeddings[head_inputs[name]].astype("f4")
        config = replace(head, in_dim=x.shape[1])
        scaler = Standardize.fit(torch.from_numpy(x[train]))
        job = job_for(f"{name}-binary")
        classifier = job.build(partial(_head, scaler, BinaryHead, config))
        on_trained(job.name, _train_head(job, classifier, config, x, y_bin, kic, split, pos_weight))
        p = 1.0 / (1.0 + np.exp(-_predict(classifier, x, job.device)))
        scores[name] = _binary_scores(y_bin, p, test)
        nan = np.full(len(kic), np.nan)
        median, lo, hi = nan, nan, nan
        if name not in binary_only:
            job = job_for(f"{name}-age")
            regressor = job.build(partial(_head, scaler, AgeHead, config))
            regressor[-1].target.fit(torch.from_numpy(y_age[train][:, None]))
            on_trained(job.name, _train_head(job, regressor, config, x, y_age, kic, split))
            q = _predict(regressor, x, job.device)  # (N, 1, Q) in Gyr
            cal = val & np.isfinite(y_age)
            corrections = conformal_calibrate(q[cal], y_age[cal][:, None], config.quantiles)
            calibrated = apply_calibration(q, corrections)
            median = q[:, 0, len(config.quantiles) // 2]
            lo, hi = calibrated[:, 0, 0], calibrated[:, 0, -1]
            scores[name].update(_age_scores(y_age, median, lo, hi, test))
        predictions.append(
            pd.DataFrame(
                {
                    "model": name,
                    "kic": kic,
                    "star_id": stars["star_id"].to_numpy(),
                    "split": split,
                    "binary": y_bin,
                    "binary_prob": p,
                    "age_gyr": y_age,
                    "age_median": median,
                    "age_lo": lo,
                    "age_hi": hi,
                }
            )
        )
    return pd.concat(predictions, ignore_index=True), scores
