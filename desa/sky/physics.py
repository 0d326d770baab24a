"""Stellar relations of the synthetic sky: pure functions of stellar parameters (and of a Kepler
magnitude), through which `population` draws the stars and `lightcurves` simulates their noise.

Every relation here is deliberately simple, documented and cited so that a model trained on the
demo sky has something true to learn; none is meant to replace stellar models:

- main sequence: mass-luminosity L = M^4 (Duric 2004, 0.43 < M < 2) and radius R = M^0.8
  (M < 1) / M^0.57 (M >= 1) at the zero-age main sequence, brightening and growing through the
  main-sequence lifetime t_MS = 10 Gyr M^-2.5 (Hansen & Kawaler 1994);
- photometry: Gaia G bolometric correction of Andrae et al. 2018 (A&A 616, A8, Table 8),
  colour-Teff relations interpolated in the dwarf table of Pecaut & Mamajek 2013 (rounded);
- rotation: Barnes 2007 gyrochronology P = a [(B-V)0 - c]^b t^n (ApJ 669, 1167) with
  (B-V)0 from Teff by inverting Ballesteros 2012 (EPL 97, 34008); activity amplitude falls
  with the Rossby number P / tau_c, tau_c of Cranmer & Saar 2011 (ApJ 741, 54);
- chromospheric activity: log R'HK from the Rossby number (Mamajek & Hillenbrand 2008), turned
  into Ca II H&K core-emission equivalent widths over the stellar continuum;
- close binaries: ellipsoidal variation of a tidally distorted primary (Morris 1985; Faigler &
  Mazeh 2011);
- Kepler: median PDCSAP flux and long-cadence noise of a Kepler magnitude (fitted to real DR25
  files).
"""

from __future__ import annotations

import numpy as np

TEFF_SUN = 5772.0
LOGG_SUN = 4.438
MBOL_SUN = 4.74
C_KMS = 299792.458
KMS_PER_AU_YR = 4.74047  # v_t [km/s] = 4.74047 * mu [arcsec/yr] * d [pc]


