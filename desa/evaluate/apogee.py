"""The spectra encoder against APOGEE DR17 (paper §5.1 and Table 1).

The encoder is trained on LAMOST's own pipeline (LASP) labels; APOGEE's high-resolution
H-band parameters are an independent reference. On held-out (test) spectra matched to a usable
APOGEE star, the MAE of the encoder's median prediction and the MAE of LASP's value are
computed against APOGEE on the same spectra, overall and in bins of LAMOST g-band S/N (the
paper's Appendix A shows MAE against S/N). Like the DESA reference, stars are kept below
7500 K (desa_reference.md §11: "vs APOGEE (Teff<7500 restricted)").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from catalogs.apogee import match_apogee, usable_apogee
from desa.training.config import TrainingConfig
from storage import layout
from storage.layout import DataRoot
from storage.tables import read_parquet

LABELS = ("teff", "logg", "feh")
SOURCES = ("encoder", "lamost")  # the spectra encoder, the LAMOST pipeline (LASP)
TEFF_MAX_K = 7500.0
SNR_EDGES = (0.0, 20.0, 50.0, 100.0, math.inf)  # LAMOST snrg bins


def apogee_comparison_rows(
    spectra_labels: pd.DataFrame,
    predictions: pd.DataFrame,
    matches: pd.DataFrame,
    apogee: pd.DataFrame,
    *,
    split: str = "test",
) -> pd.DataFrame:
    """One row per ``split`` spectrum with an APOGEE star below ``TEFF_MAX_K``: ``obsid``,
    ``snrg`` and ``<source>_<label>`` for the encoder, LAMOST and APOGEE.

    ``spectra_labels`` is ``labels/spectra_labels`` (obsid, split, snrg, LASP teff/logg/feh),
    ``predictions`` the encoder's (obsid, teff, logg, feh), ``matches`` ``match_apogee``
    output (obsid, apogee_id) and ``apogee`` ``usable_apogee`` output.
    """
    held_out = spectra_labels[spectra_labels["split"] == split]
    lamost = held_out[["obsid", "snrg", *LABELS]].rename(columns=_prefixed("lamost"))
    encoder = predictions[["obsid", *LABELS]].rename(columns=_prefixed("encoder"))
    reference = apogee[["apogee_id", *LABELS]].rename(columns=_prefixed("apogee"))
    rows = (
        lamost.merge(matches[["obsid", "apogee_id"]], on="obsid")
        .merge(reference, on="apogee_id")
        .merge(encoder, on="obsid")
    )
    rows = rows[rows["apogee_teff"] < TEFF_MAX_K]
    return rows.sort_values("obsid").reset_index(drop=True)


def _prefixed(source: str) -> dict[str, str]:
    return {label: f"{source}_{label}" for label in LABELS}


def _maes(rows: pd.DataFrame) -> dict[str, Any]:
    """Per label: n spectra with all three values, and each source's MAE against APOGEE."""
    out: dict[str, Any] = {}
    for label in LABELS:
        truth = rows[f"apogee_{label}"].to_numpy(dtype=float)
        values = {s: rows[f"{s}_{label}"].to_numpy(dtype=float) for s in SOURCES}
        same = np.isfinite(truth) & np.all([np.isfinite(v) for v in values.values()], axis=0)
        out[f"{label}_n"] = int(same.sum())
        for source, value in values.items():
            mae = float(np.mean(np.abs(value[same] - truth[same]))) if same.any() else None
            out[f"{source}_{label}_mae"] = mae
    return out


def apogee_scores(rows: pd.DataFrame, snr_edges: Sequence[float] = SNR_EDGES) -> dict[str, Any]:
    """MAE of the encoder and of LAMOST against APOGEE, overall and per S/N bin.

    Each label's two MAEs use the same spectra: those where the encoder, LAMOST and APOGEE all
    have a value (LASP fails on some spectra). Bins are [low, high) in LAMOST ``snrg``.
    """
    bins = []
    snr = rows["snrg"].to_numpy(dtype=float)
    for low, high in itertools.pairwise(snr_edges):
        inside = (snr >= low) & (snr < high)
        high_value = None if math.isinf(high) else high
        bins.append(
            {"snr_low": low, "snr_high": high_value, "n": int(inside.sum())} | _maes(rows[inside])
        )
    return {
        "n": len(rows),
        "teff_max_k": TEFF_MAX_K,
        "snr_column": "snrg",
        "overall": _maes(rows),
        "snr_bins": bins,
    }


def apogee_metrics(
    root: DataRoot, radius_arcsec: float, profile: str, training: TrainingConfig
) -> dict[str, Any]:
    """The spectra encoder and LASP against APOGEE DR17 on the root's test spectra (paper
    Table 1), matched within ``radius_arcsec``; the encoder is the ``profile``'s."""
    from desa.models.profiles import model_configs
    from desa.models.spectra import SpectraModel
    from desa.training.runs import load_trained, training_device
    from desa.training.spectra_predictions import predict_spectra_labels

    if not all(root.fs.exists(root.of(catalog)) for catalog in layout.APOGEE_INPUTS):
        return {"note": "no APOGEE DR17 catalog in this data root"}
    apogee = usable_apogee(read_parquet(root.fs, root.of(layout.APOGEE)))
    lamost = read_parquet(root.fs, root.of(layout.LAMOST_CATALOG))
    labels = read_parquet(root.fs, root.of(layout.labels("spectra_labels")))
    test = lamost[lamost["obsid"].isin(labels.loc[labels["split"] == "test", "obsid"])]
    matches = match_apogee(test, apogee, radius_arcsec)
    if matches.empty:
        return {"n": 0, "note": "no test spectrum matches a usable APOGEE star"}
    config = model_configs(profile).spectra
    model = load_trained(root.url_of(layout.SPECTRA_MODEL), SpectraModel(config), config)
    predictions = predict_spectra_labels(
        model,
        root.url_of(layout.SPECTRA),
        matches["obsid"].to_numpy(),
        device=training_device(training),
    )
    return apogee_scores(apogee_comparison_rows(labels, predictions, matches, apogee))
