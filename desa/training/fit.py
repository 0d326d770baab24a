"""Run a training task with Lightning: resumable, early-stopped, logged to CSV.

Checkpoints go to a folder named by the stage's cache key: ``last.ckpt`` after every epoch
(resumed from when the run is started again) and ``best.ckpt`` (lowest validation loss),
which the caller publishes. Checkpoints are written at epoch ends only, so a resumed run
starts at an epoch boundary and, with the step seeding of `desa.training.tasks` and the
(seed, epoch) samplers of `desa.training.data`, repeats the uninterrupted run exactly.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fsspec
import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from desa.training.checkpoints import check_identity, read_checkpoint
from desa.training.config import LoopConfig, TrainingConfig
from desa.training.tasks import TrainTask

LAST, BEST = "last.ckpt", "best.ckpt"


class EmptySplitError(ValueError):
    """A training or validation split has no usable samples."""


@dataclass
class FitResult:
    best_path: str
    history: list[dict[str, float]]  # per epoch: epoch, train_loss, val_loss, other metrics
    resumed_at_epoch: int | None  # the epoch a killed run was resumed at, if any

    @property
    def losses(self) -> dict[str, float]:
        first, last = self.history[0], self.history[-1]
        return {
            "epochs": len(self.history),
            "first_train_loss": first["train_loss"],
            "last_train_loss": last["train_loss"],
            "first_val_loss": first["val_loss"],
            "best_val_loss": min(h["val_loss"] for h in self.history),
        }


@dataclass
class EpochHistory(Callback):
    """Per-epoch metrics (losses, their terms and whatever else the task logs per epoch, e.g.
    the DualFormer's ‖W‖), reported as they come and kept in the checkpoints (so a resumed
    run reports the whole history; the best checkpoint holds the rows up to its epoch)."""

    report: Callable[[str], None]
    name: str
    on_epoch: Callable[[int, int], None] | None = None  # (epochs done, max epochs)
    rows: list[dict[str, float]] = field(default_factory=list)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        row = {
            "epoch": trainer.current_epoch,
            "train_loss": float(metrics["train_loss"]),
            "val_loss": float(metrics["val_loss"]),
            **{
                k: float(v)
                for k, v in sorted(metrics.items())
                if k not in ("train_loss", "val_loss")
            },
        }
        self.rows.append(row)
        self.report(
            f"{self.name} epoch {row['epoch']}: train {row['train_loss']:.5g}, "
            f"val {row['val_loss']:.5g}"
        )
        if self.on_epoch is not None:
            self.on_epoch(trainer.current_epoch + 1, trainer.max_epochs)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])


def checkpoint_history(checkpoint: dict[str, Any]) -> list[dict[str, float]]:
    """The per-epoch rows kept in a checkpoint by `EpochHistory` (empty if none)."""
    for key, state in checkpoint.get("callbacks", {}).items():
        if key.startswith(EpochHistory.__name__):
            return list(state["rows"])
    return []


def resolve_precision(training: TrainingConfig) -> str:
    """`auto`: bf16 autocast on CUDA, full fp32 elsewhere."""
    if training.precision != "auto":
        return training.precision
    on_cuda = training.accelerator != "cpu" and torch.cuda.is_available()
    return "bf16-mixed" if on_cuda else "32-true"


def fit(
    task: TrainTask,
    train: DataLoader,
    val: DataLoader,
    *,
    name: str,
    checkpoint_dir: str,
    loop: LoopConfig,
    training: TrainingConfig,
    log: Callable[[str], None] = print,
    on_epoch: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Train ``task`` (resuming from ``checkpoint_dir``/last.ckpt when present; any fsspec URL).

    A checkpoint there made with another identity (config, settings or data) is refused
    with `CheckpointError`; nothing in the folder is touched. ``on_epoch(epochs done,
    max_epochs)`` is called as each epoch ends (a resumed run starts past zero).
    """
    for split, loader in (("train", train), ("val", val)):
        if len(loader) == 0:
            raise EmptySplitError(f"{name}: the {split} split has no batches to train on")
    fs, folder = fsspec.core.url_to_fs(checkpoint_dir)
    last = f"{folder}/{LAST}"
    resume = fs.exists(last)
    resumed_at = None
    if resume:
        checkpoint = read_checkpoint(fs, last)
        check_identity(checkpoint, task.identity, last)
        resumed_at = int(checkpoint["epoch"]) + 1
        log(f"{name}: resuming from {last} at epoch {resumed_at}")
    with warnings.catch_warnings(), _quiet_lightning():
        for noise in ("many workers", "bottleneck", "exists and is not empty", "LeafSpec"):
            warnings.filterwarnings("ignore", message=f".*{noise}.*")
        history = EpochHistory(log, name, on_epoch)
        trainer = L.Trainer(
            max_epochs=loop.max_epochs,
            accelerator=training.accelerator,
            devices=training.devices,
            precision=resolve_precision(training),
            deterministic=training.deterministic,
            callbacks=[
                ModelCheckpoint(
                    dirpath=checkpoint_dir,
                    filename=BEST.removesuffix(".ckpt"),
                    monitor="val_loss",
                    mode="min",
                    save_top_k=1,
                    save_last=True,
                    enable_version_counter=False,
                ),
                EarlyStopping(monitor="val_loss", mode="min", patience=loop.patience),
                history,
            ],
            logger=CSVLogger(checkpoint_dir, name="logs", version=0),
            default_root_dir=checkpoint_dir,
            limit_train_batches=loop.max_batches_per_epoch or 1.0,
            num_sanity_val_steps=0,
            log_every_n_steps=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            use_distributed_sampler=False,  # our samplers split batches by rank themselves
        )
        trainer.fit(task, train, val, ckpt_path=f"{checkpoint_dir}/{LAST}" if resume else None)
    return FitResult(f"{checkpoint_dir}/{BEST}", history.rows, resumed_at)


class _quiet_lightning:
    """Lightning announces devices and precision at INFO on every Trainer; keep it to WARNING."""

    names = ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero")

    def __enter__(self) -> None:
        self.levels = {n: logging.getLogger(n).level for n in self.names}
        for n in self.names:
            logging.getLogger(n).setLevel(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        for n, level in self.levels.items():
            logging.getLogger(n).setLevel(level)
