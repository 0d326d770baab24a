"""One function per trained model: build the data and the task, fit, score on held-out stars.

Plain Python (the flows add keys, locks, publishing and artifacts). Each returns the fit
result, whose ``best_path`` is the complete checkpoint to publish, and a summary of numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import fsspec
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from desa.evaluate.quantiles import quantile_report
from desa.models.baselines import (
    BASELINES,
    BaselineConfig,
    MoCoAligner,
    SimSiamAligner,
    VICRegAligner,
)
from desa.models.dualformer import DualFormer, DualFormerConfig
from desa.models.lightcurves import (
    PERIOD_SCALE_DAYS,
    LightCurveEncoder,
    LightCurveEncoderConfig,
)
from desa.models.spectra import SpectraEncoderConfig, SpectraModel
from desa.sampling import UniqueStarBatchSampler
from desa.training.checkpoints import (
    CheckpointError,
    differences,
    model_state,
    read_checkpoint,
)
from desa.training.config import LoopConfig, TrainingConfig
from desa.training.data import ChunkBatchSampler, StoreBatches, batch_loader, collect
from desa.training.datasets import (
    SPECTRA_LABELS,
    SPECTRA_SCALES,
    chunk_rows,
    feature_split,
    lightcurve_split,
    spectra_split,
)
from desa.training.features import lightcurve_features
from desa.training.fit import FitResult, fit
from desa.training.tasks import (
    AlignerTask,
    DualFormerTask,
    LightCurveModel,
    LightCurveTask,
    SpectraTask,
    TrainTask,
)
from storage.fingerprint import fingerprint_json

T = TypeVar("T", bound=nn.Module)


def plain(obj: Any) -> Any:
    """JSON-normal form (tuples -> lists), so identities compare equal after a round trip."""
    return json.loads(json.dumps(obj))


def training_device(training: TrainingConfig) -> torch.device:
    """Where models run outside Lightning (scoring, features): CUDA when present and allowed."""
    cuda = training.accelerator != "cpu" and torch.cuda.is_available()
    return torch.device("cuda" if cuda else "cpu")


@dataclass(frozen=True)
class Job:
    """What every training run needs besides its model and data."""

    name: str
    checkpoints: str  # folder (any fsspec URL); each identity trains in its own subfolder
    training: TrainingConfig
    loop: LoopConfig
    data: str  # fingerprint of the inputs the stage's key was made of
    log: Callable[[str], None] = print
    on_epoch: Callable[[int, int], None] | None = None  # (epochs done, max epochs)

    def identity(self, config: Any, **extra: Any) -> dict[str, Any]:
        return plain(
            {
                "name": self.name,
                "config": asdict(config),
                "loop": self.loop.model_dump(),
                "seed": self.training.seed,
                "data": self.data,
                **extra,
            }
        )

    def task_args(self, config: Any, **extra: Any) -> dict[str, Any]:
        return {
            "lr": self.loop.lr,
            "weight_decay": self.loop.weight_decay,
            "max_epochs": self.loop.max_epochs,
            "seed": self.training.seed,
            "identity": self.identity(config, **extra),
        }

    @property
    def device(self) -> torch.device:
        return training_device(self.training)

    def build(self, factory: Callable[[], T]) -> T:
        """A new model whose initial weights depend on the seed alone (not on whatever ran
        before in this process), so a fresh run and a resumed one start alike."""
        torch.manual_seed(self.training.seed)
        return factory()

    def sampler(self, chunk_of: np.ndarray, shuffle: bool) -> ChunkBatchSampler:
        return ChunkBatchSampler(
            chunk_of,
            self.loop.batch_size,
            shuffle=shuffle,
            seed=self.training.seed,
            min_batch=2,
            rank=int(os.environ.get("RANK", 0)),  # set by torchrun for DDP
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
        )

    def loader(self, dataset: StoreBatches, chunk: int, shuffle: bool) -> DataLoader:
        sampler = self.sampler(dataset.columns["row"] // chunk, shuffle)
        return batch_loader(dataset, sampler, self.training.num_workers)

    def train_val(self, splits: dict[str, StoreBatches], chunk: int) -> tuple[DataLoader, ...]:
        return self.loader(splits["train"], chunk, True), self.loader(splits["val"], chunk, False)

    def fit(self, task: TrainTask, train: DataLoader, val: DataLoader) -> FitResult:
        return fit(
            task,
            train,
            val,
            name=self.name,
            checkpoint_dir=f"{self.checkpoints}/{fingerprint_json(task.identity)[:16]}",
            loop=self.loop,
            training=self.training,
            log=self.log,
            on_epoch=self.on_epoch,
        )

    def best(self, result: FitResult, model: nn.Module) -> nn.Module:
        """``model`` with the weights of the lowest validation loss, on the eval device."""
        fs, path = fsspec.core.url_to_fs(result.best_path)
        model.load_state_dict(model_state(read_checkpoint(fs, path)))
        return model.to(self.device).eval()


def load_trained(url: str, model: nn.Module, config: Any) -> nn.Module:
    """Weights of a published checkpoint into ``model``, refusing one of another config."""
    fs, path = fsspec.core.url_to_fs(url)
    checkpoint = read_checkpoint(fs, path)
    found, wanted = checkpoint["desa"]["identity"]["config"], plain(asdict(config))
    if found != wanted:
        fields = ", ".join(differences(found, wanted))
        raise CheckpointError(f"{path}: made for another model config ({fields})")
    model.load_state_dict(model_state(checkpoint))
    return model.eval()


def train_spectra(
    job: Job,
    store: str,
    labels: pd.DataFrame,
    config: SpectraEncoderConfig,
    *,
    ssl_weight: float,
    mask_rate: float,
) -> tuple[FitResult, dict[str, float]]:
    """Spectra encoder: masked filling + CQR on Teff/logg/[Fe/H]; test MAE and coverage."""
    chunk = chunk_rows(store, "flux")
    splits = {s: spectra_split(store, labels, s) for s in ("train", "val", "test")}
    extra = {"ssl_weight": ssl_weight, "mask_rate": mask_rate}
    model = job.build(lambda: SpectraModel(config))
    model.head.target.fit(torch.from_numpy(splits["train"].columns["labels"]))
    task = SpectraTask(model, **extra, **job.task_args(config, **extra))
    result = job.fit(
        task, job.loader(splits["train"], chunk, True), job.loader(splits["val"], chunk, False)
    )
    model = job.best(result, SpectraModel(config))

    def predict(split: str) -> dict[str, np.ndarray]:
        loader = job.loader(splits[split], chunk, False)
        return collect(
            loader,
            lambda b: {"q": model(b["flux"].to(job.device)).quantiles, "y": b["labels"]},
        )

    cal, test = predict("val"), predict("test")
    report = quantile_report(
        SPECTRA_LABELS,
        SPECTRA_SCALES,
        config.quantiles,
        y_train=splits["train"].columns["labels"],
        pred_cal=cal["q"],
        y_cal=cal["y"],
        pred_test=test["q"],
        y_test=test["y"],
    )
    return result, report


def train_lightcurves(
    job: Job,
    store: str,
    labels: pd.DataFrame,
    config: LightCurveEncoderConfig,
    *,
    ssl_weight: float,
) -> tuple[FitResult, dict[str, float]]:
    """Light-curve encoder: SimSiam + CQR on Prot/70; test period error and coverage."""
    chunk = chunk_rows(store, "flux")
    splits = {s: lightcurve_split(store, labels, s) for s in ("train", "val", "test")}
    model = job.build(lambda: LightCurveModel(LightCurveEncoder(config)))
    prot = splits["train"].columns["prot"][:, None] / PERIOD_SCALE_DAYS
    model.period.target.fit(torch.from_numpy(prot))
    task = LightCurveTask(
        model,
        ssl_weight=ssl_weight,
        **job.task_args(config, ssl_weight=ssl_weight),
    )
    result = job.fit(
        task, job.loader(splits["train"], chunk, True), job.loader(splits["val"], chunk, False)
    )
    model = job.best(result, LightCurveModel(LightCurveEncoder(config)))

    def predict(split: str) -> dict[str, np.ndarray]:
        def batch(b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            z = lightcurve_features(model.encoder, b["flux"].to(job.device))
            return {"q": model.period(z), "y": b["prot"][:, None] / PERIOD_SCALE_DAYS}

        return collect(job.loader(splits[split], chunk, False), batch)

    cal, test = predict("val"), predict("test")
    report = quantile_report(
        ("prot_days",),
        (PERIOD_SCALE_DAYS,),
        config.quantiles,
        y_train=prot,
        pred_cal=cal["q"],
        y_cal=cal["y"],
        pred_test=test["q"],
        y_test=test["y"],
    )
    return result, report


def _feature_loaders(
    job: Job, features: str, priors: Sequence[str], star_unique: bool = False
) -> tuple[DataLoader, DataLoader]:
    chunk = chunk_rows(features, "spec_feature")
    train, stars = feature_split(features, "train", priors)
    val, _ = feature_split(features, "val", priors)
    if star_unique:
        sampler = UniqueStarBatchSampler(stars, job.loop.batch_size, seed=job.training.seed)
        train_loader = batch_loader(train, sampler, job.training.num_workers)
    else:
        train_loader = job.loader(train, chunk, True)
    return train_loader, job.loader(val, chunk, False)


def train_dualformer(
    job: Job, features: str, config: DualFormerConfig, priors: Sequence[str]
) -> tuple[FitResult, dict[str, float]]:
    """DualFormer on the frozen features with the priors ``priors``: 0.5 L_dual + 0.5 L_cov
    (sec. 4)."""
    args = job.task_args(config, priors=list(priors))
    task = DualFormerTask(job.build(lambda: DualFormer(config)), **args)
    result = job.fit(task, *_feature_loaders(job, features, priors))
    return result, result.losses


def baseline_model(kind: str, config: BaselineConfig, reference_moco: bool) -> nn.Module:
    if kind in ("moco", "moco_clean"):
        return MoCoAligner(config, reference=reference_moco)
    if kind == "simsiam":
        return SimSiamAligner(config)
    if kind == "vicreg":
        return VICRegAligner(config)
    raise ValueError(f"unknown baseline {kind!r}; expected one of {BASELINES}")


def baseline_identity(kind: str, priors: Sequence[str], reference_moco: bool) -> dict[str, Any]:
    """What besides its config tells one trained aligner from another."""
    return {"kind": kind, "priors": list(priors), "reference_moco": reference_moco}


def train_baseline(
    job: Job,
    features: str,
    kind: str,
    config: BaselineConfig,
    priors: Sequence[str],
    *,
    reference_moco: bool,
) -> tuple[FitResult, dict[str, float]]:
    """One baseline aligner on the frozen features with the priors ``priors`` (sec. 6);
    MoCo-clean keeps one spectrum per star in each batch."""
    model = job.build(lambda: baseline_model(kind, config, reference_moco))
    extra = baseline_identity(kind, priors, reference_moco)
    task = AlignerTask(model, **job.task_args(config, **extra))
    loaders = _feature_loaders(job, features, priors, star_unique=kind == "moco_clean")
    result = job.fit(task, *loaders)
    return result, result.losses
