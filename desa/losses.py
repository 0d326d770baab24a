"""Losses of the DESA pipeline: CQR + conformal calibration, DualFormer and SSL baselines.

Section numbers refer to ../shared/research/desa_reference.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

LossFn = TypeVar("LossFn", bound=Callable[..., torch.Tensor])


def in_fp32(loss: LossFn) -> LossFn:
    """Compute ``loss`` in fp32 whatever autocast is on: its sums of squares and covariance
    products lose several percent in bf16 (bench/precision.py measures it)."""

    @functools.wraps(loss)
    def fp32_loss(*args: object, **kwargs: object) -> torch.Tensor:
        def fp32(value: object) -> object:
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                return value.float()
            return value

        device = next(a.device.type for a in args if isinstance(a, torch.Tensor))
        with torch.autocast(device, enabled=False):
            return loss(*map(fp32, args), **{k: fp32(v) for k, v in kwargs.items()})

    return fp32_loss  # type: ignore[return-value]


__all__ = [
    "ConformalCorrections",
    "apply_calibration",
    "conformal_calibrate",
    "covariance_loss",
    "cqr_loss",
    "dual_projection_loss",
    "info_nce",
    "simsiam_loss",
    "vicreg_loss",
]

ArrayLike = np.ndarray | torch.Tensor


# --------------------------------------------------------------------------------------
# CQR (sec. 2 "CQR pinball", sec. 3 NaN labels, sec. 7 age head)
# --------------------------------------------------------------------------------------


@in_fp32
def cqr_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    quantiles: Sequence[float] | torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pinball (CQR) loss, a scalar.

    pred (B, L, Q), target (B, L), quantiles (Q,), weight (B,) or None.
    For each (sample b, label l) with a finite target (and a finite weight w_b):
        rho_bl = sum_q max((q - 1) e, q e),  e = target_bl - pred_blq   (sec. 2)
    and the result is
        sum_{(b,l) kept} w_b * rho_bl / n_kept
    i.e. the mean divides by the number of kept (sample, label) targets, not by B*L
    (the reference zeroes NaN losses and divides by B*L, sec. 3). The weight multiplies each
    sample's pinball loss with no renormalisation (SNR weighting, sec. 2); a sample whose
    weight is NaN or infinite (e.g. no SNR) is left out like an unknown target. The kept
    entries are selected before any arithmetic, so nothing unknown reaches the loss or its
    gradient (a masked NaN would still give NaN gradients: 0 * NaN). When nothing is kept
    the result is 0 (still attached to pred's graph).
    """
    if pred.ndim != 3 or target.shape != pred.shape[:2]:
        raise ValueError(
            f"pred must be (B, L, Q) and target (B, L); got {pred.shape}, {target.shape}"
        )
    q = torch.as_tensor(quantiles, dtype=pred.dtype, device=pred.device)
    if q.ndim != 1 or q.shape[0] != pred.shape[2]:
        raise ValueError(f"{q.numel()} quantiles for {pred.shape[2]} prediction columns")
    keep = torch.isfinite(target)
    if weight is not None:
        if weight.shape != (pred.shape[0],):
            raise ValueError(f"weight must be (B,) = ({pred.shape[0]},); got {tuple(weight.shape)}")
        keep = keep & torch.isfinite(weight).unsqueeze(-1)
    e = target[keep].to(pred.dtype).unsqueeze(-1) - pred[keep]  # (n_kept, Q)
    rho = torch.maximum((q - 1) * e, q * e).sum(-1)  # (n_kept,)
    if weight is not None:
        rho = rho * weight.unsqueeze(-1).expand_as(target)[keep].to(rho.dtype)
    return rho.sum() / keep.sum().clamp(min=1).to(rho.dtype)


# --------------------------------------------------------------------------------------
# Conformal calibration of the quantile pairs (sec. 2 "Conformal calibration", sec. 7)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConformalCorrections:
    """Corrections from `conformal_calibrate`.

    corrections: (L, n_pairs) float array; column p widens the pair pairs[p].
    pairs: (lo_index, hi_index) quantile columns, outermost pair first.
    quantiles: the quantile levels the predictions were made at.
    """

    corrections: np.ndarray
    pairs: tuple[tuple[int, int], ...]
    quantiles: tuple[float, ...]


