"""Profile configs connect: the DualFormer and baselines read the encoders' feature widths."""

from __future__ import annotations

import pytest

from desa.models.profiles import model_configs


@pytest.mark.parametrize("profile", ["demo", "paper"])
def test_widths_agree_between_models(profile: str) -> None:
    c = model_configs(profile)
    assert c.dualformer.spec_tokens == c.baselines.spec_dim == c.spectra.d_model
    assert c.dualformer.lc_tokens == c.baselines.lc_dim == c.lightcurves.feature_dim


def test_paper_profile_has_the_reference_feature_widths() -> None:
    c = model_configs("paper")
    assert (c.spectra.d_model, c.lightcurves.feature_dim, c.dualformer.width) == (2048, 256, 256)
    with pytest.raises(ValueError, match="unknown profile"):
        model_configs("huge")
