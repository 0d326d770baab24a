"""Synthetic Kepler long-cadence light curves, one array set per quarter.

The star's signal is computed once on all its cadences (so spots evolve continuously across
quarters) and then cut into quarters with the real cadence numbers, start times and row counts
(`desa.surveys.kepler.QUARTERS`):

- rotation: spot modulation at the star's period with an amplitude envelope and a phase that
  wander on the spot-evolution time scale (a few rotations), plus a weaker first harmonic;
- granulation: AR(1) red noise; white noise from photon statistics at the star's Kepler
  magnitude (`physics.kepler_cadence_noise`);
- eclipses: trapezoid primary and secondary dips at the EB period for eclipsing binaries;
- ellipsoidal variation of close binaries (eclipsing or not): a cos(4 pi phase) term with
  minima at the conjunctions (`physics.ellipsoidal_amplitude_ppm`);
- per quarter: a different PDC flux level (aperture changes each season), SAP = PDC x the flux
  fraction in the aperture x slow systematics and thermal ramps after data gaps;
- real blemishes: NaN-TIME monthly downlink gaps, a no-data run with finite TIME and NaN fluxes
  (quality 65536), isolated NaN PDCSAP rows, reaction-wheel desaturations every ~3 d (32),
  attitude tweaks (1) and cosmic rays in the aperture (128).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter

from desa.sky.physics import kepler_cadence_noise, kepler_flux
from desa.surveys.kepler import LONG_CADENCE_DAYS, QUARTERS

# SAP_QUALITY bits (Kepler Archive Manual; lightkurve KeplerQualityFlags).
ATTITUDE_TWEAK = 1
DESATURATION = 32
APERTURE_COSMIC = 128
NO_DATA = 65536


@dataclass(frozen=True)
class LightCurveParams:
    """What a star's light curve depends on (columns of the truth table)."""

    kepmag: float
    prot: float  # d
    rot_amp_ppm: float  # peak-to-peak spot amplitude
    gran_ppm: float
    gran_tau_d: float
    eb_period: float = float("nan")  # d; NaN = not eclipsing
    eb_t0: float = float("nan")  # BKJD of a primary eclipse
    eb_depth1: float = 0.0
    eb_depth2: float = 0.0
    eb_duration: float = 0.0  # d
    orb_period: float = float("nan")  # d; orbit of a close binary (NaN = none)
    orb_t0: float = float("nan")  # BKJD of the primary's conjunction
    ell_amp_ppm: float = 0.0  # ellipsoidal semi-amplitude

    @classmethod
    def from_truth(cls, row: Any) -> LightCurveParams:
        """From a row (namedtuple or Series) of `population.draw_stars`."""
        eb = bool(getattr(row, "is_eb", False))
        ell = float(getattr(row, "ell_amp_ppm", 0.0) or 0.0)
        return cls(
            kepmag=float(row.kepmag),
            prot=float(row.prot),
            rot_amp_ppm=float(row.rot_amp_ppm),
            gran_ppm=float(row.gran_ppm),
            gran_tau_d=float(row.gran_tau_d),
            eb_period=float(row.eb_period) if eb else float("nan"),
            eb_t0=float(row.eb_t0) if eb else float("nan"),
            eb_depth1=float(row.eb_depth1) if eb else 0.0,
            eb_depth2=float(row.eb_depth2) if eb else 0.0,
            eb_duration=float(row.eb_duration) if eb else 0.0,
            orb_period=float(row.orbital_period) if ell > 0 else float("nan"),
            orb_t0=float(row.orb_t0) if ell > 0 else float("nan"),
            ell_amp_ppm=ell,
        )


@dataclass(frozen=True, eq=False)
class QuarterLightCurve:
    """One quarter, in the columns `write_llc` takes."""

    quarter: int
    time: np.ndarray  # BKJD, NaN in gaps
    cadenceno: np.ndarray  # int32
    sap_flux: np.ndarray
    sap_flux_err: np.ndarray
    pdcsap_flux: np.ndarray
    pdcsap_flux_err: np.ndarray
    sap_quality: np.ndarray  # int32


