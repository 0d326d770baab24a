"""Lightning fits: losses fall, resume equals an uninterrupted run, bad runs fail clearly."""

from __future__ import annotations

import fsspec
import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from desa.models.dualformer import DualFormer, DualFormerConfig, w_diagnostics
from desa.models.heads import BinaryHead, HeadConfig
from desa.models.layers import Standardize
from desa.training.checkpoints import CheckpointError, model_state, read_checkpoint
from desa.training.config import LoopConfig, TrainingConfig
from desa.training.data import ArrayBatches, ChunkBatchSampler, batch_loader
from desa.training.fit import LAST, EmptySplitError, checkpoint_history, fit
from desa.training.tasks import DualFormerTask, HeadTask

CONFIG = HeadConfig(in_dim=4, hidden=8, dropout=0.2)  # dropout: the RNG matters on resume
LOOP = LoopConfig(max_epochs=6, batch_size=8, lr=1e-2, patience=50)
TRAINING = TrainingConfig(accelerator="cpu", deterministic=True, seed=7)


def _data(n: int, seed: int) -> ArrayBatches:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("f4")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("f4")
    return ArrayBatches({"x": x, "y": y, "kic": np.arange(n)})


def _loaders(n_train: int = 64, n_val: int = 24):
    train, val = _data(n_train, 0), _data(n_val, 1)
    sample = lambda d, s: ChunkBatchSampler(np.zeros(len(d)), 8, shuffle=s, seed=7, min_batch=2)  # noqa: E731
    return batch_loader(train, sample(train, True)), batch_loader(val, sample(val, False))


def _task(identity: dict | None = None) -> HeadTask:
    torch.manual_seed(0)
    model = nn.Sequential(Standardize(torch.zeros(4), torch.ones(4)), BinaryHead(CONFIG))
    return HeadTask(
        model,
        lr=LOOP.lr,
        weight_decay=LOOP.weight_decay,
        max_epochs=LOOP.max_epochs,
        seed=TRAINING.seed,
        identity=identity or {"config": "toy"},
    )


def _fit(task: HeadTask, folder, callbacks=()):
    train, val = _loaders()
    return fit(
        task,
        train,
        val,
        name="toy",
        checkpoint_dir=str(folder),
        loop=LOOP,
        training=TRAINING,
        log=lambda _: None,
    )


def _weights(path) -> dict[str, torch.Tensor]:
    import fsspec

    fs, p = fsspec.core.url_to_fs(str(path))
    return model_state(read_checkpoint(fs, p))


def test_fit_lowers_the_loss_and_keeps_a_complete_checkpoint(tmp_path) -> None:
    result = _fit(_task(), tmp_path)
    assert len(result.history) == LOOP.max_epochs and result.resumed_at_epoch is None
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    import fsspec

    fs, path = fsspec.core.url_to_fs(result.best_path)
    checkpoint = read_checkpoint(fs, path)
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step", "epoch"):
        assert key in checkpoint
    assert checkpoint["desa"]["identity"] == {"config": "toy"}
    assert set(checkpoint["desa"]["rng"]) >= {"torch", "numpy", "python"}
    assert (tmp_path / "logs" / "version_0" / "metrics.csv").is_file()


class _Killed(Exception):
    pass


class _KillAtEpoch(L.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise _Killed


def test_a_run_stopped_mid_training_resumes_to_the_same_weights(tmp_path, monkeypatch) -> None:
    whole = _fit(_task(), tmp_path / "whole")

    # Stop the second run as it starts epoch 3 (epochs 0-2 are checkpointed), then restart.
    original = L.Trainer.__init__

    def with_kill(self, *args, **kwargs):
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), _KillAtEpoch(3)]
        original(self, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "__init__", with_kill)
    with pytest.raises(_Killed):
        _fit(_task(), tmp_path / "split")
    monkeypatch.setattr(L.Trainer, "__init__", original)
    torch.manual_seed(123)  # a different global RNG state must not matter
    resumed = _fit(_task(), tmp_path / "split")

    assert resumed.resumed_at_epoch == 3
    assert [h["epoch"] for h in resumed.history] == list(range(LOOP.max_epochs))
    a, b = _weights(whole.best_path), _weights(resumed.best_path)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6, rtol=0), name
    rows = [(h["epoch"], h["train_loss"], h["val_loss"]) for h in resumed.history]
    expected = [(h["epoch"], h["train_loss"], h["val_loss"]) for h in whole.history]
    assert np.allclose(rows, expected, atol=1e-6, rtol=0)


