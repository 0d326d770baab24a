"""Light-curve encoder: CNN on ACF+FFT, RoPE Conformer on flux, SimSiam and a period head.

Follows desa_reference.md §3 (architecture, dimension by dimension), §8.2 (inputs) and §10
(training recipe: 0.5 SimSiam + 0.5 CQR on Prot/70). Plain `nn.Module`s with one frozen
config; `LightCurveEncoderConfig.paper()` gives the reference dimensions exactly
(11,717,504 parameters = CNN 2,099,328 + Astroconformer 9,222,656 + projector 395,520, §4).

RoPE attention and the dense conv sublayer come from `desa.models.layers`; the light-curve
block (attention + conv, no FFN) is assembled here.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from desa.losses import cqr_loss, simsiam_loss
from desa.models.configs import LightCurveEncoderConfig
from desa.models.layers import (
    ConvModule,
    RoPEMultiheadAttention,
    RotaryEmbedding,
    TargetScaling,
)
from desa.preprocess.lightcurves import acf_torch, fft_features_torch

__all__ = [
    "LightCurveEncoder",
    "LightCurveEncoderConfig",
    "LightCurveOutput",
    "PeriodHead",
    "SimSiamHead",
    "first_window",
    "lightcurve_inputs",
    "random_crop",
    "simsiam_step",
]

PERIOD_SCALE_DAYS = 70.0  # target = Prot / 70 d (P_MAX, §3)
N_INPUT_CHANNELS = 4  # [flux, standardised flux, ACF, FFT] (§3, §8.2)


# ----------------------------------------------------------------------------- inputs


def random_crop(
    flux: torch.Tensor, length: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Uniform random window of `length` samples per row of a (B, T) series (§3 RandomCrop).

    Each row gets its own start in [0, T - length]. Rows shorter than `length` (T < length)
    are returned whole, padded at the end with NaN (a gap; the reference pads with the last
    value, §8.2). NaNs inside the series are kept; `lightcurve_inputs` handles them.
    """
    if flux.dim() != 2:
        raise ValueError(f"expected a (B, T) series, got shape {tuple(flux.shape)}")
    if length < 1:
        raise ValueError(f"crop length must be >= 1, not {length}")
    batch, total = flux.shape
    if total < length:
        return F.pad(flux, (0, length - total), value=math.nan)
    start = torch.randint(0, total - length + 1, (batch,), generator=generator)
    index = start.to(flux.device)[:, None] + torch.arange(length, device=flux.device)
    return torch.gather(flux, 1, index)


def first_window(flux: torch.Tensor, length: int) -> torch.Tensor:
    """The deterministic crop used at inference: `length` samples from each row's first
    finite sample (moved back when it would run past the end); NaN-padded like
    `random_crop` when the series is shorter than `length`."""
    if flux.dim() != 2:
        raise ValueError(f"expected a (B, T) series, got shape {tuple(flux.shape)}")
    total = flux.shape[1]
    if total < length:
        return F.pad(flux, (0, length - total), value=math.nan)
    first = torch.isfinite(flux).int().argmax(dim=1)  # 0 when a row has no finite sample
    start = first.clamp(max=total - length)
    index = start[:, None] + torch.arange(length, device=flux.device)
    return torch.gather(flux, 1, index)


def lightcurve_inputs(crop: torch.Tensor) -> torch.Tensor:
    """(B, L) NaN-gapped crop -> (B, 4, L) channels [flux, standardised flux, ACF, FFT] (§8.2).

    - flux: the crop as given (the stitched flux is already median-normalised), gaps filled
      with the crop's finite mean.
    - standardised flux: (x - mean) / (std + 1e-8) over the finite samples, NaN -> 0 *after*
      standardising (i.e. gaps sit at the mean).
    - ACF: `acf_torch(crop)` (gaps add nothing to any lag), standardised over the crop as the
      reference does (mean/std of the ACF vector, §8.2).
    - FFT: `fft_features_torch(crop)` = log1p|rfft| interpolated to L (not normalised, §8.2).
    Deviation: the reference smooths with a 13-point running mean first; not done here.
    A crop with no finite sample gives all-zero channels (NaN -> 0 everywhere).
    """
    if crop.dim() != 2:
        raise ValueError(f"expected a (B, L) crop, got shape {tuple(crop.shape)}")
    x = crop if crop.is_floating_point() else crop.float()
    finite = torch.isfinite(x)
    count = finite.sum(-1, keepdim=True).clamp(min=1)
    zeroed = torch.where(finite, x, torch.zeros_like(x))
    mean = zeroed.sum(-1, keepdim=True) / count
    var = (torch.where(finite, x - mean, torch.zeros_like(x)) ** 2).sum(-1, keepdim=True)
    std = (var / count).sqrt()
    flux = torch.where(finite, x, mean)
    standard = torch.where(finite, (x - mean) / (std + 1e-8), torch.zeros_like(x))
    acf = acf_torch(x)
    acf = (acf - acf.mean(-1, keepdim=True)) / (acf.std(-1, keepdim=True, correction=0) + 1e-8)
    fft = fft_features_torch(x)
    return torch.nan_to_num(torch.stack([flux, standard, acf, fft], dim=1), 0.0, 0.0, 0.0)


