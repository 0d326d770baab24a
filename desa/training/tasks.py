"""Thin LightningModules around the plain `desa.models` modules: one per training objective.

Lightning runs the loops (devices, precision, checkpoints, early stopping, logs); each task
only says how a batch becomes a loss. Every step reseeds the global RNG from (seed, step),
so masks, crops and dropout of step n are the same in a run resumed from a checkpoint as in
an uninterrupted one; the RNG state is also saved in every checkpoint.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from desa.models.baselines import MoCoAligner, SimSiamAligner, VICRegAligner
from desa.models.dualformer import DualFormer, w_diagnostics
from desa.models.heads import AgeHead, BinaryHead, age_loss, binary_loss
from desa.models.lightcurves import LightCurveEncoder, PeriodHead, SimSiamHead, simsiam_step
from desa.models.spectra import SpectraModel, hybrid_loss, mask_pixels

TEFF_SCALE_K = 5778.0  # spectra labels are Teff / 5778 K, logg, [Fe/H] (desa_reference.md sec. 2)


class NonFiniteBatchError(ValueError):
    """A batch produced a NaN or infinite input or loss; the message names its objects."""


def _rng_state() -> dict[str, Any]:
    """Plain types and tensors only, so the checkpoint loads with ``weights_only=True``."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (name, keys.tolist(), pos, has_gauss, cached),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainTask(L.LightningModule):
    """Shared loop plumbing: optimiser, schedule, step seeding, finiteness checks, identity.

    ``identity`` (model config, training settings, data fingerprint) is stored in every
    checkpoint under ``"desa"`` with the RNG state, so a checkpoint can be checked against
    the run that wants to resume from it.
    """

    key_names: Sequence[str] = ()  # batch entries that identify objects in error messages

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float,
        weight_decay: float,
        max_epochs: int,
        seed: int,
        identity: dict[str, Any],
    ) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay, self.max_epochs = lr, weight_decay, max_epochs
        self.seed, self.identity = seed, identity

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms of one batch; ``"loss"`` is the one optimised."""
        raise NotImplementedError

    def _describe(self, batch: dict[str, torch.Tensor]) -> str:
        parts = [f"{k}={batch[k][:5].tolist()}" for k in self.key_names if k in batch]
        return ", ".join(parts) or "unidentified objects"

    def _check_inputs(self, batch: dict[str, torch.Tensor], names: Sequence[str]) -> None:
        for name in names:
            bad = ~torch.isfinite(batch[name]).reshape(len(batch[name]), -1).all(-1)
            if bad.any():
                which = {k: batch[k][bad][:5].tolist() for k in self.key_names if k in batch}
                raise NonFiniteBatchError(f"NaN or inf in {name!r} of {which or 'a batch'}")

    def _losses(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        terms = self.batch_loss(batch)
        if not torch.isfinite(terms["loss"]):
            raise NonFiniteBatchError(
                f"{stage} loss is {terms['loss'].item()} at step {self.global_step} "
                f"(epoch {self.current_epoch}) on {self._describe(batch)}"
            )
        size = len(next(iter(batch.values())))
        for name, value in terms.items():
            self.log(f"{stage}_{name}", value, on_step=False, on_epoch=True, batch_size=size)
        return terms["loss"]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self.seed * 1_000_003 + self.global_step)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._losses(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        torch.manual_seed(self.seed * 1_000_003 - 1 - batch_idx)  # same masks every epoch
        return self._losses(batch, "val")

    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=self.max_epochs, eta_min=self.lr / 10
        )
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["desa"] = {"identity": self.identity, "rng": _rng_state()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        _set_rng_state(checkpoint["desa"]["rng"])


class SpectraTask(TrainTask):
    """Masked filling + SNR-weighted CQR on Teff/5778, logg, [Fe/H] (sec. 2)."""

    key_names = ("obsid",)

    def __init__(self, model: SpectraModel, *, ssl_weight: float, mask_rate: float, **kw) -> None:
        super().__init__(model, **kw)
        self.ssl_weight, self.mask_rate = ssl_weight, mask_rate

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._check_inputs(batch, ["flux"])
        flux = batch["flux"]
        masked, mask = mask_pixels(flux, self.mask_rate)
        out = self.model(masked)
        loss = hybrid_loss(
            out.reconstruction,
            flux,
            out.quantiles,
            batch["labels"],
            self.model.cfg.quantiles,
            mask,
            batch["snr"],
            self.ssl_weight,
        )
        return {"loss": loss.total, "ssl": loss.ssl, "sup": loss.sup}


class LightCurveModel(nn.Module):
    """The light-curve encoder with its SimSiam predictor and period head (sec. 3)."""

    def __init__(self, encoder: LightCurveEncoder) -> None:
        super().__init__()
        self.cfg = encoder.cfg
        self.encoder = encoder
        self.predictor = SimSiamHead(encoder.cfg)
        self.period = PeriodHead(encoder.cfg)


class LightCurveTask(TrainTask):
    """SimSiam on two random crops + CQR on Prot / 70 d (sec. 3)."""

    key_names = ("kic",)

    def __init__(self, model: LightCurveModel, *, ssl_weight: float, **kw) -> None:
        super().__init__(model, **kw)
        self.ssl_weight = ssl_weight

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        m = self.model
        loss = simsiam_step(
            m.encoder,
            m.predictor,
            batch["flux"],
            period_head=m.period,
            prot_days=batch["prot"],
            ssl_weight=self.ssl_weight,
        )
        return {"loss": loss}


class DualFormerTask(TrainTask):
    """0.5 dual-projection + 0.5 covariance loss on frozen-encoder features (sec. 4).

    Logs per epoch, beside the train/val loss terms (``*_dual``, ``*_cov``), ‖W‖
    (``w_norm``) and W's leading |λ| (``w_eig``) after the epoch's steps: with no variance
    term W -> 0 would make both losses vanish, and these show whether it happens.
    """

    key_names = ("obsid", "kic")

    def __init__(self, model: DualFormer, **kw) -> None:
        super().__init__(model, **kw)

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._check_inputs(batch, ["spec", "lc"])
        terms = self.model.loss_terms(self.model(batch["spec"], batch["lc"], batch["priors"]))
        return {"loss": terms["total"], "dual": terms["dual"], "cov": terms["cov"]}

    def on_validation_epoch_end(self) -> None:
        # Validation closes every epoch (before its checkpoint), so W is the epoch's final W.
        for name, value in w_diagnostics(self.model.W).items():
            self.log(name, value, on_step=False, on_epoch=True)


class AlignerTask(TrainTask):
    """A baseline aligner (MoCo, SimSiam, VICReg) on frozen-encoder features (sec. 6)."""

    key_names = ("obsid", "kic")

    def __init__(self, model: MoCoAligner | SimSiamAligner | VICRegAligner, **kw) -> None:
        super().__init__(model, **kw)

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._check_inputs(batch, ["spec", "lc"])
        return {"loss": self.model.loss(batch["spec"], batch["lc"], batch["priors"])}


class HeadTask(TrainTask):
    """A fine-tuning head on fixed embeddings (sec. 7): ``model`` ends in a `BinaryHead`
    (BCE, positives weighted by ``pos_weight``) or an `AgeHead` (CQR on the age in Gyr)."""

    key_names = ("kic",)

    def __init__(self, model: nn.Sequential, *, pos_weight: float | None = None, **kw) -> None:
        super().__init__(model, **kw)
        head = model[-1]
        if not isinstance(head, BinaryHead | AgeHead):
            raise TypeError(f"a head task ends in BinaryHead or AgeHead, not {type(head)}")
        self.binary, self.quantiles = isinstance(head, BinaryHead), head.cfg.quantiles
        self.pos_weight = pos_weight

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._check_inputs(batch, ["x"])
        out = self.model(batch["x"])
        if self.binary:
            return {"loss": binary_loss(out, batch["y"], self.pos_weight)}
        return {"loss": age_loss(out, batch["y"], self.quantiles)}