def test_a_checkpoint_of_another_identity_is_refused_and_left_alone(tmp_path) -> None:
    _fit(_task({"config": "a"}), tmp_path)
    before = (tmp_path / LAST).read_bytes()
    with pytest.raises(CheckpointError, match="another configuration"):
        _fit(_task({"config": "b"}), tmp_path)
    assert (tmp_path / LAST).read_bytes() == before


def test_empty_splits_are_a_clear_error(tmp_path) -> None:
    empty = ArrayBatches({"x": np.zeros((0, 4), "f4"), "y": np.zeros(0, "f4")})
    loader = batch_loader(empty, ChunkBatchSampler(np.zeros(0), 8, shuffle=False))
    train, _ = _loaders()
    with pytest.raises(EmptySplitError, match="val split"):
        fit(
            _task(),
            train,
            loader,
            name="toy",
            checkpoint_dir=str(tmp_path),
            loop=LOOP,
            training=TRAINING,
        )
    assert not (tmp_path / LAST).exists()


def test_fit_reports_each_epoch_done_out_of_max_epochs(tmp_path) -> None:
    loop = LOOP.model_copy(update={"max_epochs": 3})
    calls: list[tuple[int, int]] = []
    train, val = _loaders()
    fit(
        _task(),
        train,
        val,
        name="toy",
        checkpoint_dir=str(tmp_path),
        loop=loop,
        training=TRAINING,
        log=lambda _: None,
        on_epoch=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_dualformer_fit_logs_w_and_the_loss_terms_per_epoch(tmp_path) -> None:
    cfg = DualFormerConfig.demo()
    rng = np.random.default_rng(0)

    def pairs(n: int) -> ArrayBatches:
        return ArrayBatches(
            {
                "spec": rng.normal(size=(n, cfg.spec_tokens)).astype("f4"),
                "lc": rng.normal(size=(n, cfg.lc_tokens)).astype("f4"),
                "priors": rng.normal(size=(n, cfg.n_priors)).astype("f4"),
                "kic": np.arange(n),
            }
        )

    train, val = pairs(32), pairs(16)
    sample = lambda d: ChunkBatchSampler(np.zeros(len(d)), 8, shuffle=False, min_batch=2)  # noqa: E731
    torch.manual_seed(0)
    task = DualFormerTask(
        DualFormer(cfg), lr=1e-3, weight_decay=0.0, max_epochs=3, seed=1, identity={}
    )
    result = fit(
        task,
        batch_loader(train, sample(train)),
        batch_loader(val, sample(val)),
        name="dual",
        checkpoint_dir=str(tmp_path),
        loop=LOOP.model_copy(update={"max_epochs": 3}),
        training=TRAINING,
        log=lambda _: None,
    )
    wanted = {"w_norm", "w_eig", "train_cov", "train_dual", "val_cov", "val_dual"}
    assert len(result.history) == 3
    for row in result.history:
        assert wanted <= row.keys() and all(np.isfinite(row[k]) for k in wanted)
    # the last epoch's W diagnostics are those of the trained W
    last = w_diagnostics(task.model.W)
    assert result.history[-1]["w_norm"] == pytest.approx(last["w_norm"], rel=1e-5)
    assert result.history[-1]["w_eig"] == pytest.approx(last["w_eig"], rel=1e-5)
    # the CSV log has one row per epoch with every column
    log = pd.read_csv(tmp_path / "logs" / "version_0" / "metrics.csv")
    assert wanted <= set(log.columns)
    assert log.groupby("epoch")["w_norm"].count().tolist() == [1, 1, 1]
    # the best checkpoint keeps the history up to its own epoch
    fs, path = fsspec.core.url_to_fs(result.best_path)
    checkpoint = read_checkpoint(fs, path)
    assert checkpoint_history(checkpoint) == result.history[: checkpoint["epoch"] + 1]
