"""Spectra encoder (CNN + RoPE Conformer), masked-filling decoder, quantile head, hybrid loss.

Everything follows desa_reference.md sec. 2 (spectra encoder, dimension by dimension), sec. 10
(training settings) and sec. 14 (fact 6); deviations are config fields with the reference value
in `SpectraEncoderConfig.paper()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from desa.losses import cqr_loss
from desa.models.configs import SpectraEncoderConfig
from desa.models.layers import ConformerBlock, RotaryEmbedding, TargetScaling

__all__ = [
    "HybridLoss",
    "MaskedFillingDecoder",
    "QuantileHead",
    "SpectraEncoder",
    "SpectraEncoderConfig",
    "SpectraEncoderOutput",
    "SpectraModel",
    "SpectraModelOutput",
    "hybrid_loss",
    "mask_pixels",
]


class SpectraEncoderOutput(NamedTuple):
    tokens: torch.Tensor  # (B, T, D) Conformer output
    feature: torch.Tensor  # (B, D) pooled spectra feature
    backbone: torch.Tensor  # (B, D, T) CNN output (the reference decoder's input)


class SpectraEncoder(nn.Module):
    """CNN stem + blocks, then RoPE Conformer, then sum/mean pooling (sec. 2)."""

    def __init__(self, cfg: SpectraEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k = cfg.kernel_size

        def conv_bn(cin: int, cout: int) -> list[nn.Module]:
            # all CNN convs bias-free, padding 'same', BN + SiLU (sec. 2)
            return [
                nn.Conv1d(cin, cout, k, padding="same", bias=False),
                nn.BatchNorm1d(cout),
                nn.SiLU(),
            ]

        self.stem = nn.Sequential(*conv_bn(1, cfg.stem_channels))
        blocks: list[nn.Module] = []
        cin = cfg.stem_channels
        for cout in cfg.block_channels:
            blocks.append(nn.Sequential(*conv_bn(cin, cout), nn.MaxPool1d(2)))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.rope = RotaryEmbedding(cfg.rotary_dim, cfg.rope_base)
        self.layers = nn.ModuleList(
            ConformerBlock(
                cfg.d_model,
                cfg.n_heads,
                cfg.ff_mult,
                cfg.conv_kernel,
                cfg.dropout,
                cfg.block_style,
                cfg.conv_kind,
            )
            for _ in range(cfg.n_layers)
        )

    def forward(self, x: torch.Tensor) -> SpectraEncoderOutput:
        """x (B, n) or (B, 1, n) with n <= input_length; zero-padded on the right (sec. 8.1)."""
        if x.ndim == 2:
            x = x[:, None, :]
        n = x.shape[-1]
        if n > self.cfg.input_length:
            raise ValueError(f"spectrum has {n} pixels > input_length {self.cfg.input_length}")
        x = F.pad(x, (0, self.cfg.input_length - n))
        backbone = self.blocks(self.stem(x))  # (B, D, T)
        h = backbone.transpose(1, 2)
        # RoPE computed once, shared by all blocks; pos = token index (sec. 2)
        rope = self.rope(torch.arange(h.shape[1], device=h.device))
        for layer in self.layers:
            h = layer(h, rope)
        feature = h.sum(dim=1) if self.cfg.pooling == "sum" else h.mean(dim=1)
        return SpectraEncoderOutput(h, feature, backbone)


class MaskedFillingDecoder(nn.Module):
    """Tokens (B, D, T) or (B, T, D) -> pixels (B, input_length) (sec. 2 `CNNDecoder`).

    len(decoder_channels) x [ConvTranspose1d(k=4, s=2, p=1, no bias) + BN + SiLU], then
    ConvTranspose1d(c -> 1, k=3, p=1, bias).
    """

    def __init__(self, cfg: SpectraEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # constructed but never used by the reference; kept only for the parameter count
        self.initial_expand = (
            nn.Linear(cfg.d_model, 2 * cfg.input_length) if cfg.decoder_unused_expand else None
        )
        layers: list[nn.Module] = []
        cin = cfg.d_model
        for cout in cfg.decoder_channels:
            layers += [
                nn.ConvTranspose1d(cin, cout, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm1d(cout),
                nn.SiLU(),
            ]
            cin = cout
        layers.append(nn.ConvTranspose1d(cin, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, tokens: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """tokens (B, D, T); pass channels_last=True for (B, T, D)."""
        if channels_last:
            tokens = tokens.transpose(1, 2)
        return self.net(tokens).squeeze(1)


class QuantileHead(nn.Module):
    """Linear(D, H) -> BN -> SiLU -> Dropout -> Linear(H, L*Q), reshaped (B, L, Q) (sec. 2),
    then `TargetScaling` to label units."""

    def __init__(
        self,
        d_in: int,
        hidden: int,
        n_labels: int = 3,
        quantiles: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_labels = n_labels
        self.quantiles = tuple(quantiles)
        self.net = nn.Sequential(
            nn.Linear(d_in, hidden),
            nn.BatchNorm1d(hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_labels * len(self.quantiles)),
        )
        self.target = TargetScaling(n_labels)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        raw = self.net(feature).view(feature.shape[0], self.n_labels, len(self.quantiles))
        return self.target(raw)


class SpectraModelOutput(NamedTuple):
    reconstruction: torch.Tensor  # (B, input_length)
    quantiles: torch.Tensor  # (B, n_labels, Q)
    feature: torch.Tensor  # (B, D)
    tokens: torch.Tensor  # (B, T, D)


class SpectraModel(nn.Module):
    """Encoder + masked-filling decoder + quantile head (the reference `MultiTaskRegressor`)."""

    def __init__(self, cfg: SpectraEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = SpectraEncoder(cfg)
        self.decoder = MaskedFillingDecoder(cfg)
        self.head = QuantileHead(
            cfg.d_model, cfg.head_hidden, cfg.n_labels, cfg.quantiles, cfg.dropout
        )

    def forward(self, x: torch.Tensor) -> SpectraModelOutput:
        enc = self.encoder(x)
        if self.cfg.decoder_input == "backbone":
            recon = self.decoder(enc.backbone)
        else:
            recon = self.decoder(enc.tokens, channels_last=True)
        return SpectraModelOutput(recon, self.head(enc.feature), enc.feature, enc.tokens)


# --------------------------------------------------------------------------------------
# Masked filling and the hybrid loss (sec. 2 "Masked filling", "Loss")
# --------------------------------------------------------------------------------------


def mask_pixels(
    x: torch.Tensor,
    rate: float = 0.15,
    generator: torch.Generator | None = None,
    *,
    replace_prob: float = 0.8,
    mask_value: float = 0.0,
    random_high: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask each pixel with probability `rate` (Bernoulli); returns (masked x, bool mask).

    Of the masked pixels, a fraction `replace_prob` is set to `mask_value`, the rest to
    Uniform[0, random_high). The reference freezes random_high at the max of the first
    spectrum it ever sees (sec. 2); here it defaults to x.max() of this call (stateless).
    """
    dev = x.device
    u = torch.rand(x.shape, generator=generator, device=dev)
    mask = u < rate
    fixed = torch.rand(x.shape, generator=generator, device=dev) < replace_prob
    high = float(x.max()) if random_high is None else float(random_high)
    rand_vals = torch.rand(x.shape, generator=generator, device=dev).to(x.dtype) * high
    out = torch.where(mask & fixed, torch.full_like(x, mask_value), x)
    out = torch.where(mask & ~fixed, rand_vals, out)
    return out, mask


