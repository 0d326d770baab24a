"""The training sets: label tables joined to store rows, one `StoreBatches` per split.

Targets follow desa_reference.md: spectra labels Teff/5778 K, logg, [Fe/H] with the SNR
weight snrg/1000 (sec. 2); rotation period in days (scaled by the model, sec. 3); priors
Teff/5778, logg, Prot/70, [Fe/H], Rstar, RUWE (sec. 4 "latent"), NaN when unknown, of which
`TrainingConfig.priors` picks the set every model sees.

Light curves reach the encoders in absolute units: the stored relative flux times the star's
`lum_factor` = 10^(-0.4 M) (paper sec. 4.2; 2^M with `reference_luminosity`), computed by
`desa.preprocess.stores.lightcurve_catalog_coords`. A star without a Berger 2020 distance has
no M; the reference never sees such a star (its tables are inner-joined with Berger 2020,
desa_reference.md sec. 9), so it is left out of every light-curve set here too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import zarr

from desa.models.lightcurves import PERIOD_SCALE_DAYS
from desa.training.data import StoreBatches
from desa.training.tasks import TEFF_SCALE_K

SNR_SCALE = 1000.0  # CQR weight = combined_snrg / 1000 (sec. 2)
SPECTRA_LABELS = ("teff", "logg", "feh")
SPECTRA_SCALES = (TEFF_SCALE_K, 1.0, 1.0)  # model units -> K, dex, dex
# labels/pairs column -> divisor into model units (sec. 4 "latent")
PRIOR_SCALES = {
    "teff": TEFF_SCALE_K,
    "logg": 1.0,
    "prot": PERIOD_SCALE_DAYS,
    "feh": 1.0,
    "rstar": 1.0,
    "ruwe": 1.0,
}


def store_rows(url: str, key: str, wanted: np.ndarray) -> np.ndarray:
    """Row of each ``wanted`` value of coordinate ``key`` (e.g. obsid) in the store."""
    values = zarr.open_group(url, mode="r")[key][:]
    row_of = pd.Series(np.arange(len(values)), index=values)
    missing = ~np.isin(wanted, values)
    if missing.any():
        raise KeyError(f"{url}: no row for {key} {wanted[missing][:5].tolist()}")
    return row_of.loc[wanted].to_numpy()


def chunk_rows(url: str, array: str) -> int:
    return int(zarr.open_group(url, mode="r")[array].chunks[0])


def spectra_split(url: str, labels: pd.DataFrame, split: str) -> StoreBatches:
    """Spectra of one split of ``labels/spectra_labels`` with their labels and SNR weight."""
    t = labels[labels["split"] == split]
    y = t[list(SPECTRA_LABELS)].to_numpy("f8") / np.asarray(SPECTRA_SCALES)
    columns = {
        "labels": y.astype("f4"),
        "snr": (t["snrg"].to_numpy("f8") / SNR_SCALE).astype("f4"),
        "obsid": t["obsid"].to_numpy("i8"),
    }
    rows = store_rows(url, "obsid", columns["obsid"])
    return StoreBatches(url, {"flux": "flux"}, rows, columns)


class LightCurveBatches(StoreBatches):
    """Light curves in absolute units: each row's relative ``flux`` times its ``lum_factor``."""

    def __getitem__(self, positions: Sequence[int]) -> dict[str, torch.Tensor]:
        batch = super().__getitem__(positions)
        factor = batch.pop("lum_factor").to(batch["flux"].dtype)
        batch["flux"] = batch["flux"] * factor[:, None]
        return batch


def luminosity_factors(url: str, rows: np.ndarray) -> np.ndarray:
    """`lum_factor` of each store row (NaN for a star without a distance)."""
    return zarr.open_group(url, mode="r")["lum_factor"][:][rows]


def lightcurves(url: str, kics: np.ndarray, columns: dict[str, np.ndarray]) -> LightCurveBatches:
    """The light curves of ``kics`` (each must have a finite `lum_factor`) with ``columns``."""
    rows = store_rows(url, "kic", kics)
    factors = luminosity_factors(url, rows)
    if not np.isfinite(factors).all():
        bad = np.asarray(kics)[~np.isfinite(factors)][:5].tolist()
        raise ValueError(f"{url}: no lum_factor (no distance) for kic {bad}")
    return LightCurveBatches(url, {"flux": "flux"}, rows, {**columns, "lum_factor": factors})


def with_distance(url: str, kics: np.ndarray) -> np.ndarray:
    """Which ``kics`` have a finite `lum_factor` in the light-curve store at ``url``."""
    return np.isfinite(luminosity_factors(url, store_rows(url, "kic", kics)))


def lightcurve_split(url: str, labels: pd.DataFrame, split: str) -> LightCurveBatches:
    """Stitched light curves, in absolute units, of one split of ``labels/lightcurve_labels``
    with Prot (days); stars without a distance are left out (see the module doc)."""
    t = labels[labels["split"] == split]
    t = t[with_distance(url, t["kic"].to_numpy("i8"))]
    columns = {"prot": t["prot"].to_numpy("f4"), "kic": t["kic"].to_numpy("i8")}
    return lightcurves(url, columns["kic"], columns)


def priors(pairs: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """(N, len(names)) priors in model units, NaN where unknown."""
    unknown = [name for name in names if name not in PRIOR_SCALES]
    if unknown:
        raise ValueError(f"unknown priors {unknown}; known: {list(PRIOR_SCALES)}")
    scales = np.asarray([PRIOR_SCALES[name] for name in names])
    return (pairs[list(names)].to_numpy("f8") / scales).astype("f4")


def prior_columns(url: str, names: Sequence[str]) -> np.ndarray:
    """Positions of the priors ``names`` among those stored in `features.zarr`."""
    stored = [str(name) for name in zarr.open_group(url, mode="r")["prior"][:]]
    missing = [name for name in names if name not in stored]
    if missing:
        raise ValueError(f"{url}: priors {missing} not stored (stored: {stored})")
    return np.asarray([stored.index(name) for name in names], dtype=np.int64)


def feature_split(
    url: str, split: str, prior_names: Sequence[str]
) -> tuple[StoreBatches, np.ndarray]:
    """Frozen-encoder features of the pairs of one split (from `features.zarr`) with the priors
    ``prior_names``, and the star id of each pair (for samplers that keep one spectrum per star
    in a batch)."""
    group = zarr.open_group(url, mode="r")
    rows = np.flatnonzero(group["split"][:] == split)
    stored = group["priors"].get_orthogonal_selection((rows,))
    columns = {
        "priors": stored[:, prior_columns(url, prior_names)],
        "obsid": group["obsid"][:][rows],
        "kic": group["kic"][:][rows],
    }
    stars = group["star_id"][:][rows].astype(object)
    return StoreBatches(url, {"spec": "spec_feature", "lc": "lc_feature"}, rows, columns), stars
