"""Fine-tuning heads: binary classification and age with calibrated CQR intervals.

desa_reference.md §7. The reference `FineTuner` puts an 8-layer Transformer over the 524
scalars of cat(proj1, proj2); here a head is a small MLP on the (frozen or fine-tuned)
embedding -- Linear(in_dim, hidden)-GELU-Dropout-Linear -- so it can sit on any of the
head input dims of §7 (DESA 524, MoCo 512, SimSiam 64, VICReg 1024, LC 256, Spec 2048).
Deliberate departures from the reference defects (§7):

- Binary ("binary vs single"): one logit with BCE-with-logits instead of 2 logits with
  CrossEntropy (equivalent model, one fewer degree of freedom); missing labels are NaN and
  contribute nothing (no silent relabelling).
- Age: quantiles of the age itself in Gyr (the reference regresses age/11 and also the age
  error), missing targets NaN rather than -1 (which the reference trains on as a real age);
  the quantiles are monotone by construction; conformal calibration on a held-out split is
  part of the API (the reference's `fit` is commented out).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from desa.losses import ConformalCorrections, apply_calibration, conformal_calibrate, cqr_loss
from desa.models.configs import HeadConfig
from desa.models.layers import TargetScaling

__all__ = [
    "AgeHead",
    "BinaryHead",
    "CalibratedAgeModel",
    "HeadConfig",
    "age_loss",
    "binary_loss",
    "interval_coverage",
]


def _mlp(cfg: HeadConfig, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(cfg.in_dim, cfg.hidden),
        nn.GELU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.hidden, out_dim),
    )


def _check_input(x: torch.Tensor, in_dim: int) -> None:
    if x.ndim != 2 or x.shape[1] != in_dim:
        raise ValueError(f"embedding must be (B, {in_dim}); got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("embedding contains NaN or inf")


# --------------------------------------------------------------------------------------
# Binary vs single
# --------------------------------------------------------------------------------------


class BinaryHead(nn.Module):
    """Embedding (B, in_dim) -> logit (B,) of P(binary)."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = _mlp(cfg, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.cfg.in_dim)
        return self.net(x).squeeze(-1)


def binary_loss(
    logits: torch.Tensor, labels: torch.Tensor, pos_weight: float | torch.Tensor | None = None
) -> torch.Tensor:
    """Mean BCE-with-logits over the finite labels (0/1); NaN labels contribute nothing.

    logits, labels (B,). pos_weight multiplies the positive term (class imbalance). With no
    finite label the result is 0, still attached to the graph.
    """
    if logits.shape != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} differ")
    labels = labels.to(logits.dtype)
    valid = ~torch.isnan(labels)
    if not ((labels[valid] == 0) | (labels[valid] == 1)).all():
        raise ValueError("labels must be 0, 1 or NaN")
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=logits.dtype)
    per = F.binary_cross_entropy_with_logits(logits, safe, reduction="none", pos_weight=pw)
    per = torch.where(valid, per, torch.zeros_like(per))
    return per.sum() / valid.sum().clamp(min=1).to(per.dtype)


# --------------------------------------------------------------------------------------
# Age (CQR) with conformal calibration
# --------------------------------------------------------------------------------------