def quarter_grid(quarter: int) -> tuple[np.ndarray, np.ndarray]:
    """(mid-cadence BKJD times, CADENCENO) of every row of a quarter's long-cadence file."""
    info = QUARTERS[quarter]
    k = np.arange(info.n_cadences)
    return info.tstart_bkjd + k * LONG_CADENCE_DAYS, (info.first_cadenceno + k).astype(np.int32)


def _wander(t: np.ndarray, step: float, sigma: float, rng: np.random.Generator, walk: bool):
    """A smooth random function of time: knots every `step` days, linear in between; a random
    walk (for the spot phase) or independent values (for the log amplitude)."""
    knots = np.arange(t.min() - step, t.max() + 2 * step, step)
    values = rng.normal(0.0, sigma, knots.size)
    if walk:
        values = np.cumsum(values)
    return np.interp(t, knots, values)


def spot_signal(t: np.ndarray, prot: float, amp_ppm: float, rng: np.random.Generator) -> np.ndarray:
    """Relative flux of rotational spot modulation, peak-to-peak ~ `amp_ppm` on average.

    Spots live a few rotations (3 P, kept within 5-60 d), so the amplitude envelope and the
    phase wander on that time scale; the harmonic (up to 0.3 of the fundamental) shapes the dips
    without moving the periodogram peak off the rotation period.
    """
    lifetime = float(np.clip(3.0 * prot, 5.0, 60.0))
    envelope = np.exp(_wander(t, lifetime, 0.25, rng, walk=False))
    phase = _wander(t, lifetime, 0.4, rng, walk=True)
    theta = 2.0 * np.pi * t / prot + rng.uniform(0, 2 * np.pi) + phase
    shape = np.cos(theta) + rng.uniform(0.0, 0.3) * np.cos(2.0 * theta + rng.uniform(0, 2 * np.pi))
    return -0.5e-6 * amp_ppm * envelope * shape


def eclipse_signal(
    t: np.ndarray, period: float, t0: float, depth1: float, depth2: float, duration: float
) -> np.ndarray:
    """Trapezoid primary (phase 0) and secondary (phase 0.5) eclipses; ingress = 1/4 of the
    half-duration."""
    phase = np.mod((t - t0) / period, 1.0)
    half = duration / (2.0 * period)

    def dip(distance: np.ndarray) -> np.ndarray:
        return np.clip((half - distance) / (0.25 * half), 0.0, 1.0)

    d_primary = np.minimum(phase, 1.0 - phase)
    d_secondary = np.abs(phase - 0.5)
    return -depth1 * dip(d_primary) - depth2 * dip(d_secondary)


def ellipsoidal_signal(t: np.ndarray, period: float, t0: float, amp_ppm: float) -> np.ndarray:
    """Relative flux of a tidally distorted star: -A cos(4 pi (t - t0) / P), faintest at the
    conjunctions (phases 0 and 0.5) where its smallest cross-section faces us."""
    return -1e-6 * amp_ppm * np.cos(4.0 * np.pi * (t - t0) / period)


def red_noise(n: int, tau_d: float, ppm: float, rng: np.random.Generator) -> np.ndarray:
    """AR(1) noise with correlation time `tau_d` and rms `ppm` (relative units)."""
    phi = np.exp(-LONG_CADENCE_DAYS / tau_d)
    white = rng.standard_normal(n) * ppm * 1e-6 * np.sqrt(1.0 - phi**2)
    return lfilter([1.0], [1.0, -phi], white)


