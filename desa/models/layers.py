"""Shared building blocks: RoPE multi-head attention, Conformer block, norm/residual helpers.

Section numbers refer to ../shared/research/desa_reference.md.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConformerBlock",
    "ConvModule",
    "FeedForward",
    "RoPEMultiheadAttention",
    "RotaryEmbedding",
    "apply_rotary",
    "count_parameters",
]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (works on the meta device: only shapes are read)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------------------
# Rotary position embedding (sec. 2 "RoPE", sec. 14 fact 1)
# --------------------------------------------------------------------------------------


class RotaryEmbedding(nn.Module):
    """cos/sin tables for RoPE on the first `dim` channels of each head.

    inv_freq = base^(-arange(0, dim, 2) / dim); cos/sin = cat(freqs, freqs), the GPT-NeoX
    "rotate_half" pairing i <-> i + dim/2 (sec. 2).
    """

    inv_freq: torch.Tensor

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if dim <= 0 or dim % 2:
            raise ValueError(f"rotary dim must be positive and even, got {dim}")
        self.dim = dim
        inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions (T,) -> cos, sin each (T, dim)."""
        freqs = positions.to(self.inv_freq.dtype)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first cos.shape[-1] channels of x (B, H, T, hd); the rest pass unchanged."""
    rd = cos.shape[-1]
    xr, xp = x[..., :rd], x[..., rd:]
    xr = xr * cos.to(x.dtype) + _rotate_half(xr) * sin.to(x.dtype)
    return torch.cat((xr, xp), dim=-1)


class RoPEMultiheadAttention(nn.Module):
    """Q, K, V, O Linear(D, D, bias); softmax(QK^T / sqrt(hd)); RoPE on q, k (sec. 2 `mhsa_pro`).

    No attention dropout and no padding mask, as in the reference.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.q = nn.Linear(d_model, d_model, bias=bias)
        self.k = nn.Linear(d_model, d_model, bias=bias)
        self.v = nn.Linear(d_model, d_model, bias=bias)
        self.o = nn.Linear(d_model, d_model, bias=bias)

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        b, t, d = x.shape

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        if rope is not None:
            cos, sin = rope
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.o(y.transpose(1, 2).reshape(b, t, d))


# --------------------------------------------------------------------------------------
# Conformer pieces (sec. 2 "Conformer")
# --------------------------------------------------------------------------------------


class TargetScaling(nn.Module):
    """Maps a head's raw (B, L, Q) output to label units: raw * scale + centre, per label.

    Identity until `fit` sets the centre and scale from training targets (median and
    standard deviation, NaN skipped). A head then starts near the data instead of at zero,
    which matters for labels far from zero such as logg ~ 4.4 (the reference regresses the
    raw values). Both are buffers, so they travel with the weights in every checkpoint.
    """

    def __init__(self, n_labels: int) -> None:
        super().__init__()
        self.register_buffer("center", torch.zeros(n_labels))
        self.register_buffer("scale", torch.ones(n_labels))

    @torch.no_grad()
    def fit(self, targets: torch.Tensor) -> None:
        """targets (N, L), NaN = unknown; a label without two finite values stays identity."""
        for j in range(targets.shape[1]):
            y = targets[:, j][torch.isfinite(targets[:, j])]
            if y.numel() >= 2 and float(y.std()) > 0:
                self.center[j], self.scale[j] = y.median(), y.std()

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return raw * self.scale[:, None] + self.center[:, None]


class Standardize(nn.Module):
    """(x - mean) / std with the training split's statistics kept as buffers (a head's
    input scaling travels with its weights)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", torch.where(std > 0, std, torch.ones_like(std)).float())

    @classmethod
    def fit(cls, x: torch.Tensor) -> Standardize:
        return cls(x.mean(0), x.std(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class FeedForward(nn.Module):
    """LayerNorm -> Linear(D, mD) -> SiLU -> Dropout -> Linear(mD, D) -> Dropout (sec. 2 `ffn`).

    The LayerNorm inside makes it a pre-norm sublayer by itself.
    """

    def __init__(self, d_model: int, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, mult * d_model),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(mult * d_model, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvModule(nn.Module):
    """Convolution sublayer on (B, T, D).

    kind="dense": Conv1d(D, D, k, no bias) + BN + SiLU, what the reference selects (sec. 2).
    kind="depthwise": the standard Conformer module (pointwise + GLU, depthwise conv, BN,
    SiLU, pointwise, dropout), which the reference has but does not use.
    """

    def __init__(
        self,
        d_model: int,
        kernel_size: int = 3,
        kind: Literal["dense", "depthwise"] = "dense",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        pad = "same"
        if kind == "dense":
            self.net = nn.Sequential(
                nn.Conv1d(d_model, d_model, kernel_size, padding=pad, bias=False),
                nn.BatchNorm1d(d_model),
                nn.SiLU(),
            )
        elif kind == "depthwise":
            self.net = nn.Sequential(
                nn.Conv1d(d_model, 2 * d_model, 1),
                nn.GLU(dim=1),
                nn.Conv1d(d_model, d_model, kernel_size, padding=pad, groups=d_model, bias=False),
                nn.BatchNorm1d(d_model),
                nn.SiLU(),
                nn.Conv1d(d_model, d_model, 1),
                nn.Dropout(dropout),
            )
        else:
            raise ValueError(f"unknown conv kind {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2)).transpose(1, 2)


class ConformerBlock(nn.Module):
    """One Conformer block with RoPE attention.

    style="reference" (sec. 2): [mhsa, conv, ffn], each wrapped post-norm
        x = LayerNorm(f(x) + x)   (DeepNorm alpha left at 1 in the reference).
    style="macaron" (standard Conformer): pre-norm
        x += ½ FFN(x); x += MHSA(LN x); x += Conv(LN x); x += ½ FFN(x); x = LN(x).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        ff_mult: int = 4,
        kernel_size: int = 3,
        dropout: float = 0.0,
        style: Literal["reference", "macaron"] = "reference",
        conv_kind: Literal["dense", "depthwise"] = "dense",
    ) -> None:
        super().__init__()
        self.style = style
        self.attn = RoPEMultiheadAttention(d_model, n_heads)
        self.conv = ConvModule(d_model, kernel_size, conv_kind, dropout)
        self.ffn = FeedForward(d_model, ff_mult, dropout)
        self.drop = nn.Dropout(dropout)
        if style == "reference":
            # post-norm LayerNorm after each of the three residuals
            self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        elif style == "macaron":
            self.ffn0 = FeedForward(d_model, ff_mult, dropout)
            # pre-norm for attention and conv, final LayerNorm
            self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        else:
            raise ValueError(f"unknown block style {style!r}")

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        n = self.norms
        if self.style == "reference":
            x = n[0](self.attn(x, rope) + x)
            x = n[1](self.conv(x) + x)
            return n[2](self.ffn(x) + x)
        x = x + 0.5 * self.ffn0(x)
        x = x + self.drop(self.attn(n[0](x), rope))
        x = x + self.conv(n[1](x))
        x = x + 0.5 * self.ffn(x)
        return n[2](x)