class AgeHead(nn.Module):
    """Embedding (B, in_dim) -> age quantiles in Gyr, (B, 1, Q), monotone in q.

    The MLP emits Q numbers [m, d_1 .. d_{Q-1}]: m is the median; the columns above it are
    m + cumsum(softplus(d)) outward, the columns below m - cumsum(softplus(d)) outward, so
    the quantiles never cross, for any input and any weights (the reference's plain linear
    output allows crossing). In exact arithmetic they are strictly increasing; in floating
    point they are guaranteed non-decreasing (a gap can round to 0 only when softplus
    underflows, i.e. pre-activations below about -17 in float32).
    """

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = _mlp(cfg, len(cfg.quantiles))
        self.target = TargetScaling(1)  # Gyr around the training ages (identity until fit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.cfg.in_dim)
        return self.target(self._quantiles(x).unsqueeze(1))

    def _quantiles(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.net(x)  # (B, Q)
        k = self.cfg.median_index
        median = raw[:, :1]
        gaps = F.softplus(raw[:, 1:])  # (B, Q-1) > 0
        lower = median - torch.cumsum(gaps[:, :k], dim=1)  # outward from the median
        upper = median + torch.cumsum(gaps[:, k:], dim=1)
        return torch.cat([lower.flip(1), median, upper], dim=1)


def age_loss(
    pred: torch.Tensor,
    age_gyr: torch.Tensor,
    quantiles: Sequence[float],
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """CQR pinball loss (`desa.losses.cqr_loss`).

    pred (B, 1, Q), age (B,) or (B, 1) in Gyr; NaN ages contribute nothing.
    """
    if age_gyr.ndim == 1:
        age_gyr = age_gyr.unsqueeze(-1)
    return cqr_loss(pred, age_gyr.to(pred.dtype), quantiles, weight)


def _as_np(a: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _pred_y(pred, y) -> tuple[np.ndarray, np.ndarray]:
    p = _as_np(pred).astype(np.float64)
    yy = _as_np(y).astype(np.float64)
    if yy.ndim == 1:
        yy = yy[:, None]
    if p.ndim != 3 or yy.shape != p.shape[:2]:
        raise ValueError(f"pred (N, L, Q) and y (N,) or (N, L) expected; got {p.shape}, {yy.shape}")
    return p, yy


def interval_coverage(
    pred: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, quantiles: Sequence[float]
) -> dict[tuple[float, float], float]:
    """Empirical coverage of each symmetric pair: {(q_lo, q_hi): fraction of lo <= y <= hi}.

    pred (N, L, Q), y (N,) or (N, L); NaN targets are skipped (pooled over labels).
    Nominal coverage of a pair is q_hi - q_lo.
    """
    p, yy = _pred_y(pred, y)
    qs = tuple(float(v) for v in quantiles)
    nq = len(qs)
    if p.shape[2] != nq:
        raise ValueError(f"{nq} quantiles for {p.shape[2]} prediction columns")
    ok = np.isfinite(yy)
    if not ok.any():
        raise ValueError("no finite targets")
    out: dict[tuple[float, float], float] = {}
    for i in range(nq // 2):
        lo, hi = p[..., i], p[..., nq - 1 - i]
        inside = (yy >= lo) & (yy <= hi)
        out[(qs[i], qs[nq - 1 - i])] = float(inside[ok].mean())
    return out


class CalibratedAgeModel:
    """An `AgeHead` plus split-conformal corrections fitted on a held-out calibration split.

    Usage: train the head on the training split; `calibrate(head_pred_on_cal, age_cal)`
    (never the training split); then `predict(x)` returns (N, 1, Q) with each symmetric pair
    widened (or narrowed, for a negative correction) and the median column untouched.
    """

    def __init__(self, head: AgeHead) -> None:
        self.head = head
        self.quantiles = head.cfg.quantiles
        self.corrections: ConformalCorrections | None = None

    @torch.no_grad()
    def raw_predict(self, x: torch.Tensor) -> torch.Tensor:
        """Uncalibrated head output (N, 1, Q), in eval mode (no dropout)."""
        was_training = self.head.training
        self.head.eval()
        try:
            return self.head(x)
        finally:
            self.head.train(was_training)

    def calibrate(
        self,
        pred_cal: np.ndarray | torch.Tensor,
        y_cal: np.ndarray | torch.Tensor,
        finite_sample: bool = True,
    ) -> ConformalCorrections:
        """Store corrections from head predictions (N, 1, Q) and ages (N,) of the cal split."""
        p, yy = _pred_y(pred_cal, y_cal)
        self.corrections = conformal_calibrate(p, yy, self.quantiles, finite_sample=finite_sample)
        return self.corrections

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated quantiles (N, 1, Q) in Gyr; raises if `calibrate` has not been run."""
        if self.corrections is None:
            raise RuntimeError("CalibratedAgeModel.predict before calibrate()")
        return apply_calibration(self.raw_predict(x), self.corrections)

    def coverage(
        self, pred: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor
    ) -> dict[tuple[float, float], float]:
        """`interval_coverage` with this model's quantiles."""
        return interval_coverage(pred, y, self.quantiles)
