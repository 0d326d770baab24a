"""The compared models come from the settings: controls, ablations, the no-RUWE binary twins,
and each one's embedding gets the same encoded priors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from pydantic import ValidationError

from desa.models.dualformer import DualFormer, encode_priors
from desa.products.embeddings import embed_batch, model_attrs
from desa.training.comparison import (
    DUALFORMER,
    aligners,
    binary_only_names,
    comparison_models,
    dualformer_config,
    dualformers,
    model_names,
)
from flows.settings import Settings

BASE = ("desa", "desa_no_priors", "moco", "moco_clean", "simsiam", "vicreg")
UNI = ("spectra_only", "lightcurve_only", "priors_only")


def test_the_paper_profile_compares_the_controls_and_no_ablations_by_default() -> None:
    config = Settings(profile="paper").comparison()
    assert config.priors == ("teff", "logg", "prot", "feh", "rstar", "ruwe")
    assert model_names(config) == (*BASE, *UNI)
    assert binary_only_names(config) == ()


def test_ablations_and_no_ruwe_twins_are_settings(monkeypatch) -> None:
    monkeypatch.setenv("DESA_EVALUATE__ABLATIONS", "true")
    monkeypatch.setenv("DESA_EVALUATE__BINARY_WITHOUT_RUWE", "true")
    config = Settings(profile="paper").comparison()
    names = model_names(config)
    ablations = ("desa_self_attention", "desa_cross_attention", "desa_shared_projection")
    assert set(ablations) <= set(names)
    twins = {m.name: m for m in comparison_models(config) if m.binary_only}
    assert set(twins) == {f"{n}_no_ruwe" for n in names if n != "desa_no_priors"}
    assert all(m.priors == ("teff", "logg", "prot", "feh", "rstar") for m in twins.values())
    configs = {
        m.name: dualformer_config(config, m)
        for m in comparison_models(config)
        if m.kind == DUALFORMER
    }
    assert configs["desa_self_attention"].attention == "self"
    assert configs["desa_cross_attention"].attention == "cross"
    assert configs["desa_shared_projection"].projection == "shared"
    assert configs["desa_no_priors"].n_priors == 0 and configs["desa_no_ruwe"].n_priors == 5


def test_the_prior_set_is_a_setting(monkeypatch) -> None:
    monkeypatch.setenv("DESA_TRAINING__PRIORS", '["teff", "prot"]')
    monkeypatch.setenv("DESA_EVALUATE__BINARY_WITHOUT_RUWE", "true")
    config = Settings().comparison()
    models = comparison_models(config)
    assert {m.priors for m in models if m.name != "desa_no_priors"} == {("teff", "prot")}
    assert binary_only_names(config) == ()  # no RUWE among the priors: no twins
    assert dualformer_config(config, models[0]).n_priors == 2
    for bad in ('["teff", "teff"]', '["mass"]', "[]"):
        monkeypatch.setenv("DESA_TRAINING__PRIORS", bad)
        with pytest.raises(ValidationError):
            Settings()


def test_the_demo_scores_the_binary_task_without_ruwe_too() -> None:
    config = Settings(profile="demo").comparison()
    assert "desa_no_ruwe" in binary_only_names(config)
    attrs = model_attrs(comparison_models(config))
    assert attrs["models"] == list(model_names(config))
    assert attrs["head_inputs"]["desa"] == "desa_projections"
    assert attrs["head_inputs"]["priors_only_no_ruwe"] == "priors_only_no_ruwe"


def test_every_embedding_gets_the_same_encoded_priors() -> None:
    config = Settings(profile="demo").comparison()
    models = [m for m in comparison_models(config) if not m.trained or m.name == "desa"]
    desa = next(m for m in models if m.name == "desa")
    torch.manual_seed(0)
    trained = {"desa": DualFormer(dualformer_config(config, desa)).eval()}
    cfg = trained["desa"].cfg
    b = 3
    spec, lc = torch.randn(b, cfg.spec_tokens), torch.randn(b, cfg.lc_tokens)
    raw = torch.randn(b, 6)
    raw[0, 5] = float("nan")  # RUWE unknown for the first pair
    priors = {m.name: raw[:, : len(m.priors)] for m in models}  # RUWE is the last prior
    bases = {"desa": torch.eye(cfg.embed_dim)}
    out = embed_batch(models, trained, bases, spec, lc, priors)
    encoded = encode_priors(raw, b, 6, spec)
    torch.testing.assert_close(out["priors_only"], encoded)
    torch.testing.assert_close(out["spectra_only"], torch.cat([spec, encoded], -1))
    torch.testing.assert_close(out["lightcurve_only"], torch.cat([lc, encoded], -1))
    torch.testing.assert_close(out["priors_only_no_ruwe"], encode_priors(raw[:, :5], b, 5, spec))
    h = trained["desa"](spec, lc, raw)
    torch.testing.assert_close(out["desa"], h.h_spec + h.h_lc)  # identity basis
    torch.testing.assert_close(out["desa"][:, -12:], 2 * encoded)  # priors on both branches
    torch.testing.assert_close(out["desa_projections"], torch.cat([h.e_spec, h.e_lc], -1))


@pytest.mark.parametrize("attention", ["self", "cross"])
def test_attention_ablations_change_the_dualformer(attention) -> None:
    config = Settings(profile="demo").comparison()
    desa = comparison_models(config)[0]
    both = dualformer_config(config, desa)
    torch.manual_seed(0)
    reference = DualFormer(both).eval()
    variant = DualFormer(replace(both, attention=attention)).eval()
    variant.load_state_dict(reference.state_dict())  # same weights: only the wiring differs
    spec, lc = torch.randn(2, both.spec_tokens), torch.randn(2, both.lc_tokens)
    assert not torch.allclose(reference(spec, lc).h_spec, variant(spec, lc).h_spec)


def test_the_shared_projection_ablation_projects_both_branches_by_w() -> None:
    comparison = Settings(profile="demo").comparison()
    spec_ = next(m for m in comparison_models(comparison) if m.name == "desa")
    config = replace(dualformer_config(comparison, spec_), projection="shared")
    model = DualFormer(config).eval()
    out = model(torch.randn(2, config.spec_tokens), torch.randn(2, config.lc_tokens))
    torch.testing.assert_close(out.e_lc, out.h_lc @ model.W.T)


def test_the_trained_models_are_the_dualformers_and_the_aligners() -> None:
    config = Settings(profile="paper").comparison()
    assert [m.name for m in dualformers(config)] == ["desa", "desa_no_priors"]
    assert [m.name for m in aligners(config)] == ["moco", "moco_clean", "simsiam", "vicreg"]
