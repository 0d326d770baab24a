"""The training sets: label tables joined to store rows, one `StoreBatches` per split.

Targets follow desa_reference.md: spectra labels Teff/5778 K, logg, [Fe/H] with the SNR
weight snrg/1000 (sec. 2); rotation period in days (scaled by the model, sec. 3); DualFormer
priors Teff/5778, logg, Prot/70, [Fe/H], Rstar, RUWE (sec. 4 "latent"), NaN when unknown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import zarr

from desa.models.lightcurves import PERIOD_SCALE_DAYS
from desa.training.data import StoreBatches
from desa.training.tasks import TEFF_SCALE_K

SNR_SCALE = 1000.0  # CQR weight = combined_snrg / 1000 (sec. 2)
SPECTRA_LABELS = ("teff", "logg", "feh")
SPECTRA_SCALES = (TEFF_SCALE_K, 1.0, 1.0)  # model units -> K, dex, dex
PRIORS = ("teff", "logg", "prot", "feh", "rstar", "ruwe")
PRIOR_SCALES = (TEFF_SCALE_K, 1.0, PERIOD_SCALE_DAYS, 1.0, 1.0, 1.0)


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


def lightcurve_split(url: str, labels: pd.DataFrame, split: str) -> StoreBatches:
    """Stitched light curves of one split of ``labels/lightcurve_labels`` with Prot (days)."""
    t = labels[labels["split"] == split]
    columns = {"prot": t["prot"].to_numpy("f4"), "kic": t["kic"].to_numpy("i8")}
    rows = store_rows(url, "kic", columns["kic"])
    return StoreBatches(url, {"flux": "flux"}, rows, columns)


def priors(pairs: pd.DataFrame) -> np.ndarray:
    """(N, 6) DualFormer priors in model units, NaN where unknown."""
    values = pairs[list(PRIORS)].to_numpy("f8") / np.asarray(PRIOR_SCALES)
    return values.astype("f4")


def feature_split(url: str, split: str) -> tuple[StoreBatches, np.ndarray]:
    """Frozen-encoder features of the pairs of one split (from `features.zarr`), and the
    star id of each pair (for samplers that keep one spectrum per star in a batch)."""
    group = zarr.open_group(url, mode="r")
    rows = np.flatnonzero(group["split"][:] == split)
    columns = {
        "priors": group["priors"].get_orthogonal_selection((rows,)),
        "obsid": group["obsid"][:][rows],
        "kic": group["kic"][:][rows],
    }
    stars = group["star_id"][:][rows].astype(object)
    return StoreBatches(url, {"spec": "spec_feature", "lc": "lc_feature"}, rows, columns), stars