def _symmetric_pairs(quantiles: Sequence[float]) -> tuple[tuple[int, int], ...]:
    """Column pairs (i, Q-1-i), outermost first; each must satisfy q_lo + q_hi = 1."""
    nq = len(quantiles)
    pairs = tuple((i, nq - 1 - i) for i in range(nq // 2))
    for lo, hi in pairs:
        if not (quantiles[lo] < quantiles[hi] and math.isclose(quantiles[lo] + quantiles[hi], 1.0)):
            raise ValueError(f"quantiles {list(quantiles)} are not sorted symmetric pairs")
    return pairs


def _to_numpy(a: ArrayLike) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def conformal_calibrate(
    pred_cal: ArrayLike,
    y_cal: ArrayLike,
    quantiles: Sequence[float] | ArrayLike,
    finite_sample: bool = True,
) -> ConformalCorrections:
    """Split-conformal (CQR) corrections per label and symmetric quantile pair.

    pred_cal (N, L, Q), y_cal (N, L). For the pair (q_lo, q_hi = 1 - q_lo) the score is
    s = max(lo - y, y - hi) over the calibration samples whose y is finite (per label).
    Coverage target 1 - alpha = q_hi - q_lo.
    finite_sample=True: correction = the k-th smallest score, k = ceil((n + 1)(1 - alpha)),
      i.e. the ceil((n+1)(1-alpha))/n empirical quantile (inf when k > n): coverage
      >= 1 - alpha on exchangeable data.
    finite_sample=False: np.quantile(s, q_hi - q_lo) (linear), as the reference does (sec. 2).
    Returns `ConformalCorrections` with corrections of shape (L, n_pairs).
    """
    p = _to_numpy(pred_cal).astype(np.float64)
    y = _to_numpy(y_cal).astype(np.float64)
    qs = tuple(float(v) for v in _to_numpy(quantiles).reshape(-1))
    if p.ndim != 3 or y.shape != p.shape[:2] or p.shape[2] != len(qs):
        raise ValueError(
            f"pred (N, L, Q={len(qs)}) and y (N, L) expected; got {p.shape}, {y.shape}"
        )
    pairs = _symmetric_pairs(qs)
    n_labels = p.shape[1]
    out = np.empty((n_labels, len(pairs)), dtype=np.float64)
    for label in range(n_labels):
        ok = np.isfinite(y[:, label])
        n = int(ok.sum())
        if n == 0:
            raise ValueError(f"label {label}: no finite calibration targets")
        yl = y[ok, label]
        for j, (lo, hi) in enumerate(pairs):
            s = np.maximum(p[ok, label, lo] - yl, yl - p[ok, label, hi])
            level = qs[hi] - qs[lo]  # 1 - alpha
            if finite_sample:
                k = math.ceil((n + 1) * level - 1e-12)  # tolerance for float round-off
                out[label, j] = np.inf if k > n else np.sort(s)[max(k, 1) - 1]
            else:
                out[label, j] = np.quantile(s, level)
    return ConformalCorrections(out, pairs, qs)


def apply_calibration(pred: ArrayLike, corrections: ConformalCorrections | ArrayLike) -> ArrayLike:
    """Widen each pair: lo - c, hi + c; the median (and any unpaired column) is untouched.

    pred (..., L, Q) numpy or torch (returned as the same kind, a new object);
    corrections a `ConformalCorrections` or a raw (L, n_pairs) array whose column p belongs
    to the quantile columns (p, Q-1-p).
    """
    if isinstance(corrections, ConformalCorrections):
        c = corrections.corrections
        pairs = corrections.pairs
    else:
        c = _to_numpy(corrections)
        pairs = tuple((i, pred.shape[-1] - 1 - i) for i in range(c.shape[1]))
    if c.shape[0] != pred.shape[-2] or c.shape[1] != len(pairs):
        raise ValueError(f"corrections {c.shape} do not fit predictions {tuple(pred.shape)}")
    if isinstance(pred, torch.Tensor):
        out_t = pred.clone()
        ct = torch.as_tensor(c, dtype=pred.dtype, device=pred.device)
        for j, (lo, hi) in enumerate(pairs):
            out_t[..., lo] = out_t[..., lo] - ct[:, j]
            out_t[..., hi] = out_t[..., hi] + ct[:, j]
        return out_t
    out = np.array(pred, dtype=np.result_type(pred, np.float64), copy=True)
    for j, (lo, hi) in enumerate(pairs):
        out[..., lo] -= c[:, j]
        out[..., hi] += c[:, j]
    return out


# --------------------------------------------------------------------------------------
# DualFormer losses (sec. 4 "Losses")
# --------------------------------------------------------------------------------------


def _cov(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batch-centred (cross-)covariance aᵀb/(B-1)."""
    a = a - a.mean(0, keepdim=True)
    b = b - b.mean(0, keepdim=True)
    return a.T @ b / (a.shape[0] - 1)


def _off_diag_sq(c: torch.Tensor) -> torch.Tensor:
    """Sum over i != j of c_ij²."""
    return c.pow(2).sum() - torch.diagonal(c).pow(2).sum()


@in_fp32
def covariance_loss(
    x: torch.Tensor, y: torch.Tensor | None = None, *, cross: bool = True
) -> torch.Tensor:
    """Covariance (decorrelation) loss (sec. 4).

    x, y (B, d). C = XᵀX/(B-1) of the batch-centred X;
        L = sum_{i!=j} Cx_ij²/d  [+ sum_{i!=j} Cy_ij²/d  + sum_{i!=j} Cxy_ij²/d  if y given]
    with Cxy = XᵀY/(B-1). cross=False drops the between-branch term, reproducing the
    reference's bug (the `+` line Python discards, sec. 4).
    """
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must be (B >= 2, d); got {tuple(x.shape)}")
    d = x.shape[1]
    loss = _off_diag_sq(_cov(x, x)) / d
    if y is not None:
        if y.shape != x.shape:
            raise ValueError(f"y must have x's shape {tuple(x.shape)}; got {tuple(y.shape)}")
        loss = loss + _off_diag_sq(_cov(y, y)) / d
        if cross:
            loss = loss + _off_diag_sq(_cov(x, y)) / d
    return loss


@in_fp32
def dual_projection_loss(h_spec: torch.Tensor, h_lc: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """mean_b (h_specᵀ W h_spec - h_lcᵀ W h_lc)² (sec. 4 "Dual-projection loss"; paper eq. 3).

    h_spec, h_lc (B, d): the vectors *before* the projection (the DualFormer's pooled
    features with the priors appended), W (d, d). The loss is quadratic in W and only
    (W + Wᵀ)/2 enters; pass the projections W h instead and it would be cubic in W.
    """
    if h_spec.shape != h_lc.shape or W.shape != (h_spec.shape[1], h_spec.shape[1]):
        raise ValueError(
            f"h_spec, h_lc (B, d) and W (d, d) expected; got {tuple(h_spec.shape)}, "
            f"{tuple(h_lc.shape)}, {tuple(W.shape)}"
        )
    a = torch.einsum("bi,ij,bj->b", h_spec, W, h_spec)
    b = torch.einsum("bi,ij,bj->b", h_lc, W, h_lc)
    return (a - b).pow(2).mean()


# --------------------------------------------------------------------------------------
# SSL baselines (sec. 3 light-curve SimSiam, sec. 6 MoCo / SimSiam / VICReg)
# --------------------------------------------------------------------------------------


@in_fp32
def simsiam_loss(
    p1: torch.Tensor, z2: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor
) -> torch.Tensor:
    """0.5 (D(p1, z2) + D(p2, z1)), D(p, z) = -mean_b cos(p_b, stopgrad(z_b)) (sec. 3, 6)."""

    def neg_cos(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return -F.cosine_similarity(p, z.detach(), dim=-1).mean()

    return 0.5 * (neg_cos(p1, z2) + neg_cos(p2, z1))


@in_fp32
def vicreg_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    *,
    eps: float = 1e-4,
) -> torch.Tensor:
    """Standard VICReg (Bardes et al. 2022; sec. 6 uses 25/25/0.1).

    sim = mean((x - y)²)
    var = mean_j relu(1 - sqrt(Var(x_j) + eps))/2 + same for y   (unbiased variance)
    cov = sum_{i!=j} Cx_ij²/d + sum_{i!=j} Cy_ij²/d            (no cross term)
    L = sim_weight*sim + var_weight*var + cov_weight*cov.
    """
    if x.shape != y.shape or x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(
            f"x and y must be the same (B >= 2, d); got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    sim = F.mse_loss(x, y)
    std_x = torch.sqrt(x.var(dim=0) + eps)
    std_y = torch.sqrt(y.var(dim=0) + eps)
    var = F.relu(1 - std_x).mean() / 2 + F.relu(1 - std_y).mean() / 2
    cov = covariance_loss(x, y, cross=False)
    return sim_weight * sim + var_weight * var + cov_weight * cov


@in_fp32
def info_nce(
    q: torch.Tensor,
    k: torch.Tensor,
    temperature: float = 0.07,
    queue: torch.Tensor | None = None,
    *,
    normalize: bool = True,
) -> torch.Tensor:
    """MoCo-style InfoNCE (sec. 6).

    q, k (B, d); queue (K, d) of extra negatives or None. Logits = [q kᵀ, q queueᵀ] / T
    (B, B + K); the positive of row b is column b (the diagonal), every other key in the
    batch and every queue entry is a negative; loss = mean cross-entropy. With normalize,
    q, k and queue are L2-normalised first (cosine logits). Keys are not detached: detach
    them (or produce them under no_grad with a momentum encoder) in the caller.
    """
    if q.ndim != 2 or q.shape != k.shape:
        raise ValueError(f"q and k must be the same (B, d); got {tuple(q.shape)}, {tuple(k.shape)}")
    if normalize:
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
    logits = q @ k.T
    if queue is not None:
        if queue.ndim != 2 or queue.shape[1] != q.shape[1]:
            raise ValueError(f"queue must be (K, {q.shape[1]}); got {tuple(queue.shape)}")
        neg = F.normalize(queue, dim=-1) if normalize else queue
        logits = torch.cat([logits, q @ neg.T], dim=1)
    labels = torch.arange(q.shape[0], device=q.device)
    return F.cross_entropy(logits / temperature, labels)
