"""Every model's config, torch-free: one frozen dataclass per model with its `paper()`
(reference dimensions) and `demo()` (tiny) constructors.

They live apart from the torch modules that build the models so that the stages' cache keys
(`desa status`, a no-op `desa rebuild`) are computed without importing torch (issue 13 item 5).
The model modules re-export their config.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "BASELINES",
    "BaselineConfig",
    "DualFormerConfig",
    "HeadConfig",
    "LightCurveEncoderConfig",
    "SpectraEncoderConfig",
]


# ---------- spectra encoder: desa_reference.md sec. 2 (dimensions), sec. 10 (training)


@dataclass(frozen=True)
class SpectraEncoderConfig:
    """Every dimension of the spectra model (sec. 2)."""

    n_pixels: int = 3600  # preprocessed LAMOST pixels (sec. 8.1)
    input_length: int = 4096  # zero-padded length fed to the CNN
    stem_channels: int = 64  # Conv1d(1 -> 64, k=3) + BN + SiLU, no pooling
    block_channels: tuple[int, ...] = (128, 256, 1024, 2048, 2048)  # each + MaxPool1d(2)
    kernel_size: int = 3  # CNN kernel
    n_layers: int = 8  # Conformer blocks; width = block_channels[-1]
    n_heads: int = 8  # head dim 256
    ff_mult: int = 4  # FFN D -> 4D -> D
    conv_kernel: int = 3  # Conformer conv module kernel
    dropout: float = 0.2
    rotary_fraction: float = 0.5  # RoPE on the first half of each head (128 of 256)
    rope_base: float = 10000.0
    block_style: Literal["reference", "macaron"] = "reference"
    conv_kind: Literal["dense", "depthwise"] = "dense"
    pooling: Literal["sum", "mean"] = "sum"  # reference sums the 128 tokens
    decoder_channels: tuple[int, ...] = (1024, 256, 128, 64, 64)  # ConvTranspose1d k4 s2 p1
    decoder_input: Literal["backbone", "conformer"] = "backbone"  # reference: CNN output
    decoder_unused_expand: bool = True  # reference builds Linear(D, 2*input_length), never used
    head_hidden: int = 1024
    n_labels: int = 3  # Teff/5778, logg, [Fe/H]
    quantiles: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)

    def __post_init__(self) -> None:
        if len(self.decoder_channels) != len(self.block_channels):
            raise ValueError("decoder needs one upsampling per CNN pooling stage")
        if self.input_length % (2 ** len(self.block_channels)):
            raise ValueError("input_length must be divisible by 2**len(block_channels)")
        if self.n_pixels > self.input_length:
            raise ValueError("n_pixels exceeds input_length")
        if self.d_model % self.n_heads:
            raise ValueError("d_model must be divisible by n_heads")

    @property
    def d_model(self) -> int:
        """Conformer width = spectra feature dimension (2048 in the paper)."""
        return self.block_channels[-1]

    @property
    def n_tokens(self) -> int:
        return self.input_length // 2 ** len(self.block_channels)

    @property
    def rotary_dim(self) -> int:
        hd = self.d_model // self.n_heads
        return max(2, int(hd * self.rotary_fraction) // 2 * 2)

    @classmethod
    def paper(cls) -> SpectraEncoderConfig:
        """The reference dimensions exactly (sec. 2; spectra feature 2048)."""
        return cls()

    @classmethod
    def demo(cls) -> SpectraEncoderConfig:
        """Tiny profile for CPU tests and the demo sky (~20 k parameters)."""
        return cls(
            stem_channels=4,
            block_channels=(8, 8, 16, 16, 16),
            n_layers=1,
            n_heads=2,
            ff_mult=2,
            dropout=0.0,
            decoder_channels=(16, 8, 8, 4, 4),
            decoder_unused_expand=False,
            head_hidden=16,
        )


# ---------- light-curve encoder: desa_reference.md §3 (architecture), §8.2 (inputs)


@dataclass(frozen=True)
class LightCurveEncoderConfig:
    crop_length: int = 34560  # 720 d x 48 cadences/d (§8.2)
    cnn_stem: int = 32  # Conv1d(2->32, k3) + BN + Sine (§3)
    cnn_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512)  # 6 ConvBlocks + MaxPool(2)
    cnn_kernel: int = 3
    d_model: int = 512  # Astroconformer width (§3)
    n_heads: int = 8  # head 64
    n_blocks: int = 5  # ["mhsa_pro", "conv"] with PostNorm
    patch: int = 20  # Conv1d(2->512, kernel=stride=20): 34560 -> 1728 tokens
    conv_kernel: int = 3
    rope_fraction: float = 0.5  # RoPE on the first half of each head (dim 32 of 64)
    rope_base: float = 10000.0
    feature_dim: int = 256  # projector output = the light-curve feature (§3)
    projector_hidden: int = 256  # projection_MLP(1024, 256, 256)
    predictor_hidden: int = 256  # prediction_MLP(256, 256, 256)
    period_hidden: int = 256  # Linear(512, 256)-BN-GELU-Dropout(0.3)-Linear(256, 5)
    period_dropout: float = 0.3
    quantiles: tuple[float, ...] = field(default=(0.1, 0.25, 0.5, 0.75, 0.9))

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by n_heads {self.n_heads}")
        if self.crop_length < self.patch:
            raise ValueError(f"crop_length {self.crop_length} shorter than patch {self.patch}")

    @property
    def backbone_dim(self) -> int:
        """Width of cat(CNN, Conformer) before the projector (1024 for the paper)."""
        return self.cnn_channels[-1] + self.d_model

    @classmethod
    def paper(cls) -> LightCurveEncoderConfig:
        """Reference dimensions exactly (desa_reference.md §3)."""
        return cls()

    @classmethod
    def demo(cls) -> LightCurveEncoderConfig:
        """Tiny: forward + backward on a batch of 8 in well under a second on CPU. The crop is
        90 days (4320 cadences), long enough to hold a few rotations of most demo stars."""
        return cls(
            crop_length=4320,
            cnn_stem=8,
            cnn_channels=(8, 16, 16),
            d_model=16,
            n_heads=2,
            n_blocks=2,
            patch=32,
            feature_dim=16,
            projector_hidden=16,
            predictor_hidden=16,
            period_hidden=16,
        )


# ---------- DualFormer: desa_reference.md §4-§5


@dataclass(frozen=True)
class DualFormerConfig:
    """DualFormer hyper-parameters (§4 config ``dual_former``)."""

    spec_tokens: int = 2048  # spectra feature (B, 2048) -> 2048 scalar tokens (§4)
    lc_tokens: int = 256  # light-curve feature (B, 256) -> 256 scalar tokens
    spec_token_dim: int = 1  # `input_dim: 1`: each scalar feature is one token
    lc_token_dim: int = 1
    shared_input_projection: bool = True  # one shared Linear(1, 256) embeds both (§4)
    width: int = 256
    depth: int = 4
    heads: int = 8
    ffn_dim: int = 2048
    dropout: float = 0.1
    attention_dropout: float = 0.1
    rotary_fraction: float = 0.5  # rotary dim = 0.5 * head dim (§4 DualRotaryEmbedding)
    rotary_base: float = 1e4
    n_priors: int = 6  # Teff/5778, logg, Prot/70, [Fe/H], Rstar, RUWE (§4 latent); 0 = none
    attention: Literal["both", "self", "cross"] = "both"  # `cross_self` = both summed (§4)
    projection: Literal["transpose", "shared"] = "transpose"  # W / Wᵀ, or W for both (§4)
    reference_cross_bug: bool = False  # True: drop the between-branch covariance term (§4)
    dual_weight: float = 0.5  # L = 0.5 L_dual + 0.5 L_cov (alpha forced to 0, §4)
    cov_weight: float = 0.5
    # Ablations (paper sec. 6): each branch attends to itself, to the other, or both summed;
    # the light-curve branch is projected by Wᵀ ("transpose") or by W itself ("shared").
    attention: Literal["both", "self", "cross"] = "both"
    projection: Literal["transpose", "shared"] = "transpose"

    def __post_init__(self) -> None:
        if self.n_priors < 0:
            raise ValueError(f"n_priors must be >= 0; got {self.n_priors}")
        if self.attention not in ("both", "self", "cross"):
            raise ValueError(f"attention must be both, self or cross; got {self.attention!r}")
        if self.projection not in ("transpose", "shared"):
            raise ValueError(f"projection must be transpose or shared; got {self.projection!r}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if self.shared_input_projection and self.spec_token_dim != self.lc_token_dim:
            raise ValueError("a shared input projection needs equal token dims")
        if self.rotary_dim % 2:
            raise ValueError(f"rotary dim {self.rotary_dim} must be even")

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def rotary_dim(self) -> int:
        return int(self.rotary_fraction * self.head_dim)

    @property
    def embed_dim(self) -> int:
        """Width of the pooled vector with the priors (values + missing indicators) appended."""
        return self.width + 2 * self.n_priors

    @classmethod
    def paper(cls, **overrides: object) -> DualFormerConfig:
        """Reference dimensions exactly (§4)."""
        return cls(**overrides)  # type: ignore[arg-type]

    @classmethod
    def demo(cls, **overrides: object) -> DualFormerConfig:
        """Tiny dimensions for the demo sky and the tests."""
        base: dict[str, object] = dict(
            spec_tokens=16, lc_tokens=8, width=16, depth=2, heads=2, ffn_dim=32, n_priors=6
        )
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]


# ---------- alignment baselines: desa_reference.md sec. 6

BASELINES = ("moco", "moco_clean", "simsiam", "vicreg")  # MoCo-clean: MoCo on unique stars


@dataclass(frozen=True)
class BaselineConfig:
    """Baseline hyper-parameters (sec. 6)."""

    spec_dim: int = 2048  # spectra-encoder feature
    lc_dim: int = 256  # light-curve-encoder feature
    embed_dim: int = 512  # shared space (MoCo dim 512)
    hidden: int = 2048  # MLP hidden width (reference head 512 -> 2048 -> 512)
    momentum: float = 0.999  # key EMA (the reference's m = 0.9 is never used)
    queue_size: int = 4096  # K
    temperature: float = 0.05  # T
    n_priors: int = 6  # priors appended (encoded: 2 * n_priors values) to both features

    def __post_init__(self) -> None:
        for name in ("spec_dim", "lc_dim", "embed_dim", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1]; got {self.momentum}")
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be >= 0; got {self.queue_size}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {self.temperature}")
        if self.n_priors < 0:
            raise ValueError(f"n_priors must be >= 0; got {self.n_priors}")

    @property
    def spec_in(self) -> int:
        """Width of a spectra head's input: the feature and the encoded priors."""
        return self.spec_dim + 2 * self.n_priors

    @property
    def lc_in(self) -> int:
        return self.lc_dim + 2 * self.n_priors

    @classmethod
    def paper(cls, **overrides: object) -> BaselineConfig:
        """Reference dimensions (sec. 6): features 2048 / 256, dim 512, K 4096, T 0.05."""
        return replace(cls(), **overrides)  # type: ignore[arg-type]

    @classmethod
    def demo(cls, **overrides: object) -> BaselineConfig:
        """Tiny dimensions for the demo sky and the tests."""
        # momentum 0.99: the demo trains a few hundred steps, too few for 0.999 keys to move
        base: dict[str, object] = dict(
            spec_dim=16,
            lc_dim=8,
            embed_dim=8,
            hidden=16,
            momentum=0.99,
            queue_size=32,
            temperature=0.1,
        )
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]


