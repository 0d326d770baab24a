"""What the demo sky holds beyond the six priors: gyrochronology ages, activity tied to
rotation, composite binaries, and a demo size whose test set resolves the headline tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from desa.sky.physics import bv_from_teff, hk_emission_ew
from desa.sky.population import SkyConfig, draw_stars, draw_visits


@pytest.fixture(scope="module")
def stars() -> pd.DataFrame:
    return draw_stars(SkyConfig(n_stars=600), seed=5)


def _gyro_dwarfs(stars: pd.DataFrame) -> pd.DataFrame:
    """Dwarfs that spin down by magnetic braking: below the Kraft break, not tidally locked."""
    return stars[(stars["evol_stage"] == "dwarf") & (stars["teff"] < 6200) & ~stars["synchronized"]]


def test_ages_follow_from_rotation_and_colour(stars: pd.DataFrame) -> None:
    """Inverting Barnes 2007 (P = 0.7725 (B-V - 0.4)^0.601 t[Myr]^0.5189) on the generated
    period and colour gives back the star's age: rotation and colour together fix it, either
    alone does not."""
    d = _gyro_dwarfs(stars)
    colour = np.maximum(bv_from_teff(d["teff"].to_numpy()) - 0.4, 0.07)
    age_myr = (d["prot"].to_numpy() / (0.7725 * colour**0.601)) ** (1 / 0.5189)
    log_ratio = np.log10(age_myr / 1000.0 / d["age_gyr"].to_numpy())
    assert np.median(np.abs(log_ratio)) < 0.06  # 5% period scatter -> ~10% in age
    for alone in ("prot", "teff"):
        rho = spearmanr(d[alone], d["age_gyr"]).statistic
        assert abs(rho) < 0.9, alone


def test_activity_tracks_rotation(stars: pd.DataFrame) -> None:
    """Chromospheric activity (log R'HK, hence Ca II emission) and spot amplitude fall with the
    Rossby number; fast rotators are active, slow ones near the basal level."""
    d = _gyro_dwarfs(stars)
    assert spearmanr(d["rossby"], d["log_rhk"]).statistic < -0.9
    assert spearmanr(d["rossby"], d["rot_amp_ppm"]).statistic < -0.7
    fast, slow = d[d["rossby"] < 0.5], d[d["rossby"] > 2.0]
    assert fast["log_rhk"].median() > -4.6 > -4.9 > slow["log_rhk"].median()
    # The Ca II core emission a spectrum shows grows with activity at fixed Teff.
    assert hk_emission_ew(-4.4, 5200.0) > 3 * hk_emission_ew(-5.0, 5200.0)


def test_binaries_carry_a_coeval_companion_and_its_orbit(stars: pd.DataFrame) -> None:
    binaries = stars[stars["is_binary"]]
    dwarfs = binaries[binaries["evol_stage"] == "dwarf"]
    assert (dwarfs["teff2"] <= dwarfs["teff"] + 1).all()  # lower mass, same age
    assert (binaries["radius2"] > 0).all() and binaries["logg2"].between(4.0, 5.6).all()
    # K2 = K1 / q: the companion moves faster, in antiphase.
    assert binaries["rv2_amp"].to_numpy() == pytest.approx(
        binaries["rv_amp"].to_numpy() / binaries["mass_ratio"].to_numpy()
    )
    visits = draw_visits(stars, seed=5)
    binary_visits = visits[visits["star_id"].isin(binaries["star_id"])]
    assert binary_visits["rv2"].notna().all()
    assert visits.loc[~visits["star_id"].isin(binaries["star_id"]), "rv2"].isna().all()
    sys_rv = visits["star_id"].map(stars.set_index("star_id")["rv_sys"])
    primary = (visits["rv"] - sys_rv)[binary_visits.index]
    secondary = (visits["rv2"] - sys_rv)[binary_visits.index]
    q = binary_visits["star_id"].map(stars.set_index("star_id")["mass_ratio"])
    assert (secondary * q).to_numpy() == pytest.approx(-primary.to_numpy(), abs=1e-6)
    # Eclipse depths are in the ratio of the surface brightnesses.
    eb = stars[stars["is_eb"]]
    ratio = eb["eb_depth2"] / eb["eb_depth1"]
    expected = np.clip((eb["teff2"] / eb["teff"]) ** 4, 0.02, 1.0)
    assert ratio.to_numpy() == pytest.approx(expected.to_numpy())
