"""Frozen-encoder features of every LAMOST–Kepler pair, written to `features.zarr`.

The DualFormer and every baseline train on the same frozen encoders (desa_reference.md
sec. 4, 6), so their features are computed once, in eval mode: the spectra feature of the
preprocessed spectrum and the light-curve feature of a deterministic crop (`first_window`;
the reference crops at random each time it reads a star) of the light curve in absolute units
(`desa.training.datasets.lightcurves`). One row per pair, with the pair's ids, split and every
prior of `TrainingConfig.priors` (each model picks its own of them by name); blocks of rows
are written as disjoint regions and the store is consolidated last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from desa.models.lightcurves import LightCurveEncoder, first_window, lightcurve_inputs
from desa.models.spectra import SpectraEncoder
from desa.training.data import StoreBatches
from desa.training.datasets import lightcurves, priors, store_rows
from storage import zarr_store

STRING = np.dtypes.StringDType()
BLOCK_ROWS = 1024  # pairs per written region (and chunk)


@torch.no_grad()
def spectra_features(encoder: SpectraEncoder, flux: torch.Tensor) -> torch.Tensor:
    return encoder.eval()(flux).feature


@torch.no_grad()
def lightcurve_features(encoder: LightCurveEncoder, flux: torch.Tensor) -> torch.Tensor:
    crop = first_window(flux, encoder.cfg.crop_length)
    return encoder.eval()(lightcurve_inputs(crop)).feature


def _template(n: int, spec_dim: int, lc_dim: int, prior_names: Sequence[str]) -> xr.Dataset:
    def strings() -> np.ndarray:
        return np.array([""] * n, dtype=STRING)

    return xr.Dataset(
        {
            "spec_feature": (("pair", "spec_dim"), np.zeros((n, spec_dim), "f4")),
            "lc_feature": (("pair", "lc_dim"), np.zeros((n, lc_dim), "f4")),
            "priors": (("pair", "prior"), np.zeros((n, len(prior_names)), "f4")),
        },
        coords={
            "obsid": (("pair",), np.zeros(n, "i8")),
            "kic": (("pair",), np.zeros(n, "i8")),
            "star_id": (("pair",), strings()),
            "split": (("pair",), strings()),
            "prior": (("prior",), np.array(list(prior_names), dtype=STRING)),
        },
    )


def write_features(
    url: str,
    pairs: pd.DataFrame,
    spectra_url: str,
    lightcurves_url: str,
    spectra_encoder: SpectraEncoder,
    lightcurve_encoder: LightCurveEncoder,
    *,
    prior_names: Sequence[str],
    batch_size: int,
    device: torch.device,
    attrs: dict,
    log: Callable[[str], None] = print,
) -> int:
    """Write the features of every row of ``pairs`` (labels/pairs) to a new store at ``url``;
    every pair's star must have a distance (`desa.training.datasets.with_distance`)."""
    if pairs.empty:
        raise ValueError("labels/pairs has no LAMOST–Kepler pairs to compute features for")
    spec_dim, lc_dim = spectra_encoder.cfg.d_model, lightcurve_encoder.cfg.feature_dim
    zarr_store.create(url, _template(0, spec_dim, lc_dim, prior_names), "pair", BLOCK_ROWS, attrs)
    zarr_store.resize(url, "pair", len(pairs))
    obsid, kic = pairs["obsid"].to_numpy("i8"), pairs["kic"].to_numpy("i8")
    spectra = StoreBatches(
        spectra_url, {"flux": "flux"}, store_rows(spectra_url, "obsid", obsid), {}
    )
    curves = lightcurves(lightcurves_url, kic, {})
    spectra_encoder.to(device)
    lightcurve_encoder.to(device)
    for start in range(0, len(pairs), BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, len(pairs))
        part = _template(stop - start, spec_dim, lc_dim, prior_names)
        for lo in range(start, stop, batch_size):
            hi = min(lo + batch_size, stop)
            index = list(range(lo, hi))
            rows = slice(lo - start, hi - start)
            spec = spectra_features(spectra_encoder, spectra[index]["flux"].to(device))
            lc = lightcurve_features(lightcurve_encoder, curves[index]["flux"].to(device))
            part["spec_feature"][rows] = spec.float().cpu().numpy()
            part["lc_feature"][rows] = lc.float().cpu().numpy()
        block = pairs.iloc[start:stop]
        part["priors"][:] = priors(block, prior_names)
        part = part.assign_coords(
            obsid=("pair", obsid[start:stop]),
            kic=("pair", kic[start:stop]),
            star_id=("pair", block["star_id"].to_numpy().astype(STRING)),
            split=("pair", block["split"].to_numpy().astype(STRING)),
        )
        zarr_store.write_region(url, part, "pair", start)
        log(f"features: {stop}/{len(pairs)} pairs")
    zarr_store.consolidate(url)
    return len(pairs)
