"""Alignment baselines on the same frozen encoders (desa_reference.md sec. 6).

All aligners take *features* of the frozen spectra and light-curve encoders (spectra feature
(B, spec_dim), light-curve feature (B, lc_dim)) and detach them, so no gradient ever reaches
the encoders. Like the DualFormer, every aligner is given the priors (B, n_priors), NaN when
unknown: encoded as values plus missing-indicators (`encode_priors`) and appended to both
features before the projection heads, so each head reads (feature, encoded priors). The
reference's shared 14.7 M-parameter token Transformer projector is replaced by one MLP
projection head per modality (``ProjectionHead``); the losses are the reference's.

- ``MoCoAligner``: query heads trained by gradient, key heads updated by momentum (EMA) and a
  FIFO queue of past keys per modality. ``reference=True`` reproduces the reference: key heads
  a separately initialised frozen copy, no momentum update, no queue (sec. 6).
- ``SimSiamAligner``: projector + predictor, symmetric negative cosine with stop-gradient.
- ``VICRegAligner``: VICReg between the two projected modalities (25 / 25 / 0.1).
- The unimodal baselines ("only spectra" / "only light curve") are the fine-tuning heads
  of `desa.training.finetune` on one encoder's frozen features with the encoded priors
  appended (the reference's ``UniModalFineTuner``); they need no aligner.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from desa.losses import info_nce, simsiam_loss, vicreg_loss
from desa.models.configs import BASELINES, BaselineConfig
from desa.models.dualformer import encode_priors

__all__ = [
    "BASELINES",
    "BaselineConfig",
    "MoCoAligner",
    "ProjectionHead",
    "SimSiamAligner",
    "VICRegAligner",
]


class ProjectionHead(nn.Module):
    """Linear -> LayerNorm -> GELU -> Linear: frozen-encoder feature -> shared space."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _inputs(
    spec_feat: torch.Tensor,
    lc_feat: torch.Tensor,
    priors: torch.Tensor | None,
    cfg: BaselineConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked, detached features with the encoded priors appended: (B, spec_in), (B, lc_in).
    ``priors`` (B, n_priors), NaN = unknown; None = all unknown."""
    _check(spec_feat, lc_feat, cfg)
    spec_feat, lc_feat = spec_feat.detach(), lc_feat.detach()
    p = encode_priors(priors, spec_feat.shape[0], cfg.n_priors, spec_feat)
    return torch.cat([spec_feat, p], -1), torch.cat([lc_feat, p], -1)


def _check(spec_feat: torch.Tensor, lc_feat: torch.Tensor, cfg: BaselineConfig) -> None:
    if spec_feat.ndim != 2 or spec_feat.shape[1] != cfg.spec_dim:
        raise ValueError(f"spec_feat must be (B, {cfg.spec_dim}); got {tuple(spec_feat.shape)}")
    if lc_feat.ndim != 2 or lc_feat.shape[1] != cfg.lc_dim:
        raise ValueError(f"lc_feat must be (B, {cfg.lc_dim}); got {tuple(lc_feat.shape)}")
    if spec_feat.shape[0] != lc_feat.shape[0]:
        raise ValueError(f"batch sizes differ: {spec_feat.shape[0]} vs {lc_feat.shape[0]}")
    if not (torch.isfinite(spec_feat).all() and torch.isfinite(lc_feat).all()):
        raise ValueError("NaN or inf in the encoder features")


class MoCoAligner(nn.Module):
    """Bidirectional MoCo between spectra and light-curve features (sec. 6).

    ``loss`` (also ``forward``), in train mode and with ``reference=False``:
      1. key heads <- m * key + (1 - m) * query, for every parameter (no gradient);
      2. q_s, q_l from the query heads; k_s, k_l from the key heads under no_grad;
      3. loss = (info_nce(q_s, k_l, T, queue_l) + info_nce(q_l, k_s, T, queue_s)) / 2,
         the queues holding only the keys enqueued so far (at most queue_size);
      4. enqueue k_s, k_l (FIFO: the oldest entries are overwritten).
    In eval mode steps 1 and 4 are skipped. ``reference=True``: key heads are separately
    initialised and never updated, no queue (the reference's behaviour).
    """

    def __init__(self, config: BaselineConfig, *, reference: bool = False) -> None:
        super().__init__()
        c = self.config = config
        self.reference = reference
        self.spec_q = ProjectionHead(c.spec_in, c.hidden, c.embed_dim)
        self.lc_q = ProjectionHead(c.lc_in, c.hidden, c.embed_dim)
        if reference:  # get_model re-initialises q and k separately (sec. 6)
            self.spec_k = ProjectionHead(c.spec_in, c.hidden, c.embed_dim)
            self.lc_k = ProjectionHead(c.lc_in, c.hidden, c.embed_dim)
        else:
            self.spec_k = copy.deepcopy(self.spec_q)
            self.lc_k = copy.deepcopy(self.lc_q)
        for p in (*self.spec_k.parameters(), *self.lc_k.parameters()):
            p.requires_grad_(False)
        k = 0 if reference else c.queue_size
        self.register_buffer("queue_spec", torch.zeros(k, c.embed_dim))
        self.register_buffer("queue_lc", torch.zeros(k, c.embed_dim))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))  # next write slot
        self.register_buffer("queue_len", torch.zeros((), dtype=torch.long))  # filled slots

    def _pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.spec_q, self.spec_k), (self.lc_q, self.lc_k)]

    @torch.no_grad()
    def momentum_update(self) -> None:
        """key <- m * key + (1 - m) * query (no-op with reference=True)."""
        if self.reference:
            return
        m = self.config.momentum
        for q_head, k_head in self._pairs():
            for pq, pk in zip(q_head.parameters(), k_head.parameters(), strict=True):
                pk.mul_(m).add_(pq.detach(), alpha=1.0 - m)
            for bq, bk in zip(q_head.buffers(), k_head.buffers(), strict=True):
                bk.copy_(bq)

    def queued(self, modality: str) -> torch.Tensor:
        """The queued keys of 'spec' or 'lc', oldest first, (queue_len, embed_dim)."""
        queue = {"spec": self.queue_spec, "lc": self.queue_lc}[modality]
        n, k = int(self.queue_len), queue.shape[0]
        if n < k:
            return queue[:n]
        return torch.roll(queue, -int(self.queue_ptr), dims=0)

    @torch.no_grad()
    def _enqueue(self, k_s: torch.Tensor, k_l: torch.Tensor) -> None:
        size = self.queue_spec.shape[0]
        if size == 0:
            return
        b = k_s.shape[0]
        if b >= size:  # only the newest `size` keys survive
            k_s, k_l, b = k_s[-size:], k_l[-size:], size
        idx = (int(self.queue_ptr) + torch.arange(b, device=k_s.device)) % size
        self.queue_spec[idx] = k_s.to(self.queue_spec.dtype)
        self.queue_lc[idx] = k_l.to(self.queue_lc.dtype)
        self.queue_ptr.fill_((int(self.queue_ptr) + b) % size)
        self.queue_len.fill_(min(int(self.queue_len) + b, size))

    def embed(
        self, spec_feat: torch.Tensor, lc_feat: torch.Tensor, priors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Downstream feature q_s + q_l (sec. 6), (B, embed_dim)."""
        spec_feat, lc_feat = _inputs(spec_feat, lc_feat, priors, self.config)
        return self.spec_q(spec_feat) + self.lc_q(lc_feat)

    def loss(
        self, spec_feat: torch.Tensor, lc_feat: torch.Tensor, priors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of one training step; updates the key heads and queues (see class doc)."""
        spec_feat, lc_feat = _inputs(spec_feat, lc_feat, priors, self.config)
        update = self.training and not self.reference
        if update:
            self.momentum_update()
        q_s, q_l = self.spec_q(spec_feat), self.lc_q(lc_feat)
        with torch.no_grad():
            k_s, k_l = self.spec_k(spec_feat), self.lc_k(lc_feat)
        has_queue = int(self.queue_len) > 0  # always False with reference=True (size 0)
        # clone: the enqueue below writes into the buffers the loss graph would read
        queue_s = self.queued("spec").clone() if has_queue else None
        queue_l = self.queued("lc").clone() if has_queue else None
        t = self.config.temperature
        loss = 0.5 * (info_nce(q_s, k_l, t, queue_l) + info_nce(q_l, k_s, t, queue_s))
        if update:
            self._enqueue(k_s, k_l)
        return loss

    def forward(
        self, spec_feat: torch.Tensor, lc_feat: torch.Tensor, priors: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.loss(spec_feat, lc_feat, priors)


class _PairProjector(nn.Module):
    """Projects frozen spectra and light-curve features into the shared space: (z_s, z_l)."""

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__()
        c = self.config = config
        self.spec_proj = ProjectionHead(c.spec_in, c.hidden, c.embed_dim)
        self.lc_proj = ProjectionHead(c.lc_in, c.hidden, c.embed_dim)

    def forward(
        self, spec_feat: torch.Tensor, lc_feat: torch.Tensor, priors: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_s, z_l), each (B, embed_dim)."""
        spec_feat, lc_feat = _inputs(spec_feat, lc_feat, priors, self.config)
        return self.spec_proj(spec_feat), self.lc_proj(lc_feat)


class SimSiamAligner(_PairProjector):
    """SimSiam across modalities (sec. 6): z = projector(feature), p = predictor(z),
    loss = simsiam_loss(p_s, z_l, p_l, z_s) (stop-gradient on z inside the loss)."""

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__(config)
        c = config
        self.predictor = ProjectionHead(c.embed_dim, max(1, c.embed_dim // 2), c.embed_dim)

    def embed(
        self, spec_feat: torch.Tensor, lc_feat: torch.Tensor, priors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Downstream feature cat(z_s, z_l) (sec. 6), (B, 2 * embed_dim)."""
        return torch.cat(self(spec_feat, lc_feat, priors), dim=-1)

    def loss(
        self, spec_feat: torch.Tensor, lc_feat: torch.Tensor, priors: torch.Tensor | None = None
    ) -> torch.Tensor:
        z_s, z_l = self(spec_feat, lc_feat, priors)
        return simsiam_loss(self.predictor(z_s), z_l, self.predictor(z_l), z_s)


class VICRegAligner(_PairProjector):
    """VICReg between projected spectra and light-curve features (sec. 6, 25 / 25 / 0.1).

    As in the reference, the latent labels (here the encoded priors) are concatenated."""

    def __init__(
        self,
        config: BaselineConfig,
        *,
        sim_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 0.1,
    ) -> None:
        super().__init__(config)
        self.weights = (sim_weight, var_weight, cov_weight)

    def embed(
        self, spec_feat: torch.Tensor, lc_feat: torch.Tensor, priors: torch.Tensor | None = None
    ) -> torch.Tensor:
        z_s, z_l = self(spec_feat, lc_feat, priors)
        return z_s + z_l

    def loss(
        self, spec_feat: torch.Tensor, lc_feat: torch.Tensor, priors: torch.Tensor | None = None
    ) -> torch.Tensor:
        return vicreg_loss(*self(spec_feat, lc_feat, priors), *self.weights)