def main_sequence(
    mass: np.ndarray, frac_ms: np.ndarray, feh: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L [Lsun], R [Rsun], Teff [K]) of dwarfs at a fraction `frac_ms` of their MS lifetime.

    The (0.72 + 0.6 f) and (0.89 + 0.24 f) factors make the Sun (f = 0.46) come out at 1 Lsun and
    1 Rsun and let stars brighten ~1.8x to the end of the main sequence; metal-rich stars are
    slightly fainter at fixed mass.
    """
    lum = mass**4 * (0.72 + 0.6 * frac_ms) * 10 ** (-0.15 * feh)
    radius = np.where(mass < 1.0, mass**0.8, mass**0.57) * (0.89 + 0.24 * frac_ms)
    teff = TEFF_SUN * (lum / radius**2) ** 0.25
    return lum, radius, teff


def ms_lifetime_gyr(mass: np.ndarray) -> np.ndarray:
    return 10.0 * mass**-2.5


def log_g(mass: np.ndarray, radius: np.ndarray) -> np.ndarray:
    return LOGG_SUN + np.log10(mass) - 2 * np.log10(radius)


def bc_g(teff: np.ndarray) -> np.ndarray:
    """Gaia G bolometric correction (Andrae et al. 2018, Table 8 polynomials in Teff - 5772)."""
    x = np.asarray(teff, dtype=float) - TEFF_SUN
    hot = np.polyval([-7.197e-15, 2.859e-11, -6.647e-08, 6.731e-05, 6.000e-02], x)
    cool = np.polyval([-4.183e-14, -8.966e-11, 3.737e-07, 1.977e-03, 1.749e00], x)
    return np.where(teff >= 4000.0, hot, cool)


# Dwarf colour-Teff anchors (Pecaut & Mamajek 2013 table, rounded): Teff, BP-RP, G-Ks.
_TEFF_ANCHORS = np.array([3300, 3500, 3850, 4400, 5000, 5500, 5770, 6100, 6500, 7000, 7500.0])
_BP_RP_ANCHORS = np.array([2.60, 2.25, 1.84, 1.42, 1.12, 0.93, 0.82, 0.72, 0.59, 0.47, 0.38])
_G_KS_ANCHORS = np.array([3.80, 3.50, 3.00, 2.35, 1.90, 1.62, 1.45, 1.30, 1.05, 0.85, 0.70])


def bp_rp_from_teff(teff: np.ndarray) -> np.ndarray:
    return np.interp(teff, _TEFF_ANCHORS, _BP_RP_ANCHORS)


def g_minus_ks_from_teff(teff: np.ndarray) -> np.ndarray:
    return np.interp(teff, _TEFF_ANCHORS, _G_KS_ANCHORS)


def bv_from_teff(teff: np.ndarray) -> np.ndarray:
    """(B-V)0 by inverting Ballesteros 2012, T = 4600 [1/(0.92 BV + 1.7) + 1/(0.92 BV + 0.62)].

    With x = 0.92 BV and k = T/4600 the relation is the quadratic
    k x^2 + (2.32 k - 2) x + (1.054 k - 2.32) = 0, whose larger root is the colour.
    """
    k = np.asarray(teff, dtype=float) / 4600.0
    b = 2.32 * k - 2.0
    c = 1.054 * k - 2.32
    x = (-b + np.sqrt(b * b - 4 * k * c)) / (2 * k)
    return x / 0.92


def gyro_period(bv: np.ndarray, age_gyr: np.ndarray) -> np.ndarray:
    """Barnes 2007 gyrochronology: P = 0.7725 [(B-V)0 - 0.4]^0.601 t[Myr]^0.5189 days.

    The colour term is floored at 0.07 so that stars near the Kraft break keep a finite period.
    """
    colour = np.maximum(np.asarray(bv) - 0.4, 0.07)
    return 0.7725 * colour**0.601 * (np.asarray(age_gyr) * 1000.0) ** 0.5189


def convective_turnover_days(teff: np.ndarray) -> np.ndarray:
    """Cranmer & Saar 2011 eq. 36: tau_c = 314.24 exp[-(Teff/1952.5) - (Teff/6250)^18] + 0.002."""
    t = np.asarray(teff, dtype=float)
    return 314.24 * np.exp(-(t / 1952.5) - (t / 6250.0) ** 18) + 0.002


def activity_amplitude_ppm(rossby: np.ndarray) -> np.ndarray:
    """Peak-to-peak spot amplitude (ppm, like McQuillan's Rper): saturated below Ro = 0.1, then
    falling as Ro^-1.2 (a rough fit to the Rper-Rossby trend of McQuillan et al. 2014); the Sun
    (Ro ~ 2) comes out near 400 ppm."""
    return 15000.0 * (np.clip(rossby, 0.08, None) / 0.1) ** -1.2


def log_rhk_from_rossby(rossby: np.ndarray) -> np.ndarray:
    """Chromospheric Ca II H&K activity log R'HK of a dwarf from its Rossby number.

    Mamajek & Hillenbrand 2008 (ApJ 687, 1264) eq. 5, Ro = 0.808 - 2.966 (log R'HK + 4.52),
    inverted; it tops out at -4.25 for Ro -> 0 (saturation) and is floored at the basal level
    -5.1 of inactive stars (Wright et al. 2004, ApJS 152, 261). The Sun (Ro ~ 2) gives -4.92.
    """
    log_rhk = -4.52 + (0.808 - np.clip(np.asarray(rossby, dtype=float), 0.0, None)) / 2.966
    return np.maximum(log_rhk, -5.1)


_SIGMA_SB = 5.670374e-8  # W m^-2 K^-4
_PLANCK_2HC2 = 1.191043e-16  # 2 h c^2, W m^2 sr^-1
_HC_OVER_K_M = 1.438777e-2  # hc/k, m K
CA_HK_WAVE_AA = 3950.0  # between Ca II H (3969.6 Å) and K (3934.8 Å)


def hk_emission_ew(log_rhk: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """Equivalent width (Å, H and K together) of the chromospheric core emission.

    R'HK is the H+K emission flux over the bolometric flux sigma Teff^4 (Noyes et al. 1984), so
    EW = R'HK sigma Teff^4 / (pi B_lambda(3950 Å, Teff)) in Å of the local continuum: ~0.1 Å for
    the Sun, ~1 Å for an active K dwarf, whose faint blue continuum makes the same R'HK stand out.
    """
    t = np.asarray(teff, dtype=float)
    lam = CA_HK_WAVE_AA * 1e-10
    b_lambda = _PLANCK_2HC2 / lam**5 / np.expm1(_HC_OVER_K_M / (lam * t))  # W m^-3 sr^-1
    return 10 ** np.asarray(log_rhk) * _SIGMA_SB * t**4 / (np.pi * b_lambda) * 1e10  # m -> Å


def ellipsoidal_amplitude_ppm(
    mass_ratio: np.ndarray, radius_rsun: np.ndarray, a_rsun: np.ndarray, sin_i: np.ndarray
) -> np.ndarray:
    """Semi-amplitude (ppm) of the primary's ellipsoidal variation, a cos(4 pi phase) term.

    A = alpha q (R1/a)^3 sin^2 i (Morris 1985, ApJ 295, 143; Faigler & Mazeh 2011, MNRAS 415,
    3921, eq. 2) with alpha = 0.15 (15 + u)(1 + g) / (3 - u) = 1.37 for limb darkening u = 0.6
    and gravity darkening g = 0.4 of a solar-type star.
    """
    alpha = 0.15 * (15.0 + 0.6) * (1.0 + 0.4) / (3.0 - 0.6)
    return 1e6 * alpha * mass_ratio * (radius_rsun / a_rsun) ** 3 * sin_i**2


def kepler_flux(kepmag: np.ndarray) -> np.ndarray:
    """Median PDCSAP flux (e-/s) for a Kepler magnitude: 2.2e5 e-/s at Kp = 12 (fits the real
    DR25 files in shared/real/kepler: Kp 11.52 -> 3.6e5, Kp 15.68 -> 6.8e3)."""
    return 2.2e5 * 10 ** (-0.4 * (np.asarray(kepmag) - 12.0))


def kepler_cadence_noise(flux: np.ndarray) -> np.ndarray:
    """1-sigma PDCSAP_FLUX_ERR (e-/s) of one long cadence: shot noise of ~1766 s of effective
    exposure times 1.5 for background and read noise, plus a 4 e-/s floor (fits the same files:
    4.3 e-/s at 6.8e3 e-/s, 17.5 e-/s at 3.6e5 e-/s)."""
    return np.sqrt(np.asarray(flux) / 1177.0 + 16.0)
