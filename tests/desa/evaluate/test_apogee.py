"""MAE of the spectra encoder and of LAMOST against APOGEE, on the same test spectra."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from desa.evaluate.apogee import TEFF_MAX_K, apogee_comparison_rows, apogee_scores


def _inputs() -> tuple[pd.DataFrame, ...]:
    labels = pd.DataFrame(
        {
            "obsid": [1, 2, 3, 4, 5],
            "split": ["test", "test", "test", "test", "train"],
            "snrg": [10.0, 30.0, 80.0, 200.0, 50.0],
            "teff": [5000.0, 5500.0, np.nan, 7800.0, 5000.0],  # LASP failed on obsid 3
            "logg": [4.5, 4.4, 4.0, 4.0, 4.5],
            "feh": [0.0, -0.1, 0.2, 0.0, 0.0],
        }
    )
    predictions = pd.DataFrame(
        {
            "obsid": [1, 2, 3, 4, 5],
            "teff": [5100.0, 5450.0, 6000.0, 7700.0, 5000.0],
            "logg": [4.3, 4.5, 4.1, 4.0, 4.5],
            "feh": [0.05, -0.1, 0.1, 0.0, 0.0],
        }
    )
    matches = pd.DataFrame({"obsid": [1, 2, 3, 4, 5], "apogee_id": ["a", "b", "c", "d", "e"]})
    apogee = pd.DataFrame(
        {
            "apogee_id": ["a", "b", "c", "d", "e"],
            "teff": [5050.0, 5600.0, 6100.0, 7900.0, 5000.0],  # d is above 7500 K
            "logg": [4.4, 4.4, 4.2, 4.0, 4.5],
            "feh": [0.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    return labels, predictions, matches, apogee


def test_rows_are_test_spectra_with_an_apogee_star_below_the_teff_limit() -> None:
    rows = apogee_comparison_rows(*_inputs())
    assert rows["obsid"].tolist() == [1, 2, 3]  # 4: APOGEE Teff >= 7500 K; 5: not a test one
    assert TEFF_MAX_K == 7500.0
    assert rows.loc[0, ["encoder_teff", "lamost_teff", "apogee_teff"]].tolist() == [
        5100.0,
        5000.0,
        5050.0,
    ]


def test_mae_by_hand_on_the_same_spectra() -> None:
    scores = apogee_scores(apogee_comparison_rows(*_inputs()))
    overall = scores["overall"]
    assert scores["n"] == 3
    # Teff: LASP has no value for obsid 3, so both MAEs use obsids 1 and 2 only.
    assert overall["teff_n"] == 2
    assert overall["encoder_teff_mae"] == pytest.approx((50 + 150) / 2)
    assert overall["lamost_teff_mae"] == pytest.approx((50 + 100) / 2)
    # logg and [Fe/H] use all three.
    assert overall["logg_n"] == 3
    assert overall["encoder_logg_mae"] == pytest.approx((0.1 + 0.1 + 0.1) / 3)
    assert overall["lamost_logg_mae"] == pytest.approx((0.1 + 0.0 + 0.2) / 3)
    assert overall["lamost_feh_mae"] == pytest.approx((0.0 + 0.1 + 0.2) / 3)


def test_snr_bins_split_the_spectra() -> None:
    scores = apogee_scores(apogee_comparison_rows(*_inputs()), snr_edges=(0, 20, 50, math.inf))
    bins = scores["snr_bins"]
    assert [(b["snr_low"], b["snr_high"], b["n"]) for b in bins] == [
        (0, 20, 1),
        (20, 50, 1),
        (50, None, 1),
    ]
    assert bins[0]["encoder_teff_mae"] == pytest.approx(50.0)
    assert bins[2]["teff_n"] == 0 and bins[2]["encoder_teff_mae"] is None  # LASP missing
    assert bins[2]["encoder_feh_mae"] == pytest.approx(0.1)
