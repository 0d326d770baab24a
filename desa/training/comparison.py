"""The models compared downstream, from the settings: the one list every stage reads.

Every model gets the same priors (`ComparisonConfig.priors`, encoded as values plus
missing-indicators by `desa.models.dualformer.encode_priors`):

- DualFormer variants (kind ``dualformer``): ``desa``; the control ``desa_no_priors`` (no
  priors); with `ComparisonConfig.ablations` the paper's sec. 6 ablations (self-only and
  cross-only attention, W for both projections);
- the aligners of `desa.models.baselines.BASELINES` (priors appended to both features);
- ``spectra_only`` / ``lightcurve_only``: one frozen encoder's feature with the priors appended;
- ``priors_only``: the encoded priors alone (the control for what the priors already tell).

With `ComparisonConfig.binary_without_ruwe` (and RUWE among the priors) every model that sees
priors is repeated as ``<model>_no_ruwe`` with RUWE left out, scored on the binary task only:
the binary labels are partly defined by RUWE (catalogs/labels/config.py `ruwe_binary_min`).
``desa_no_priors`` has no ``_no_ruwe`` twin: it sees no RUWE already.

Torch-free: the training and embed stages' cache keys are computed from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from desa.models.configs import BASELINES, BaselineConfig, DualFormerConfig
from desa.models.profiles import model_configs
from desa.training.config import ComparisonConfig

DUALFORMER = "dualformer"
UNIMODAL = ("spectra_only", "lightcurve_only")
PRIORS_ONLY = "priors_only"
NO_RUWE = "_no_ruwe"
# name -> DualFormerConfig fields of the sec. 6 ablations (the defaults are "both", "transpose")
ABLATIONS: dict[str, dict[str, str]] = {
    "desa_self_attention": {"attention": "self"},
    "desa_cross_attention": {"attention": "cross"},
    "desa_shared_projection": {"projection": "shared"},
}


@dataclass(frozen=True)
class ModelSpec:
    """One compared model: its name, what builds it, the priors it sees (names, in order)."""

    name: str
    kind: str  # DUALFORMER, a baseline kind, one of UNIMODAL, or PRIORS_ONLY
    priors: tuple[str, ...]
    dualformer: tuple[tuple[str, str], ...] = ()  # DualFormerConfig overrides (ablations)
    binary_only: bool = False  # scored on the binary task alone (the no-RUWE twins)

    @property
    def head_input(self) -> str:
        """The embedding its fine-tuning heads read: a DualFormer's cat(W h_spec, Wᵀ h_lc)
        (desa_reference.md sec. 7), every other model's own embedding."""
        return f"{self.name}_projections" if self.kind == DUALFORMER else self.name

    @property
    def trained(self) -> bool:
        return self.kind == DUALFORMER or self.kind in BASELINES


def _family(priors: tuple[str, ...], suffix: str, ablations: bool) -> list[ModelSpec]:
    dual = [ModelSpec(f"desa{suffix}", DUALFORMER, priors)]
    if not suffix:
        dual.append(ModelSpec("desa_no_priors", DUALFORMER, ()))
    if ablations:
        dual += [
            ModelSpec(f"{name}{suffix}", DUALFORMER, priors, tuple(fields.items()))
            for name, fields in ABLATIONS.items()
        ]
    others = [ModelSpec(f"{kind}{suffix}", kind, priors) for kind in (*BASELINES, *UNIMODAL)]
    return [*dual, *others, ModelSpec(f"{PRIORS_ONLY}{suffix}", PRIORS_ONLY, priors)]


def comparison_models(config: ComparisonConfig) -> tuple[ModelSpec, ...]:
    """Every model the config asks for: the full comparison first, then binary-only twins."""
    priors, ablations = tuple(config.priors), config.ablations
    models = _family(priors, "", ablations)
    if config.binary_without_ruwe and "ruwe" in priors:
        without = tuple(p for p in priors if p != "ruwe")
        twins = _family(without, NO_RUWE, ablations)
        # with RUWE the only prior, priors_only_no_ruwe would be an empty embedding
        models += [
            ModelSpec(m.name, m.kind, m.priors, m.dualformer, binary_only=True)
            for m in twins
            if m.priors
        ]
    return tuple(models)


def model_names(config: ComparisonConfig) -> tuple[str, ...]:
    """The models of every table and figure."""
    return tuple(m.name for m in comparison_models(config) if not m.binary_only)


def binary_only_names(config: ComparisonConfig) -> tuple[str, ...]:
    """The models scored on the binary task alone (RUWE left out of their priors)."""
    return tuple(m.name for m in comparison_models(config) if m.binary_only)


def dualformers(config: ComparisonConfig) -> tuple[ModelSpec, ...]:
    """The DualFormer variants compared (desa, desa_no_priors, ablations...)."""
    return tuple(m for m in comparison_models(config) if m.kind == DUALFORMER)


def aligners(config: ComparisonConfig) -> tuple[ModelSpec, ...]:
    """The baseline aligners compared (each prior set's MoCo, SimSiam...)."""
    return tuple(m for m in comparison_models(config) if m.trained and m.kind != DUALFORMER)


def dualformer_config(config: ComparisonConfig, spec: ModelSpec) -> DualFormerConfig:
    """The profile's DualFormer with the model's prior count and ablation fields."""
    return replace(
        model_configs(config.profile).dualformer,
        n_priors=len(spec.priors),
        reference_cross_bug=config.reference_cross_bug,
        **dict(spec.dualformer),
    )


def baseline_config(config: ComparisonConfig, spec: ModelSpec) -> BaselineConfig:
    """The profile's aligner dimensions with the model's prior count."""
    return replace(model_configs(config.profile).baselines, n_priors=len(spec.priors))


def embed_config(comparison: ComparisonConfig, reference_moco: bool) -> dict:
    """What the embeddings are made with besides the inputs: the models and how each is
    built (the embed stage's key)."""
    models = comparison_models(comparison)
    return {
        "models": [asdict(m) for m in models],
        "dualformer": {
            m.name: asdict(dualformer_config(comparison, m)) for m in models if m.kind == DUALFORMER
        },
        "reference_moco": reference_moco,
    }
