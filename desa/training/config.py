"""What the training code reads: one model's loop, the training run, the compared models.

Plain models with the reference's defaults; the application's settings (`flows.settings`)
fill them from the environment, `desa.toml` and the profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, field_validator


class LoopConfig(BaseModel):
    """One model's optimisation (defaults: the reference, desa_reference.md sec. 10)."""

    max_epochs: int = Field(1000, ge=1)
    batch_size: int = Field(16, ge=2)  # BatchNorm and batch-centred losses need two samples
    lr: float = Field(2e-5, gt=0)
    weight_decay: float = Field(1e-6, ge=0)
    patience: int = Field(20, ge=1)  # early stopping on the validation loss, in epochs
    max_batches_per_epoch: int | None = Field(None, ge=1)  # the reference caps at 1000


# Priors every model is given (desa_reference.md sec. 4 "latent"), in model units: Teff/5778 K,
# logg, Prot/70 d, [Fe/H], Rstar (Rsun), RUWE (`desa.training.datasets.PRIOR_SCALES`).
PriorName = Literal["teff", "logg", "prot", "feh", "rstar", "ruwe"]
PAPER_PRIORS: tuple[PriorName, ...] = ("teff", "logg", "prot", "feh", "rstar", "ruwe")


class TrainingConfig(BaseModel):
    """The training runs. Model dimensions come from the profile (`desa.models` configs)."""

    seed: int = 1234  # the reference's torch.manual_seed(1234)
    deterministic: bool = False  # True: bit-reproducible runs and resumes (slower on GPU)
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"  # auto: CUDA when present
    devices: int = Field(1, ge=1)  # more than one: launch under torchrun (DDP)
    precision: Literal["auto", "32-true", "bf16-mixed"] = "auto"  # auto: bf16 autocast on CUDA
    num_workers: int = Field(0, ge=0)  # DataLoader processes reading the stores
    spectra_ssl_weight: float = Field(0.5, ge=0, le=1)  # lambda of the hybrid loss (sec. 2)
    mask_rate: float = Field(0.15, gt=0, lt=1)  # masked-filling pixel fraction (sec. 2)
    lightcurve_ssl_weight: float = Field(0.5, ge=0, le=1)  # SimSiam vs period CQR (sec. 3)
    reference_cross_bug: bool = False  # True: drop the between-branch covariance term (sec. 4)
    reference_moco: bool = False  # True: MoCo without momentum update and queue (sec. 6)
    # The priors given to every model (DESA, the aligners, the unimodal baselines and the
    # priors-only control), e.g. DESA_TRAINING__PRIORS='["teff","logg"]'; n_priors follows.
    priors: tuple[PriorName, ...] = Field(PAPER_PRIORS, min_length=1)
    spectra: LoopConfig = LoopConfig(batch_size=64, lr=2e-5, weight_decay=5e-6, patience=40)
    lightcurves: LoopConfig = LoopConfig(lr=5e-5, weight_decay=1e-5, patience=40)
    dualformer: LoopConfig = LoopConfig()
    baselines: LoopConfig = LoopConfig()
    finetune: LoopConfig = LoopConfig(patience=10)

    @field_validator("priors")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"priors are named more than once: {list(value)}")
        return value


@dataclass(frozen=True)
class ComparisonConfig:
    """Which models `desa.training.comparison` compares and how each is built."""

    profile: str  # model dimensions: `desa.models.profiles.model_configs`
    priors: tuple[str, ...]  # `TrainingConfig.priors`
    # DualFormer ablations (paper sec. 6): self-only and cross-only attention, W for both.
    ablations: bool = False
    # Also every model on the binary task with RUWE left out of its priors (`<model>_no_ruwe`).
    binary_without_ruwe: bool = False
    reference_cross_bug: bool = False  # `TrainingConfig.reference_cross_bug`
