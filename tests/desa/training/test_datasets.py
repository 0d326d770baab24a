"""The light-curve datasets give the encoders absolute flux: relative flux x `lum_factor`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from desa.models.lightcurves import first_window, lightcurve_inputs
from desa.preprocess.lightcurves import absolute_magnitude, luminosity_factor
from desa.training.datasets import lightcurve_split, lightcurves, priors


def _store(tmp_path, kepmag, dist_pc, reference: bool = False) -> str:
    """Three stars with the same relative flux; M from Kp and the distance, as preprocess does."""
    n, length = len(kepmag), 64
    t = np.arange(length)
    flux = np.tile(1.0 + 0.01 * np.sin(2 * np.pi * t / 9.0), (n, 1)).astype("f4")
    factor = luminosity_factor(absolute_magnitude(kepmag, dist_pc), reference=reference)
    url = str(tmp_path / "lightcurves.zarr")
    xr.Dataset(
        {"flux": (("star", "cadence"), flux)},
        coords={"kic": ("star", np.arange(1, n + 1)), "lum_factor": ("star", factor)},
    ).to_zarr(url)
    return url


@pytest.mark.parametrize("reference", [False, True])
def test_equal_relative_flux_gives_encoder_inputs_in_the_ratio_of_the_factors(
    tmp_path, reference
) -> None:
    kepmag, dist = np.array([12.0, 12.0]), np.array([100.0, 1000.0])  # M = 7 and M = 2
    url = _store(tmp_path, kepmag, dist, reference)
    batch = lightcurves(url, np.array([1, 2]), {})[[0, 1]]
    flux = lightcurve_inputs(first_window(batch["flux"], 64))[:, 0]  # the encoder's flux channel
    m = absolute_magnitude(kepmag, dist)
    expected = (2.0 ** (m[1] - m[0])) if reference else 10 ** (-0.4 * (m[1] - m[0]))
    torch.testing.assert_close(flux[1] / flux[0], torch.full_like(flux[0], float(expected)))


def test_stars_without_a_distance_are_left_out_of_the_light_curve_sets(tmp_path) -> None:
    url = _store(tmp_path, np.array([12.0, 12.0, 12.0]), np.array([100.0, np.nan, 500.0]))
    labels = pd.DataFrame({"kic": [1, 2, 3], "prot": [10.0, 20.0, 30.0], "split": "train"})
    split = lightcurve_split(url, labels, "train")
    assert split.columns["kic"].tolist() == [1, 3]
    with pytest.raises(ValueError, match=r"no lum_factor .* kic \[2\]"):
        lightcurves(url, np.array([2]), {})


def test_priors_are_picked_by_name_and_scaled_to_model_units() -> None:
    pairs = pd.DataFrame({"teff": [5778.0], "prot": [35.0], "ruwe": [np.nan], "logg": [4.4]})
    np.testing.assert_allclose(priors(pairs, ["prot", "teff", "ruwe"]), [[0.5, 1.0, np.nan]])
    with pytest.raises(ValueError, match="unknown priors"):
        priors(pairs, ["mass"])
