"""The spectra encoder's median Teff/logg/[Fe/H] for chosen spectra, in physical units."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from desa.models.spectra import SpectraEncoderConfig, SpectraModel
from desa.training.datasets import SPECTRA_SCALES
from desa.training.spectra_predictions import predict_spectra_labels


def test_predictions_are_the_scaled_median_quantile_in_the_asked_order(tmp_path) -> None:
    url = str(tmp_path / "spectra.zarr")
    obsids = np.array([501, 502, 503, 504, 505], dtype=np.int64)
    flux = np.random.default_rng(0).normal(1.0, 0.1, (5, 3600)).astype("f4")
    xr.Dataset({"flux": (("obsid", "pixel"), flux)}, coords={"obsid": obsids}).to_zarr(url)
    torch.manual_seed(0)
    model = SpectraModel(SpectraEncoderConfig.demo()).eval()
    wanted = np.array([504, 501, 503])
    got = predict_spectra_labels(model, url, wanted, device=torch.device("cpu"), batch_size=2)
    assert got["obsid"].tolist() == [504, 501, 503]
    with torch.no_grad():
        quantiles = model(torch.from_numpy(flux[[3, 0, 2]])).quantiles.numpy()
    middle = quantiles.shape[-1] // 2  # 0.5 of (0.1, 0.25, 0.5, 0.75, 0.9)
    expected = quantiles[:, :, middle] * np.asarray(SPECTRA_SCALES)
    np.testing.assert_allclose(got[["teff", "logg", "feh"]].to_numpy(), expected, rtol=1e-5)