# ----------------------------------------------------------------------------- blocks


class Sine(nn.Module):
    """sin(w0 x), w0 = 1 (§3 `Sine`)."""

    def __init__(self, w0: float = 1.0) -> None:
        super().__init__()
        self.w0 = w0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * x)


class ConvBlock(nn.Sequential):
    """Conv1d (bias-free, 'same') + BN + Sine (§3 CNNEncoder_lc)."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(
            nn.Conv1d(c_in, c_out, kernel, padding="same", bias=False),
            nn.BatchNorm1d(c_out),
            Sine(),
        )


class CNNBranch(nn.Module):
    """On [ACF, FFT]: stem + ConvBlocks each with MaxPool(2), mean over time (§3)."""

    def __init__(self, cfg: LightCurveEncoderConfig) -> None:
        super().__init__()
        self.stem = ConvBlock(2, cfg.cnn_stem, cfg.cnn_kernel)
        widths = (cfg.cnn_stem, *cfg.cnn_channels)
        self.blocks = nn.ModuleList(
            ConvBlock(a, b, cfg.cnn_kernel) for a, b in itertools.pairwise(widths)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
            if x.shape[-1] > 2:  # pooling only while length > 2 (§2 rule)
                x = F.max_pool1d(x, 2)
        return x.mean(-1)


class LightCurveConformerBlock(nn.Module):
    """["mhsa_pro", "conv"], each PostNorm: x = LayerNorm(module(x) + x); no FFN (§3).

    `layers.ConformerBlock` always has the FFN sublayer (spectra, §2), so the light-curve
    block is assembled here from the shared attention and dense conv modules.
    """

    def __init__(self, d_model: int, n_heads: int, kernel: int) -> None:
        super().__init__()
        self.attn = RoPEMultiheadAttention(d_model, n_heads)
        self.norm_attn = nn.LayerNorm(d_model)
        self.conv = ConvModule(d_model, kernel, "dense")
        self.norm_conv = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = self.norm_attn(self.attn(x, rope) + x)
        return self.norm_conv(self.conv(x) + x)


class ConformerBranch(nn.Module):
    """On [flux, standardised flux]: patch extractor + RoPE Conformer, mean over tokens (§3)."""

    def __init__(self, cfg: LightCurveEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.extractor = nn.Sequential(
            nn.Conv1d(2, cfg.d_model, cfg.patch, stride=cfg.patch),  # with bias (§3)
            nn.BatchNorm1d(cfg.d_model),
            nn.SiLU(),
        )
        head_dim = cfg.d_model // cfg.n_heads
        self.rotary = RotaryEmbedding(int(head_dim * cfg.rope_fraction) // 2 * 2, cfg.rope_base)
        self.blocks = nn.ModuleList(
            LightCurveConformerBlock(cfg.d_model, cfg.n_heads, cfg.conv_kernel)
            for _ in range(cfg.n_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2, L) -> tokens (B, L // patch, D)."""
        tokens = self.extractor(x).transpose(1, 2)
        rope = self.rotary(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:  # one RoPE table shared by all blocks (§2)
            tokens = block(tokens, rope)
        return tokens


def _mlp(dims: list[int], last_bn: bool, last_relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b))
        if not last or last_bn:
            layers.append(nn.BatchNorm1d(b))
        if not last or last_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- models


class LightCurveOutput(NamedTuple):
    feature: torch.Tensor  # (B, feature_dim): projector output, the LC feature (§3)
    backbone: torch.Tensor  # (B, backbone_dim): cat(CNN mean, Conformer mean), NaN -> 0
    tokens: torch.Tensor  # (B, L // patch, d_model): Conformer tokens