class HybridLoss(NamedTuple):
    total: torch.Tensor
    ssl: torch.Tensor
    sup: torch.Tensor


def hybrid_loss(
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    pred: torch.Tensor,
    labels: torch.Tensor | None,
    quantiles: Sequence[float],
    mask: torch.Tensor | None = None,
    snr: torch.Tensor | None = None,
    lam: float = 0.5,
    *,
    ssl_on: Literal["masked", "all"] = "masked",
) -> HybridLoss:
    """L = lam * L_ssl + (1 - lam) * L_sup (sec. 2 "Loss"; reference lam = 0.5).

    reconstruction (B, N'), target (B, N) unmasked spectrum with N <= N' (zero-padded to N',
    as the reference pads to 4096); mask (B, N) from `mask_pixels`.
    L_ssl = MSE on masked pixels (ssl_on="masked"), or on all N' positions ("all", the
    reference). L_sup = `cqr_loss(pred, labels, quantiles, weight=snr)`; the reference uses
    snr = combined_snrg / 1000. A term whose weight is 0 is not computed, so lam=1 needs no
    labels and lam=0 ignores the reconstruction entirely.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    zero = pred.new_zeros(()) if lam == 1.0 else reconstruction.new_zeros(())
    ssl = zero
    if lam > 0.0:
        pad = reconstruction.shape[-1] - target.shape[-1]
        if pad < 0:
            raise ValueError("target longer than reconstruction")
        tgt = F.pad(target, (0, pad))
        if ssl_on == "all":
            ssl = F.mse_loss(reconstruction, tgt)
        else:
            if mask is None:
                raise ValueError("ssl_on='masked' needs the mask")
            m = F.pad(mask, (0, pad)).to(reconstruction.dtype)
            sq = (reconstruction - tgt) ** 2 * m
            ssl = sq.sum() / m.sum().clamp_min(1.0)
    sup = zero
    if lam < 1.0:
        if labels is None:
            raise ValueError("labels are required when lam < 1")
        sup = cqr_loss(pred, labels, quantiles, weight=snr)
    if lam == 1.0:
        total = ssl
    elif lam == 0.0:
        total = sup
    else:
        total = lam * ssl + (1.0 - lam) * sup
    return HybridLoss(total, ssl, sup)