def _blemishes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(NaN-time rows, no-data rows, quality bits) of one quarter of n cadences."""
    nan_time = np.zeros(n, dtype=bool)
    quality = np.zeros(n, dtype=np.int32)
    if n > 1000:  # monthly data downlinks: ~1 d without data at 1/3 and 2/3 of the quarter
        for frac in (1 / 3, 2 / 3):
            start = int(frac * n) + int(rng.integers(-50, 50))
            nan_time[start : start + int(rng.integers(40, 70))] = True
    no_data = np.zeros(n, dtype=bool)
    start = int(rng.integers(0, n - 20))
    no_data[start : start + int(rng.integers(5, 20))] = True
    no_data &= ~nan_time
    quality[no_data] |= NO_DATA
    quality[nan_time] |= NO_DATA
    desat = np.arange(int(rng.integers(0, 147)), n, 147)  # every ~3 d
    quality[desat] |= DESATURATION
    quality[rng.choice(n, int(rng.integers(1, 3)), replace=False)] |= ATTITUDE_TWEAK
    quality[rng.choice(n, max(1, n // 300), replace=False)] |= APERTURE_COSMIC
    return nan_time, no_data, quality


def simulate_light_curve(
    params: LightCurveParams, quarters: list[int], rng: np.random.Generator
) -> list[QuarterLightCurve]:
    """The star's light curve in each of `quarters` (real Kepler long-cadence rows)."""
    grids = [quarter_grid(q) for q in quarters]
    # The barycentric correction shifts a star's TIME by up to ~0.005 d from the spacecraft time.
    t_all = np.concatenate([g[0] for g in grids]) + rng.uniform(-0.004, 0.004)
    signal = spot_signal(t_all, params.prot, params.rot_amp_ppm, rng)
    signal += red_noise(t_all.size, params.gran_tau_d, params.gran_ppm, rng)
    if np.isfinite(params.eb_period):
        signal += eclipse_signal(
            t_all,
            params.eb_period,
            params.eb_t0,
            params.eb_depth1,
            params.eb_depth2,
            params.eb_duration,
        )
    if params.ell_amp_ppm > 0.0:
        signal += ellipsoidal_signal(t_all, params.orb_period, params.orb_t0, params.ell_amp_ppm)
    flux0 = float(kepler_flux(params.kepmag))

    out = []
    start = 0
    for quarter, (_, cadenceno) in zip(quarters, grids, strict=True):
        n = cadenceno.size
        t = t_all[start : start + n]
        rel = signal[start : start + n]
        start += n
        level = flux0 * (1.0 + rng.normal(0.0, 0.02))  # PDC level differs by season
        sigma = float(kepler_cadence_noise(level))
        pdc = level * (1.0 + rel) + sigma * rng.standard_normal(n)
        pdc_err = sigma * (1.0 + 0.01 * rng.standard_normal(n))

        nan_time, no_data, quality = _blemishes(n, rng)
        # SAP: only part of the star's light falls in the aperture, plus slow drifts and a
        # thermal ramp after each gap that PDC removed.
        frac = rng.uniform(0.75, 0.95)
        x = (t - t.mean()) / 45.0
        drift = rng.normal(0, 0.003) * x + rng.normal(0, 0.003) * x**2
        gap_ends = np.flatnonzero(np.diff(nan_time.astype(int)) == -1) + 1
        for end in gap_ends:
            after = np.clip(t - t[end], 0.0, None)
            drift -= np.where(t >= t[end], 0.002 * np.exp(-after / 1.0), 0.0)
        sap_sigma = sigma * np.sqrt(frac)
        sap = frac * level * (1.0 + rel) * (1.0 + drift) + sap_sigma * rng.standard_normal(n)
        sap[(quality & APERTURE_COSMIC) != 0] += 5.0 * sap_sigma
        sap_err = np.full(n, sap_sigma)

        # Isolated PDC failures: NaN flux with finite TIME and no quality bit (as in real files).
        pdc_nan = no_data | (rng.uniform(0, 1, n) < 0.002)
        pdc[pdc_nan] = np.nan
        pdc_err[pdc_nan] = np.nan
        for column in (sap, sap_err):
            column[no_data] = np.nan
        time = np.where(nan_time, np.nan, t)
        for column in (pdc, pdc_err, sap, sap_err):
            column[nan_time] = np.nan
        out.append(QuarterLightCurve(quarter, time, cadenceno, sap, sap_err, pdc, pdc_err, quality))
    return out