class LightCurveEncoder(nn.Module):
    """DoubleInputRegressor + SimSiam projector = `simsiam.encoder` of the reference (§3).

    The projector belongs to the encoder here because its 256-d output is the light-curve
    feature DESA and the baselines use, and the reference's 11.7 M count includes it.
    """

    def __init__(self, cfg: LightCurveEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.cnn = CNNBranch(cfg)
        self.conformer = ConformerBranch(cfg)
        # projection_MLP(1024, 256, 256): 3 x [Linear + BN (+ReLU except last)] (§3)
        self.projector = _mlp(
            [cfg.backbone_dim, cfg.projector_hidden, cfg.projector_hidden, cfg.feature_dim],
            last_bn=True,
            last_relu=False,
        )

    def forward(self, x: torch.Tensor) -> LightCurveOutput:
        """x: (B, 4, L) from `lightcurve_inputs`: channels 0-1 -> Conformer, 2-3 -> CNN."""
        if x.dim() != 3 or x.shape[1] != N_INPUT_CHANNELS:
            raise ValueError(f"expected (B, 4, L) inputs, got shape {tuple(x.shape)}")
        tokens = self.conformer(x[:, :2])
        backbone = torch.nan_to_num(torch.cat([self.cnn(x[:, 2:]), tokens.mean(1)], dim=-1))
        return LightCurveOutput(self.projector(backbone), backbone, tokens)


class SimSiamHead(nn.Module):
    """SimSiam predictor prediction_MLP(256, 256, 256): Linear+BN+ReLU, Linear (§3).

    The projector lives in `LightCurveEncoder` (see there).
    """

    def __init__(self, cfg: LightCurveEncoderConfig) -> None:
        super().__init__()
        self.predictor = _mlp(
            [cfg.feature_dim, cfg.predictor_hidden, cfg.feature_dim], last_bn=False, last_relu=False
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.predictor(z)


class PeriodHead(nn.Module):
    """Quantile head on cat(z1, z2): Linear-BN-GELU-Dropout-Linear -> (B, 1, Q) of Prot/70 (§3),
    then `TargetScaling`."""

    def __init__(self, cfg: LightCurveEncoderConfig) -> None:
        super().__init__()
        self.quantiles = cfg.quantiles
        self.net = nn.Sequential(
            nn.Linear(2 * cfg.feature_dim, cfg.period_hidden),
            nn.BatchNorm1d(cfg.period_hidden),
            nn.GELU(),
            nn.Dropout(cfg.period_dropout),
            nn.Linear(cfg.period_hidden, len(cfg.quantiles)),
        )
        self.target = TargetScaling(1)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor | None = None) -> torch.Tensor:
        """z2 defaults to z1 (one view at inference)."""
        z = torch.cat([z1, z1 if z2 is None else z2], dim=-1)
        return self.target(self.net(z).view(z.shape[0], 1, len(self.quantiles)))


def simsiam_step(
    encoder: LightCurveEncoder,
    head: SimSiamHead,
    flux: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    period_head: PeriodHead | None = None,
    prot_days: torch.Tensor | None = None,
    ssl_weight: float = 0.5,
) -> torch.Tensor:
    """Loss on two independent random crops of each (B, T) light curve (§3).

    SimSiam: 0.5 D(p1, z2) + 0.5 D(p2, z1) with stop-gradient on z (desa.losses.simsiam_loss).
    With `period_head` and `prot_days` (B,) (NaN = unknown): ssl_weight * SimSiam +
    (1 - ssl_weight) * CQR(Prot / 70) (§3, §10: 0.5 / 0.5).
    """
    length = encoder.cfg.crop_length
    z1 = encoder(lightcurve_inputs(random_crop(flux, length, generator))).feature
    z2 = encoder(lightcurve_inputs(random_crop(flux, length, generator))).feature
    loss = simsiam_loss(head(z1), z2, head(z2), z1)
    if period_head is None or prot_days is None:
        return loss
    pred = period_head(z1, z2)
    target = (prot_days.to(pred.dtype) / PERIOD_SCALE_DAYS)[:, None]
    return ssl_weight * loss + (1.0 - ssl_weight) * cqr_loss(pred, target, period_head.quantiles)
