"""The training configs validate themselves, without the application's settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from desa.training.config import PAPER_PRIORS, TrainingConfig


def test_priors_are_distinct_known_names_and_at_least_one() -> None:
    assert TrainingConfig().priors == PAPER_PRIORS
    assert TrainingConfig(priors=("teff", "prot")).priors == ("teff", "prot")
    for bad in (("teff", "teff"), ("mass",), ()):
        with pytest.raises(ValidationError):
            TrainingConfig(priors=bad)


def test_each_model_has_its_own_loop() -> None:
    training = TrainingConfig()
    assert training.spectra.batch_size == 64 and training.dualformer.batch_size == 16
    with pytest.raises(ValidationError):
        TrainingConfig(finetune={"batch_size": 1})  # batch-centred losses need two samples
