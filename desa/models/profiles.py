"""Every model's config for a profile, with the widths that connect the models made to agree.

The DualFormer reads the encoders' features as scalar tokens and the baselines read the same
features, so their input widths are taken from the encoder configs rather than set twice.
Torch-free (the configs are `desa.models.configs`): the stages' cache keys are computed from
here by `desa status` and a no-op `desa rebuild`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from desa.models.configs import (
    BaselineConfig,
    DualFormerConfig,
    HeadConfig,
    LightCurveEncoderConfig,
    SpectraEncoderConfig,
)


@dataclass(frozen=True)
class ModelConfigs:
    spectra: SpectraEncoderConfig
    lightcurves: LightCurveEncoderConfig
    dualformer: DualFormerConfig
    baselines: BaselineConfig
    head: HeadConfig  # in_dim is set per embedding by the fine-tuning stage


def model_configs(profile: str) -> ModelConfigs:
    """`paper`: the reference dimensions (desa_reference.md sec. 2-7); `demo`: tiny ones."""
    if profile not in ("demo", "paper"):
        raise ValueError(f"unknown profile {profile!r}; expected 'demo' or 'paper'")
    build = "paper" if profile == "paper" else "demo"
    spectra = getattr(SpectraEncoderConfig, build)()
    lightcurves = getattr(LightCurveEncoderConfig, build)()
    widths = {"spec_tokens": spectra.d_model, "lc_tokens": lightcurves.feature_dim}
    dualformer = getattr(DualFormerConfig, build)(**widths)
    baselines = replace(
        getattr(BaselineConfig, build)(), spec_dim=spectra.d_model, lc_dim=lightcurves.feature_dim
    )
    return ModelConfigs(spectra, lightcurves, dualformer, baselines, getattr(HeadConfig, build)())