# ---------- fine-tuning heads: desa_reference.md §7


@dataclass(frozen=True)
class HeadConfig:
    """Head dimensions. quantiles: sorted, odd count, symmetric about the middle 0.5."""

    in_dim: int = 524  # DESA final embedding: cat(proj1, proj2) (§7)
    hidden: int = 64  # reference Transformer encoder_dim 64
    dropout: float = 0.1  # reference dropout 0.1
    quantiles: tuple[float, ...] = field(default=(0.14, 0.5, 0.86))  # age CQR, alpha = 0.72

    def __post_init__(self) -> None:
        if self.in_dim < 1 or self.hidden < 1:
            raise ValueError(f"in_dim and hidden must be >= 1; got {self.in_dim}, {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")
        q = self.quantiles
        nq = len(q)
        if nq % 2 == 0 or not math.isclose(q[nq // 2], 0.5):
            raise ValueError(f"quantiles need an odd count with 0.5 in the middle; got {q}")
        if any(not 0.0 < v < 1.0 for v in q) or any(a >= b for a, b in itertools.pairwise(q)):
            raise ValueError(f"quantiles must be strictly increasing in (0, 1); got {q}")
        if any(not math.isclose(q[i] + q[nq - 1 - i], 1.0) for i in range(nq // 2)):
            raise ValueError(f"quantiles must be symmetric pairs (q, 1 - q); got {q}")

    @property
    def median_index(self) -> int:
        return len(self.quantiles) // 2

    @classmethod
    def paper(cls) -> HeadConfig:
        """Reference values (§7): 524-d DESA input, width 64, dropout 0.1, [0.14, 0.5, 0.86]."""
        return cls()

    @classmethod
    def demo(cls) -> HeadConfig:
        """Tiny, for the demo sky and tests."""
        return cls(in_dim=16, hidden=16, dropout=0.0)
