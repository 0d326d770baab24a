"""The spectra encoder's own Teff, logg and [Fe/H] (median quantile) for chosen spectra.

Used to score the encoder against labels it was not trained on (APOGEE, paper Table 1): the
published checkpoint is run in eval mode on the stored spectra of the given obsids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from desa.models.spectra import SpectraModel
from desa.training.data import StoreBatches
from desa.training.datasets import SPECTRA_LABELS, SPECTRA_SCALES, store_rows


@torch.no_grad()
def predict_spectra_labels(
    model: SpectraModel,
    store: str,
    obsids: np.ndarray,
    *,
    device: torch.device,
    batch_size: int = 64,
) -> pd.DataFrame:
    """``obsid`` plus the median prediction of each of ``SPECTRA_LABELS`` in physical units
    (K, dex, dex) for every obsid of ``store`` (spectra.zarr) listed in ``obsids``."""
    obsids = np.asarray(obsids, dtype=np.int64)
    data = StoreBatches(store, {"flux": "flux"}, store_rows(store, "obsid", obsids), {})
    model = model.to(device).eval()
    middle = len(model.head.quantiles) // 2
    medians = []
    for start in range(0, len(obsids), batch_size):
        batch = data[list(range(start, min(start + batch_size, len(obsids))))]
        quantiles = model(batch["flux"].to(device)).quantiles
        medians.append(quantiles[:, :, middle].float().cpu().numpy())
    values = np.concatenate(medians) if medians else np.empty((0, len(SPECTRA_LABELS)))
    values = values * np.asarray(SPECTRA_SCALES)
    return pd.DataFrame({"obsid": obsids, **dict(zip(SPECTRA_LABELS, values.T, strict=True))})
