"""Synthetic Kepler light curves: real quarter grids, rotation, eclipses and blemishes."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.timeseries import LombScargle

from desa.sky.lightcurves import (
    APERTURE_COSMIC,
    ATTITUDE_TWEAK,
    DESATURATION,
    NO_DATA,
    LightCurveParams,
    QuarterLightCurve,
    eclipse_signal,
    ellipsoidal_signal,
    quarter_grid,
    simulate_light_curve,
)
from desa.sky.population import SkyConfig, draw_stars, rng_for
from desa.surveys.kepler import LONG_CADENCE_DAYS, QUALITY_BITMASKS, QUARTERS

DEFAULT_BITMASK = QUALITY_BITMASKS["default"]  # what lightkurve drops by default


def _stitched(curves: list[QuarterLightCurve]) -> tuple[np.ndarray, np.ndarray]:
    """Finite rows, each quarter divided by its median (as a stitching pipeline does)."""
    times, fluxes = [], []
    for lc in curves:
        good = (
            np.isfinite(lc.time)
            & np.isfinite(lc.pdcsap_flux)
            & ((lc.sap_quality & DEFAULT_BITMASK) == 0)
        )
        times.append(lc.time[good])
        fluxes.append(lc.pdcsap_flux[good] / np.median(lc.pdcsap_flux[good]))
    return np.concatenate(times), np.concatenate(fluxes)


def _ls_period(t: np.ndarray, f: np.ndarray) -> float:
    frequency = np.linspace(1 / 60.0, 1 / 0.25, 12000)
    power = LombScargle(t, f).power(frequency)
    return float(1 / frequency[np.argmax(power)])


def test_quarter_grid_is_the_real_one() -> None:
    for quarter in (0, 2, 17):
        time, cadenceno = quarter_grid(quarter)
        info = QUARTERS[quarter]
        assert time.size == cadenceno.size == info.n_cadences
        assert cadenceno[0] == info.first_cadenceno and np.all(np.diff(cadenceno) == 1)
        assert time[0] == pytest.approx(info.tstart_bkjd)
        assert np.allclose(np.diff(time), LONG_CADENCE_DAYS)


@pytest.mark.parametrize(("prot", "kepmag", "amp"), [(2.7, 13.0, 3000.0), (17.0, 15.0, 1500.0)])
def test_rotation_period_recovered_by_lomb_scargle(prot: float, kepmag: float, amp: float) -> None:
    params = LightCurveParams(
        kepmag=kepmag, prot=prot, rot_amp_ppm=amp, gran_ppm=40, gran_tau_d=0.05
    )
    curves = simulate_light_curve(params, [5, 6, 7], np.random.default_rng(1))
    assert _ls_period(*_stitched(curves)) == pytest.approx(prot, rel=0.1)
    # The modulation amplitude (5-95% range) is of the order the truth says.
    _, flux = _stitched(curves)
    spread = np.subtract(*np.percentile(flux, [95, 5])) * 1e6
    assert 0.5 * amp < spread < 2.5 * amp


def test_clear_rotators_of_the_population_recovered() -> None:
    """Every 'clear rotator' of a small sky shows its truth period within 10%."""
    stars = draw_stars(SkyConfig(n_stars=80, max_quarters=3), seed=3)
    clear = stars[stars["rotation_clear"]].head(12)
    assert len(clear) >= 8
    for star in clear.itertuples(index=False):
        quarters = [int(q) for q in star.quarters.split(",")]
        curves = simulate_light_curve(
            LightCurveParams.from_truth(star), quarters, rng_for(3, "lightcurve", int(star.kic))
        )
        assert _ls_period(*_stitched(curves)) == pytest.approx(star.prot, rel=0.1), star.star_id


def test_eclipses_at_the_eb_period() -> None:
    period, t0, depth = 2.35, 132.0, 0.12
    phase_grid = t0 + period * np.array([0.0, 0.25, 0.5, 1.0, 10.0])
    model = eclipse_signal(phase_grid, period, t0, depth, 0.03, 0.15)
    assert model == pytest.approx([-depth, 0.0, -0.03, -depth, -depth])
    params = LightCurveParams(
        kepmag=12.0, prot=period, rot_amp_ppm=500, gran_ppm=30, gran_tau_d=0.05,
        eb_period=period, eb_t0=t0, eb_depth1=depth, eb_depth2=0.03, eb_duration=0.15,
    )  # fmt: skip
    t, f = _stitched(simulate_light_curve(params, [3], np.random.default_rng(2)))
    phase = np.mod((t - t0) / period + 0.5, 1.0) - 0.5
    in_primary = np.abs(phase) < 0.01
    assert np.median(f[in_primary]) == pytest.approx(1.0 - depth, abs=0.02)
    assert np.median(f[np.abs(phase) > 0.1]) == pytest.approx(1.0, abs=0.01)


def test_gaps_nans_and_quality_flags() -> None:
    params = LightCurveParams(kepmag=14.0, prot=10.0, rot_amp_ppm=800, gran_ppm=40, gran_tau_d=0.05)
    curves = simulate_light_curve(params, [1, 2, 4], np.random.default_rng(4))
    assert [lc.quarter for lc in curves] == [1, 2, 4]
    flags = 0
    for lc in curves:
        n = QUARTERS[lc.quarter].n_cadences
        assert (
            lc.time.size == n
            and lc.cadenceno.dtype == np.int32
            and lc.sap_quality.dtype == np.int32
        )
        nan_time = np.isnan(lc.time)
        assert nan_time.any()
        assert np.isnan(lc.pdcsap_flux[nan_time]).all()
        assert (np.isnan(lc.pdcsap_flux) & ~nan_time).any()  # NaN flux with a finite TIME
        flags |= np.bitwise_or.reduce(lc.sap_quality)
        # PDCSAP sits near the level the Kepler magnitude sets (2.2e5 e-/s at Kp 12).
        assert np.nanmedian(lc.pdcsap_flux) == pytest.approx(2.2e5 * 10 ** (-0.8), rel=0.1)
        assert np.nanmedian(lc.sap_flux) < np.nanmedian(lc.pdcsap_flux)
    for bit in (ATTITUDE_TWEAK, DESATURATION, APERTURE_COSMIC, NO_DATA):
        assert flags & bit
    # Quarter levels differ (PDC normalises each season separately).
    levels = [np.nanmedian(lc.pdcsap_flux) for lc in curves]
    assert len(set(np.round(levels))) == 3


def _cos4_amplitude(t: np.ndarray, f: np.ndarray, period: float, t0: float) -> float:
    """Least-squares amplitude of -cos(4 pi (t - t0) / P) in the relative flux (ppm)."""
    phase = 4.0 * np.pi * (t - t0) / period
    design = np.column_stack([np.ones_like(t), -np.cos(phase), np.sin(phase)])
    coef, *_ = np.linalg.lstsq(design, f, rcond=None)
    return float(coef[1] * 1e6)


def test_close_binaries_show_ellipsoidal_variation_with_single_star_ruwe() -> None:
    """Close pairs carry their binarity in the light curve, not in the astrometry: the
    simulated curve of a non-eclipsing close binary holds the ellipsoidal term the truth
    gives it, while close binaries' RUWE stays in the range of single stars."""
    stars = draw_stars(SkyConfig(n_stars=600, max_quarters=3), seed=3)
    close = stars[stars["binary_kind"] == "close"]
    singles = stars[~stars["is_binary"]]
    assert len(close) >= 20
    assert (close["ruwe"] < 1.4).mean() > 0.95  # below the binary cut of the labels
    assert close["ruwe"].median() == pytest.approx(singles["ruwe"].median(), abs=0.05)
    assert (close["ell_amp_ppm"] > 0).all() and (singles["ell_amp_ppm"] == 0).all()

    kepler = close[close["is_kepler_target"] & ~close["is_eb"]]
    star = kepler.loc[(kepler["ell_amp_ppm"] / kepler["cadence_noise_ppm"]).idxmax()]
    assert star["ell_amp_ppm"] > 3 * star["cadence_noise_ppm"] / np.sqrt(100)
    params = LightCurveParams.from_truth(star)
    curves = simulate_light_curve(params, [4, 5], rng_for(3, "lightcurve", int(star["kic"])))
    t, f = _stitched(curves)
    amplitude = _cos4_amplitude(t, f, star["orbital_period"], star["orb_t0"])
    assert amplitude == pytest.approx(star["ell_amp_ppm"], rel=0.25)


def test_ellipsoidal_signal_is_faintest_at_conjunction() -> None:
    period, t0 = 1.7, 140.0
    t = t0 + period * np.array([0.0, 0.25, 0.5, 0.75])
    assert ellipsoidal_signal(t, period, t0, 800.0) == pytest.approx([-8e-4, 8e-4, -8e-4, 8e-4])
