"""The synthetic star population: proportions, ids, positions, binaries and visits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from desa.sky.population import (
    CMD_CLASSES,
    KEPLER_FIELD_DEC,
    KEPLER_FIELD_RA,
    SkyConfig,
    draw_stars,
    draw_visits,
    lamost_designation,
)


@pytest.fixture(scope="module")
def stars() -> pd.DataFrame:
    return draw_stars(SkyConfig(n_stars=300), seed=7)


@pytest.fixture(scope="module")
def visits(stars: pd.DataFrame) -> pd.DataFrame:
    return draw_visits(stars, seed=7)


def _field_distance(frame: pd.DataFrame) -> np.ndarray:
    cos_dec = np.cos(np.radians(frame["dec"]))
    return np.hypot((frame["ra"] - KEPLER_FIELD_RA) * cos_dec, frame["dec"] - KEPLER_FIELD_DEC)


def test_same_seed_same_stars_other_seed_other_stars(stars: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(draw_stars(SkyConfig(n_stars=300), seed=7), stars)
    other = draw_stars(SkyConfig(n_stars=300), seed=8)
    assert not np.allclose(other["teff"], stars["teff"])


def test_proportions_asked_for(stars: pd.DataFrame, visits: pd.DataFrame) -> None:
    lamost = stars[stars["has_spectrum"]]
    kepler = stars[stars["is_kepler_target"]]
    assert len(stars) == 300
    # ~10% of LAMOST stars outside the field, ~15% of Kepler stars without a spectrum,
    # ~20% of LAMOST stars with 2-3 visits, ~45% binaries (Raghavan et al. 2010).
    assert (lamost["kind"] == "outside").mean() == pytest.approx(0.10, abs=0.02)
    assert (~kepler["has_spectrum"]).mean() == pytest.approx(0.15, abs=0.02)
    assert (lamost["n_spectra"] > 1).mean() == pytest.approx(0.20, abs=0.06)
    assert set(lamost["n_spectra"]) == {1, 2, 3}
    assert stars["is_binary"].mean() == pytest.approx(0.45, abs=0.06)
    assert len(visits) == lamost["n_spectra"].sum()


def test_ids_unique_and_in_real_ranges(stars: pd.DataFrame, visits: pd.DataFrame) -> None:
    kepler = stars[stars["is_kepler_target"]]
    assert kepler["kic"].notna().all() and stars.loc[~stars["is_kepler_target"], "kic"].isna().all()
    assert kepler["kic"].is_unique
    assert kepler["kic"].between(1_000_000, 12_999_999).all()
    assert stars["gaia_source_id"].dtype == np.int64 and stars["gaia_source_id"].is_unique
    assert visits["obsid"].is_unique and visits["obsid"].dtype == np.int64
    # KIC numbers grow with declination, as in the real catalog.
    assert kepler.sort_values("kic")["dec"].is_monotonic_increasing


def test_positions(stars: pd.DataFrame) -> None:
    dist = _field_distance(stars)
    in_field = stars["kind"] != "outside"
    assert (dist[in_field] <= 8.0 + 1e-3).all()
    assert (dist[~in_field] > 15.0).all()
    assert (stars.loc[in_field, "in_kepler_field"]).all()
    # Close pairs: two Kepler stars under 3" apart, the first with a spectrum.
    pairs = stars[stars["close_pair"] >= 0].groupby("close_pair")
    assert pairs.ngroups >= 2
    for _, pair in pairs:
        assert len(pair) == 2 and pair["is_kepler_target"].all()
        a, b = pair.iloc[0], pair.iloc[1]
        sep = np.hypot((a.ra - b.ra) * np.cos(np.radians(a.dec)), a.dec - b.dec) * 3600
        assert 0.5 < sep < 3.0


def test_parameter_ranges_and_classes(stars: pd.DataFrame) -> None:
    assert stars["teff"].between(3400, 7200).all()
    assert stars["age_gyr"].between(0.3, 10.0).all()
    assert stars["dist_pc"].between(100, 2000).all()
    assert stars["feh"].mean() == pytest.approx(-0.05, abs=0.06)
    assert set(stars["cmd_class"]) <= set(CMD_CLASSES)
    assert {"Dwarf", "Subgiant", "Giant_Branch", "Photometric_Binary"} <= set(stars["cmd_class"])
    giants = stars[stars["evol_stage"] == "giant"]
    assert (giants["logg"] < 3.5).all() and (
        stars.loc[stars["evol_stage"] == "dwarf", "logg"] > 4.0
    ).all()


def test_binaries_over_luminous_at_fixed_teff(stars: pd.DataFrame) -> None:
    dwarfs = stars[(stars["evol_stage"] == "dwarf") & (stars["frac_ms"] < 0.6)]
    single = dwarfs[~dwarfs["is_binary"]]
    # Main-sequence ridge of the single stars: M_G against Teff.
    ridge = np.polynomial.Polynomial.fit(single["teff"], single["abs_g0"], 3)
    residual = dwarfs["abs_g0"] - ridge(dwarfs["teff"])
    binary = dwarfs["is_binary"] & (dwarfs["mass_ratio"] > 0.7)
    assert residual[binary].median() < residual[~dwarfs["is_binary"]].median() - 0.2
    assert stars["delta_mag"].between(-0.76, 0.0).all()
    assert (stars.loc[stars["is_binary"], "ruwe"] > 1.4).mean() > 0.2
    assert (stars.loc[~stars["is_binary"], "ruwe"] < 1.4).all()


def test_binary_flags_consistent(stars: pd.DataFrame) -> None:
    ebs = stars[stars["is_eb"]]
    assert len(ebs) >= 3 and ebs["is_binary"].all() and ebs["eb_period"].gt(0).all()
    assert stars.loc[~stars["is_eb"], "eb_period"].isna().all()
    # Tidally locked close binaries rotate with the orbit.
    sync = stars[stars["synchronized"]]
    assert np.allclose(sync["prot"], sync["orbital_period"])
    assert (stars.loc[stars["rv_variable"], "rv_amp"] > 5).all()


def test_visits(stars: pd.DataFrame, visits: pd.DataFrame) -> None:
    by_star = visits.groupby("star_id")
    repeats = by_star.filter(lambda g: len(g) > 1)
    # Repeat visits: other obsids, nights and SNRs of the same star.
    for _, group in repeats.groupby("star_id"):
        assert group["obsid"].is_unique and group["date_obs"].is_unique
        assert group["snr_g_target"].nunique() == len(group)
    # The RV of RV-variable binaries changes between visits; that of single stars does not.
    truth = stars.set_index("star_id")
    spread = by_star["rv"].agg(np.ptp)[by_star.size() > 1]
    assert (spread[~truth.loc[spread.index, "is_binary"]] < 1e-9).all()
    assert (spread[truth.loc[spread.index, "rv_variable"]] > 1.0).any()
    assert set(visits["layout"]) == {"image", "coadd"}
    assert (visits.loc[visits["layout"] == "coadd", "data_v"] == "LAMOST DR9").all()
    old = set(visits.loc[visits["layout"] == "image", "data_v"])
    assert "LAMOST DR8" in old and old <= {f"LAMOST DR{n}" for n in (5, 6, 7, 8)}
    assert visits["n_pixels"].nunique() > 2 and (visits["start_pixel"] == 158).any()


def test_lk_links_for_most_but_not_all_kepler_stars(
    stars: pd.DataFrame, visits: pd.DataFrame
) -> None:
    kepler_visits = visits[visits["kic"].notna()]
    linked = kepler_visits["tsource"] == "Kepler"
    assert 0.6 < linked.mean() < 0.95
    expected = kepler_visits.loc[linked, "kic"].map(lambda k: f"kplr{int(k):09d}")
    assert (kepler_visits.loc[linked, "tcomment"] == expected).all()
    assert (visits.loc[visits["kic"].isna(), "tsource"] != "Kepler").all()


def test_designation_format() -> None:
    assert lamost_designation(292.05871, 43.925222) == "J192814.09+435530.8"
    assert lamost_designation(45.0, -1.5) == "J030000.00-013000.0"
