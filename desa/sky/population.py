"""Draw the synthetic star population (the truth behind the demo sky) and its LAMOST visits.

Stars are drawn through the stellar relations of `physics` (main sequence, bolometric
correction and colours, gyrochronology, activity); what the drawing adds is just as simple,
documented and cited:

- subgiants and red giants (RGB and red clump) are drawn in radius along rough tracks;
- extinction grows with distance (~0.35 mag/kpc in V towards the Kepler field);
- binaries are over-luminous by -2.5 log10(1 + L2/L1) (up to 0.75 mag for twins), with
  Keplerian RV amplitudes, photocentre wobble -> RUWE, tidal synchronisation below 10 d; the
  companion is a main-sequence star whose Teff, log g and radius feed the composite spectrum
  (its lines move with K2 = K1 / q), close pairs show ellipsoidal variation and eclipses whose
  depth ratio is the surface-brightness ratio; their RUWE stays single-like (tiny orbits);
- rotation: gyrochronology periods, no braking above the Kraft break (6250 K);
- activity: log R'HK from the Rossby number with cycle scatter (Ca II H&K emission in spectra),
  spot amplitude falling with the Rossby number (light curves);
- kinematics: age-velocity dispersion relation sigma ~ t^0.35 (Holmberg et al. 2009) around the
  solar motion of Schoenrich et al. 2010, projected on the sky into RV and proper motion.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from desa.sky.physics import (
    C_KMS,
    KMS_PER_AU_YR,
    LOGG_SUN,
    MBOL_SUN,
    TEFF_SUN,
    activity_amplitude_ppm,
    bc_g,
    bp_rp_from_teff,
    bv_from_teff,
    convective_turnover_days,
    ellipsoidal_amplitude_ppm,
    g_minus_ks_from_teff,
    gyro_period,
    kepler_cadence_noise,
    kepler_flux,
    log_g,
    log_rhk_from_rossby,
    main_sequence,
    ms_lifetime_gyr,
)

KEPLER_FIELD_RA = 290.67
KEPLER_FIELD_DEC = 44.5
KEPLER_FIELD_RADIUS_DEG = 8.0

# Godoy-Rivera et al. 2025 flag_CMD labels (as in the authors' Table A1 used by DESA).
CMD_CLASSES = (
    "Dwarf",
    "Subgiant",
    "Giant_Branch",
    "Overlap_Dwarf/Subgiant",
    "Photometric_Binary",
    "Uncertain_MS",
)

# One Kepler target of each archetype in every sky, however small, so that every catalog has
# rows: an eclipsing close binary (EB catalog, synchronised fast rotator), a K and a G dwarf
# with clear rotation (rotation and age catalogs), a subgiant and a red giant (CMD classes).
ARCHETYPES = ("eclipsing_binary", "k_dwarf", "g_dwarf", "subgiant", "giant")

# LAMOST releases that use the old single-HDU image layout, with the last observing night each
# contains (DR5: 5 years to 2017-06, one more year per release); the COADD layout is DR9.
IMAGE_RELEASES = {
    "LAMOST DR5": date(2017, 6, 30),
    "LAMOST DR6": date(2018, 6, 30),
    "LAMOST DR7": date(2019, 6, 30),
    "LAMOST DR8": date(2020, 6, 30),
}
COADD_RELEASE = ("LAMOST DR9", date(2021, 6, 30))
SURVEY_START = date(2011, 10, 24)

# Fields observed outside the Kepler field (RA, Dec in deg), picked at random per sky.
_OUTSIDE_FIELDS = ((45.0, 1.0), (120.0, 28.0), (150.0, 40.0), (200.0, 25.0), (60.0, 22.0))
_LAMOST_FOV_RADIUS_DEG = 2.5


@dataclass(frozen=True)
class SkyConfig:
    """Sizes and fractions of the synthetic sky (defaults follow the issue's proportions)."""

    n_stars: int = 300
    # Raghavan et al. 2010 (ApJS 190, 1): 46% of solar-type stars have companions; orbits are
    # weighted towards close ones (below) so that the binary tasks have positives to score.
    binary_fraction: float = 0.45
    subgiant_fraction: float = 0.10
    giant_fraction: float = 0.08
    outside_fraction: float = 0.10  # of LAMOST-observed stars: outside the Kepler field
    field_fraction: float = 0.03  # of all stars: in the field, observed by LAMOST, not by Kepler
    kepler_only_fraction: float = 0.15  # of Kepler targets: no LAMOST spectrum
    repeat_fraction: float = 0.20  # of LAMOST-observed stars: 2-3 visits
    lk_link_fraction: float = 0.80  # of Kepler stars with spectra: TSOURCE='Kepler' link
    close_pairs: int = 0  # pairs < 3 arcsec apart; 0 = max(2, n_stars // 100)
    max_quarters: int = 4  # quarters per Kepler star at most (18 = the whole mission)

    def __post_init__(self) -> None:
        if self.n_stars < 10:
            raise ValueError(f"n_stars must be >= 10, got {self.n_stars}")
        if not 2 <= self.max_quarters <= 18:
            raise ValueError(f"max_quarters must be in 2..18, got {self.max_quarters}")

    @property
    def n_close_pairs(self) -> int:
        return self.close_pairs or max(2, self.n_stars // 100)


def rng_for(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent random stream per (seed, purpose, object).

    Streams are keyed, not drawn in sequence, so changing one part of the sky (a star's light
    curve, the number of quarters) never shifts the random numbers of another.
    """
    words = [int(seed)] + [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


# ---------------------------------------------------------------------------------------------
# Population


def _counts(cfg: SkyConfig) -> tuple[int, int, int]:
    """(Kepler targets, field non-targets, outside stars) for the configured fractions.

    Outside stars are `outside_fraction` of the LAMOST-observed stars O + F + K (1 - k):
    O = f (K (1 - k) + F) / (1 - f) with K + F + O = n.
    """
    n = cfg.n_stars
    n_field = round(cfg.field_fraction * n)
    f, k = cfg.outside_fraction, cfg.kepler_only_fraction
    n_kepler = round((n - n_field - f * n_field / (1 - f)) / (1 + f * (1 - k) / (1 - f)))
    return n_kepler, n_field, n - n_kepler - n_field


def _disc(rng: np.random.Generator, n: int, ra0, dec0, radius: float):
    """Uniform positions in small circles around (ra0, dec0) (tangent-plane offsets)."""
    r = radius * np.sqrt(rng.uniform(0, 1, n))
    phi = rng.uniform(0, 2 * np.pi, n)
    dec = dec0 + r * np.sin(phi)
    ra = (ra0 + r * np.cos(phi) / np.cos(np.radians(dec))) % 360.0
    return ra, dec


def _stellar_parameters(rng: np.random.Generator, stage: np.ndarray, role: np.ndarray) -> dict:
    n = stage.size
    feh = np.clip(rng.normal(-0.05, 0.25, n), -1.0, 0.5)
    mass = np.empty(n)
    age = np.empty(n)
    radius = np.empty(n)
    lum = np.empty(n)
    teff = np.empty(n)
    frac_ms = np.empty(n)
    clump = np.zeros(n, dtype=bool)

    dw = stage == "dwarf"
    m = 0.47 + 0.83 * rng.beta(2.0, 1.6, dw.sum())
    t_ms = ms_lifetime_gyr(m)
    a = rng.uniform(0.3, np.minimum(10.0, 0.95 * t_ms))
    # Archetypes: young-ish K and G dwarfs (clear spots, gyro ages < 4 Gyr), a K/G binary.
    for name, (m_lo, m_hi), (a_lo, a_hi) in (
        ("k_dwarf", (0.6, 0.75), (0.5, 2.5)),
        ("g_dwarf", (0.95, 1.1), (1.0, 2.5)),
        ("eclipsing_binary", (0.7, 0.95), (1.0, 5.0)),
    ):
        pick = role[dw] == name
        m[pick] = rng.uniform(m_lo, m_hi, pick.sum())
        a[pick] = rng.uniform(a_lo, a_hi, pick.sum())
    t_ms = ms_lifetime_gyr(m)
    f = a / t_ms
    lum[dw], radius[dw], teff[dw] = main_sequence(m, f, feh[dw])
    mass[dw], age[dw], frac_ms[dw] = m, a, f

    sg = stage == "subgiant"
    m = rng.uniform(1.05, 1.5, sg.sum())
    age[sg] = ms_lifetime_gyr(m) * rng.uniform(1.0, 1.1, sg.sum())
    r = rng.uniform(1.7, 3.0, sg.sum())
    t = 6200.0 - 550.0 * (r - 1.7) / 1.3 - 120.0 * feh[sg] + rng.normal(0, 100, sg.sum())
    teff[sg] = np.clip(t, 4950, 6500)
    mass[sg], radius[sg], frac_ms[sg] = m, r, 1.0

    gi = stage == "giant"
    n_gi = gi.sum()
    m = rng.uniform(1.1, 2.2, n_gi)
    age[gi] = ms_lifetime_gyr(m) * rng.uniform(1.1, 1.2, n_gi)
    is_clump = rng.uniform(0, 1, n_gi) < 0.4
    r = np.where(
        is_clump, rng.uniform(9.5, 12.0, n_gi), np.exp(rng.uniform(np.log(4), np.log(16), n_gi))
    )
    t = np.where(is_clump, 4750.0, 5000.0 - 45.0 * (r - 4.0))
    t = t - 150.0 * feh[gi] + rng.normal(0, 70, n_gi)
    teff[gi] = np.clip(t, 3950, 5200)
    mass[gi], radius[gi], frac_ms[gi], clump[gi] = m, r, 1.0, is_clump

    evolved = ~dw
    lum[evolved] = radius[evolved] ** 2 * (teff[evolved] / TEFF_SUN) ** 4
    return {
        "teff": teff,
        "logg": log_g(mass, radius),
        "feh": feh,
        "mass": mass,
        "radius": radius,
        "lum": lum,
        "age_gyr": age,
        "frac_ms": frac_ms,
        "red_clump": clump,
    }


def _binaries(
    rng: np.random.Generator, p: dict, stage: np.ndarray, role: np.ndarray, cfg: SkyConfig
) -> dict:
    n = stage.size
    is_bin = rng.uniform(0, 1, n) < cfg.binary_fraction
    is_bin = (is_bin | (role == "eclipsing_binary")) & ~np.isin(role, ["k_dwarf", "g_dwarf"])
    # Close (< 10 d, tidally locked, often eclipsing), intermediate and wide orbits; giants
    # only in wide ones (a close companion would be engulfed).
    kind = rng.choice(np.array(["close", "intermediate", "wide"]), n, p=[0.25, 0.25, 0.5])
    kind = np.where(stage == "giant", "wide", kind)
    kind = np.where(role == "eclipsing_binary", "close", kind)
    kind = np.where(is_bin, kind, "")
    lo = np.select(
        [kind == "close", kind == "intermediate"], [np.log(0.5), np.log(10)], np.log(1e3)
    )
    hi = np.select(
        [kind == "close", kind == "intermediate"], [np.log(10), np.log(1e3)], np.log(1e5)
    )
    p_orb = np.where(is_bin, np.exp(rng.uniform(lo, hi)), np.nan)
    # The archetype is also a fast rotator (Kamai & Perets 2025b select P < 7 d).
    p_orb = np.where(role == "eclipsing_binary", rng.uniform(1.0, 6.0, n), p_orb)
    q = np.where(is_bin, rng.uniform(0.25, 1.0, n), np.nan)
    m2 = q * p["mass"]
    # Coeval companion: t_MS ~ M^-2.5, so it is q^2.5 as far through its main sequence.
    frac2 = p["frac_ms"] * np.nan_to_num(q, nan=1.0) ** 2.5
    l2, r2, t2 = main_sequence(np.nan_to_num(m2, nan=0.5), frac2, p["feh"])
    flux_ratio = np.where(is_bin, l2 / p["lum"], 0.0)
    delta_mag = -2.5 * np.log10(1.0 + flux_ratio)

    # Eclipses need i ~ 90 deg: half of the close pairs are made eclipsing (boosted over the
    # geometric odds so that a small sky has some).
    is_eb = (kind == "close") & ((rng.uniform(0, 1, n) < 0.5) | (role == "eclipsing_binary"))
    cos_i = np.where(is_eb, rng.uniform(0, 0.05, n), rng.uniform(0, 1, n))
    sin_i = np.sqrt(1 - cos_i**2)
    m_tot = p["mass"] + np.nan_to_num(m2)
    # Circular orbits: K1 = 212.9 km/s M2 sin i / (M1 + M2)^(2/3) / P[d]^(1/3); a [Rsun] from
    # Kepler's third law.
    rv_amp = np.where(is_bin, 212.9 * m2 * sin_i / m_tot ** (2 / 3) / p_orb ** (1 / 3), 0.0)
    a_rsun = 4.2083 * m_tot ** (1 / 3) * np.nan_to_num(p_orb, nan=1.0) ** (2 / 3)
    eb_duration = np.where(is_eb, p_orb / np.pi * (p["radius"] + r2) / a_rsun, np.nan)
    eb_depth1 = np.where(is_eb, rng.uniform(0.02, 0.3, n), np.nan)
    # Circular orbits: the eclipse depths are in the ratio of the surface brightnesses,
    # ~(T2/T1)^4 bolometrically (Kopal 1959).
    eb_depth2 = eb_depth1 * np.clip((t2 / p["teff"]) ** 4, 0.02, 1.0)
    # Epoch of the primary's conjunction (BKJD), which eclipses and ellipsoidal minima share.
    orb_t0 = np.where(is_bin, 131.5 + rng.uniform(0, 1, n) * np.nan_to_num(p_orb), np.nan)
    close = kind == "close"
    # A primary cannot outgrow its Roche lobe (Eggleton 1983, ApJ 268, 368: r_L/a =
    # 0.49 Q^(2/3) / (0.6 Q^(2/3) + ln(1 + Q^(1/3))), Q = M1/M2); such pairs would be contact
    # binaries, which the sky does not model, so the distortion stops at the lobe.
    big_q = 1.0 / np.nan_to_num(q, nan=1.0)
    roche = 0.49 * big_q ** (2 / 3) / (0.6 * big_q ** (2 / 3) + np.log1p(big_q ** (1 / 3)))
    r1_over_a = np.minimum(p["radius"] / a_rsun, roche)
    ell_amp = ellipsoidal_amplitude_ppm(q, r1_over_a, 1.0, sin_i)
    rv_variable = is_bin & (rv_amp > 5.0) & (np.nan_to_num(p_orb, nan=np.inf) < 3000)
    return {
        "is_binary": is_bin,
        "binary_kind": kind,
        "mass_ratio": q,
        "flux_ratio": flux_ratio,
        "delta_mag": delta_mag,
        "orbital_period": p_orb,
        "rv_amp": rv_amp,
        # The companion's RV semi-amplitude K2 = K1 M1 / M2 (its lines move opposite).
        "rv2_amp": np.where(is_bin, rv_amp / q, 0.0),
        "rv_phase": rng.uniform(0, 2 * np.pi, n),
        "rv_variable": rv_variable,
        "is_eb": is_eb,
        "eb_period": np.where(is_eb, p_orb, np.nan),
        "eb_t0": np.where(is_eb, orb_t0, np.nan),
        "eb_depth1": eb_depth1,
        "eb_depth2": np.where(is_eb, eb_depth2, np.nan),
        "eb_duration": eb_duration,
        "synchronized": close,
        "orb_t0": orb_t0,
        "ell_amp_ppm": np.where(close, ell_amp, 0.0),
        "teff2": np.where(is_bin, t2, np.nan),
        "radius2": np.where(is_bin, r2, np.nan),
        "logg2": np.where(is_bin, log_g(np.nan_to_num(m2, nan=0.5), r2), np.nan),
        "_m_tot": m_tot,
    }


def _photometry(
    rng: np.random.Generator, p: dict, b: dict, kind: np.ndarray, role: np.ndarray
) -> dict:
    n = kind.size
    abs_g_single = MBOL_SUN - 2.5 * np.log10(p["lum"]) - bc_g(p["teff"])
    abs_g = abs_g_single + b["delta_mag"]
    bp_rp0 = bp_rp_from_teff(p["teff"])
    # Kp is close to G; red stars are fainter in Kp (no 900-1050 nm tail).
    abs_kp = abs_g + 0.1 * (bp_rp0 - 0.82)
    # Kepler targets are magnitude-limited and weighted to the faint end (Kp 9-16.5); LAMOST
    # goes a little fainter.
    kp_goal = np.where(
        kind == "kepler", 16.5 - 7.5 * rng.beta(1.3, 2.2, n), 17.0 - 8.0 * rng.beta(1.5, 2.5, n)
    )
    kp_goal = np.where(role != "", rng.uniform(11.5, 13.5, n), kp_goal)  # clear signals
    av_per_kpc = 0.35 * rng.uniform(0.6, 1.4, n)
    dist = np.full(n, 500.0)
    for _ in range(3):  # extinction depends on the distance it sets
        a_kp = 0.8 * av_per_kpc * dist / 1000.0
        dist = np.clip(10 ** ((kp_goal - abs_kp - a_kp + 5.0) / 5.0), 100.0, 2000.0)
    av = av_per_kpc * dist / 1000.0
    dm = 5 * np.log10(dist) - 5
    g_ks = g_minus_ks_from_teff(p["teff"])
    gaia_g = abs_g + dm + 0.84 * av
    c = bp_rp0 - 0.82
    return {
        "dist_pc": dist,
        "av": av,
        "abs_g0": abs_g,
        "abs_g0_single": abs_g_single,
        "bp_rp0": bp_rp0,
        "bp_rp": bp_rp0 + 0.43 * av,
        "gaia_g": gaia_g,
        # Pan-STARRS1 grizy from G and colour (rough linear transforms; redder bands suffer
        # less extinction).
        "ps_g": gaia_g + 0.25 + 0.55 * c + 0.30 * av,
        "ps_r": gaia_g + 0.05 + 0.05 * c,
        "ps_i": gaia_g - 0.25 - 0.25 * c - 0.20 * av,
        "ps_z": gaia_g - 0.35 - 0.40 * c - 0.35 * av,
        "ps_y": gaia_g - 0.40 - 0.50 * c - 0.40 * av,
        "kepmag": abs_kp + dm + 0.8 * av,
        "abs_ks": abs_g - g_ks,
        "abs_ks_single": abs_g_single - g_ks,
        "ks_mag": abs_g - g_ks + dm + 0.11 * av,
    }


def _cmd_class(stage: np.ndarray, p: dict, b: dict) -> np.ndarray:
    """Godoy-Rivera-style CMD class from where the star sits relative to the main sequence."""
    return np.select(
        [
            stage == "giant",
            stage == "subgiant",
            b["delta_mag"] < -0.3,  # well above the MS ridge: unresolved companion
            p["frac_ms"] > 0.85,  # brightened near the end of the MS
            p["feh"] < -0.45,  # metal-poor dwarfs fall below the lower envelope
        ],
        [
            "Giant_Branch",
            "Subgiant",
            "Photometric_Binary",
            "Overlap_Dwarf/Subgiant",
            "Uncertain_MS",
        ],
        "Dwarf",
    )


def _kinematics(rng: np.random.Generator, ra, dec, dist, age) -> dict:
    # Holmberg et al. 2009 AVR, sigma ~ t^0.35, scaled to ~(48, 32, 24) km/s at 10 Gyr.
    scale = ((age + 0.1) / 10.1) ** 0.35
    sig_u, sig_v, sig_w = 48.0 * scale, 32.0 * scale, 24.0 * scale
    # Heliocentric means: minus the solar motion (Schoenrich et al. 2010), V lagging by the
    # asymmetric drift sigma_U^2 / 80 km/s (Stroemberg relation).
    uu = rng.normal(-11.1, sig_u)
    vv = rng.normal(-12.24 - sig_u**2 / 80.0, sig_v)
    ww = rng.normal(-7.25, sig_w)
    gal = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").galactic
    lon, lat = gal.l.rad, gal.b.rad
    rv = (uu * np.cos(lon) + vv * np.sin(lon)) * np.cos(lat) + ww * np.sin(lat)
    d_kpc = dist / 1000.0
    pm_l = (-uu * np.sin(lon) + vv * np.cos(lon)) / (KMS_PER_AU_YR * d_kpc)
    pm_b = (-uu * np.sin(lat) * np.cos(lon) - vv * np.sin(lat) * np.sin(lon) + ww * np.cos(lat)) / (
        KMS_PER_AU_YR * d_kpc
    )
    icrs = SkyCoord(
        l=gal.l, b=gal.b, pm_l_cosb=pm_l * u.mas / u.yr, pm_b=pm_b * u.mas / u.yr, frame="galactic"
    ).icrs
    return {
        "u_kms": uu,
        "v_kms": vv,
        "w_kms": ww,
        "rv_sys": rv,
        "pmra": icrs.pm_ra_cosdec.to_value(u.mas / u.yr),
        "pmdec": icrs.pm_dec.to_value(u.mas / u.yr),
    }


def _astrometry_ruwe(rng: np.random.Generator, b: dict, dist: np.ndarray, n: int) -> np.ndarray:
    """Gaia RUWE: ~1 for single stars; binaries add photocentre wobble.

    The photocentre moves by a |q/(1+q) - r/(1+r)| (r = flux ratio); orbits much longer than the
    ~1000 d DR3 baseline only show curvature, ~(1000/P)^2 of it; the along-scan noise is taken
    as 0.12 mas.
    """
    q = np.nan_to_num(b["mass_ratio"])
    r = b["flux_ratio"]
    p_yr = np.nan_to_num(b["orbital_period"], nan=1.0) / 365.25
    a_au = (b["_m_tot"] * p_yr**2) ** (1 / 3)
    wobble_mas = a_au * np.abs(q / (1 + q) - r / (1 + r)) * 1000.0 / dist
    wobble_mas *= np.minimum(1.0, (1000.0 / (p_yr * 365.25)) ** 2)
    wobble_mas = np.where(b["is_binary"], wobble_mas, 0.0)
    ruwe = np.sqrt(1 + (wobble_mas / 0.12) ** 2) * np.exp(rng.normal(0, 0.07, n))
    return np.minimum(ruwe, 40.0)


def _gaia_detections(
    rng: np.random.Generator, b: dict, phot: dict, ruwe: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which binaries Gaia DR3 solved (NSS type) and which are in the SB9 catalogue.

    Gaia eclipsing solutions need deep eclipses (G < 16), spectroscopic ones bright stars
    (G_RVS limit, G < 12.5) and P < 1000 d, astrometric orbits a large wobble with P within the
    DR3 baseline; SB9 holds only bright, well-studied RV binaries.
    """
    n = ruwe.size
    p_orb = np.nan_to_num(b["orbital_period"], nan=np.inf)
    luck = rng.uniform(0, 1, (3, n))
    eclipsing = b["is_eb"] & (phot["gaia_g"] < 16) & (b["eb_depth1"] > 0.05) & (luck[0] < 0.5)
    sb1 = b["rv_variable"] & (phot["gaia_g"] < 12.5) & (p_orb < 1000) & (luck[1] < 0.7)
    orbital = b["is_binary"] & (ruwe > 2.0) & (p_orb > 100) & (p_orb < 1500) & (luck[2] < 0.5)
    nss = np.select(
        [eclipsing, sb1 & orbital, sb1, orbital],
        ["EclipsingBinary", "AstroSpectroSB1", "SB1", "Orbital"],
        "",
    )
    sb9 = b["rv_variable"] & (phot["kepmag"] < 11.0) & (rng.uniform(0, 1, n) < 0.5)
    return nss, sb9


def _rotation(rng: np.random.Generator, p: dict, b: dict, stage: np.ndarray, kepmag) -> dict:
    n = stage.size
    teff = p["teff"]
    prot = gyro_period(bv_from_teff(teff), p["age_gyr"]) * np.exp(rng.normal(0, 0.05, n))
    # Above the Kraft break (thin convective envelopes) stars are not braked.
    prot = np.where(teff > 6250, rng.uniform(1.2, 6.0, n), prot)
    # Subgiants spin down as they expand; giants rotate at v_eq ~ 1-4 km/s.
    prot = np.where(stage == "subgiant", np.clip(prot * p["radius"] / 1.4, 2.0, 90.0), prot)
    prot = np.where(stage == "giant", 50.6 * p["radius"] / rng.uniform(1.0, 4.0, n), prot)
    prot = np.where(b["synchronized"], b["orbital_period"], prot)
    tau_c = convective_turnover_days(teff)
    rossby = prot / tau_c
    amp = activity_amplitude_ppm(rossby) * 10 ** rng.normal(0, 0.15, n)
    amp = np.where(stage == "giant", 30.0, amp)
    # Chromospheric activity follows rotation through the Rossby number; cycles and
    # rotational modulation scatter a single visit by ~0.05 dex (Baliunas et al. 1995).
    log_rhk = log_rhk_from_rossby(rossby) + rng.normal(0, 0.05, n)
    log_rhk = np.where(stage == "giant", -5.1, np.clip(log_rhk, -5.1, -4.0))
    # Granulation: larger and slower in luminous, low-gravity stars (amplitude ~ sqrt(L/M)).
    lm = p["lum"] / p["mass"]
    gran_ppm = 10.0 + 25.0 * np.sqrt(lm)
    gran_tau = np.clip(0.02 * lm**0.7, 0.02, 3.0)
    noise_ppm = 1e6 * kepler_cadence_noise(kepler_flux(kepmag)) / kepler_flux(kepmag)
    clear = (
        (stage != "giant")
        & (prot >= 0.3)
        & (prot <= 45.0)
        & (amp >= np.maximum(200.0, 0.6 * noise_ppm))
        & ~b["is_eb"]
    )
    return {
        "prot": prot,
        "rossby": rossby,
        "rot_amp_ppm": amp,
        "log_rhk": log_rhk,
        "gran_ppm": gran_ppm,
        "gran_tau_d": gran_tau,
        "cadence_noise_ppm": noise_ppm,
        "rotation_clear": clear,
    }


def _quarters(rng: np.random.Generator, max_quarters: int) -> list[int]:
    """A run of 2..max_quarters consecutive quarters, sometimes with a hole or Q0 in front."""
    if max_quarters >= 18:
        quarters = list(range(18))
    else:
        n_q = int(rng.integers(2, max_quarters + 1))
        start = int(rng.integers(1, 18 - n_q + 1))
        quarters = list(range(start, start + n_q))
        if start == 1 and rng.uniform() < 0.5:
            quarters.insert(0, 0)
    if len(quarters) >= 3 and rng.uniform() < 0.2:
        quarters.pop(int(rng.integers(1, len(quarters) - 1)))  # a missing quarter
    return quarters


def _unique_ints(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    out: set[int] = set()
    while len(out) < n:
        out.update(int(v) for v in rng.integers(lo, hi, n - len(out)))
    return np.array(sorted(out)[:n], dtype=np.int64)


def _kic_values(rng: np.random.Generator, p: dict) -> dict:
    """KIC photometric estimates: Teff ~150 K too cool (Pinsonneault et al. 2012), poor logg and
    [Fe/H] (Brown et al. 2011)."""
    n = p["teff"].size
    kic_teff = np.round(p["teff"] - 150.0 + rng.normal(0, 150, n))
    kic_logg = np.round(np.clip(p["logg"] + rng.normal(0, 0.25, n), 0.5, 5.3), 3)
    kic_feh = np.round(np.clip(-0.15 + 0.3 * p["feh"] + rng.normal(0, 0.2, n), -2.5, 0.5), 3)
    kic_radius = np.round(np.sqrt(p["mass"] / 10 ** (kic_logg - LOGG_SUN)), 3)
    return {
        "kic_teff": kic_teff,
        "kic_logg": kic_logg,
        "kic_feh": kic_feh,
        "kic_radius": kic_radius,
    }


def draw_stars(cfg: SkyConfig, seed: int) -> pd.DataFrame:
    """The truth table: one row per star, every quantity the generator used.

    `kind` is "kepler" (a Kepler target, with a KIC), "field" (in the Kepler field, observed by
    LAMOST only) or "outside" (a LAMOST star elsewhere); `kic` is <NA> for non-targets.
    Units: Teff K, masses/radii/luminosities solar, ages Gyr, distances pc, velocities km/s,
    proper motions mas/yr, periods d, amplitudes ppm; `abs_g0`/`abs_ks` include an unresolved
    companion's light, `*_single` do not (`delta_mag` = the difference). `quarters` lists the
    star's Kepler quarters as "q,q,q" (empty for non-Kepler stars); `close_pair` numbers the
    pairs under 3" (-1 = none).
    """
    rng = rng_for(seed, "stars")
    n_kepler, n_field, n_outside = _counts(cfg)
    n = cfg.n_stars
    kind = np.array(["kepler"] * n_kepler + ["field"] * n_field + ["outside"] * n_outside)
    role = np.full(n, "", dtype=object)
    role[rng.choice(n_kepler, len(ARCHETYPES), replace=False)] = ARCHETYPES
    stage = rng.choice(
        np.array(["dwarf", "subgiant", "giant"]),
        n,
        p=[
            1 - cfg.subgiant_fraction - cfg.giant_fraction,
            cfg.subgiant_fraction,
            cfg.giant_fraction,
        ],
    )
    stage = np.where(np.isin(role, ["subgiant", "giant"]), role, stage)
    stage = np.where(np.isin(role, ["eclipsing_binary", "k_dwarf", "g_dwarf"]), "dwarf", stage)
    p = _stellar_parameters(rng, stage, role)
    b = _binaries(rng, p, stage, role, cfg)
    phot = _photometry(rng, p, b, kind, role)

    ra, dec = _disc(rng, n, KEPLER_FIELD_RA, KEPLER_FIELD_DEC, KEPLER_FIELD_RADIUS_DEG)
    outside = kind == "outside"
    centres = np.array(_OUTSIDE_FIELDS)[rng.choice(len(_OUTSIDE_FIELDS), 3, replace=False)]
    centre = centres[rng.integers(0, 3, outside.sum())]
    ra[outside], dec[outside] = _disc(
        rng, outside.sum(), centre[:, 0], centre[:, 1], _LAMOST_FOV_RADIUS_DEG
    )

    has_spectrum = np.ones(n, dtype=bool)
    kepler_idx = np.flatnonzero(kind == "kepler")
    n_only = round(cfg.kepler_only_fraction * n_kepler)
    has_spectrum[rng.choice(kepler_idx, n_only, replace=False)] = False

    # Close pairs: a Kepler star with a spectrum gets a Kepler neighbour 1-2.5" away, so the
    # positional crossmatch of its spectrum has two candidates (to be flagged ambiguous).
    with_spec = kepler_idx[has_spectrum[kepler_idx]]
    chosen = rng.choice(with_spec, 2 * cfg.n_close_pairs, replace=False)
    pair_id = np.full(n, -1)
    for k, (a, c) in enumerate(chosen.reshape(-1, 2)):
        sep = rng.uniform(1.0, 2.5) / 3600.0
        pa = rng.uniform(0, 2 * np.pi)
        dec[c] = dec[a] + sep * np.cos(pa)
        ra[c] = ra[a] + sep * np.sin(pa) / np.cos(np.radians(dec[a]))
        pair_id[[a, c]] = k

    # KIC numbers grow with declination in the real catalog; keep that, in the real range.
    kic = np.full(n, None, dtype=object)
    kic_numbers = _unique_ints(rng, 1_000_000, 13_000_000, n_kepler)
    kic[kepler_idx[np.argsort(dec[kepler_idx], kind="stable")]] = kic_numbers
    in_field = (kind != "outside") & (
        np.hypot((ra - KEPLER_FIELD_RA) * np.cos(np.radians(dec)), dec - KEPLER_FIELD_DEC)
        <= KEPLER_FIELD_RADIUS_DEG
    )
    # Gaia DR3 ids of the Kepler field lie near 2.05-2.14e18 (HEALPix-encoded); elsewhere a
    # disjoint range keeps every id unique. Permuted so that ids carry no order.
    gaia = np.where(
        in_field,
        rng.permutation(_unique_ints(rng, 2_050_000_000_000_000_000, 2_140_000_000_000_000_000, n)),
        rng.permutation(_unique_ints(rng, 300_000_000_000_000_000, 2_000_000_000_000_000_000, n)),
    )

    kin = _kinematics(rng, ra, dec, phot["dist_pc"], p["age_gyr"])
    ruwe = _astrometry_ruwe(rng, b, phot["dist_pc"], n)
    nss_type, sb9 = _gaia_detections(rng, b, phot, ruwe)
    rot = _rotation(rng, p, b, stage, phot["kepmag"])
    cmd = _cmd_class(stage, p, b)
    n_visits = np.where(has_spectrum, 1, 0)
    repeat = has_spectrum & (rng.uniform(0, 1, n) < cfg.repeat_fraction)
    n_visits[repeat] = rng.choice([2, 3], repeat.sum(), p=[0.65, 0.35])
    lk_link = (kind == "kepler") & has_spectrum & (rng.uniform(0, 1, n) < cfg.lk_link_fraction)
    kicv = _kic_values(rng, p)
    quarters = [
        ",".join(map(str, _quarters(rng_for(seed, "quarters", i), cfg.max_quarters)))
        if kind[i] == "kepler"
        else ""
        for i in range(n)
    ]

    b.pop("_m_tot")
    frame = pd.DataFrame(
        {
            "star_id": np.arange(n, dtype=np.int64),
            "kind": kind,
            "archetype": role.astype(str),
            "kic": pd.array(kic, dtype="Int64"),
            "gaia_source_id": gaia.astype(np.int64),
            "ra": ra,
            "dec": dec,
            "in_kepler_field": in_field,
            "is_kepler_target": kind == "kepler",
            "has_spectrum": has_spectrum,
            "n_spectra": n_visits,
            "lk_link": lk_link,
            "close_pair": pair_id,
            "evol_stage": stage,
            "cmd_class": cmd,
            **p,
            **phot,
            **b,
            "ruwe": ruwe,
            "nss_type": nss_type,
            "sb9": sb9,
            **kin,
            **rot,
            **kicv,
            "quarters": quarters,
        }
    )
    return frame


# ---------------------------------------------------------------------------------------------
# LAMOST visits


def _hex_fields() -> list[tuple[float, float]]:
    """LAMOST-Kepler (LK) field centres: a hexagonal grid with 4.2 deg spacing over the Kepler
    field (the real LK project tiles it with 14 fields of 5 deg diameter; De Cat et al. 2015)."""
    out = []
    for i in range(-3, 4):
        for j in range(-3, 4):
            x = 4.2 * (i + 0.5 * j)
            y = 4.2 * np.sqrt(3) / 2 * j
            if np.hypot(x, y) <= 7.5:
                dec = KEPLER_FIELD_DEC + y
                out.append((KEPLER_FIELD_RA + x / np.cos(np.radians(dec)), dec))
    return out


def _sexagesimal(value: float) -> str:
    total = round(abs(value) * 3600)
    return f"{total // 3600:02d}{total // 60 % 60:02d}{total % 60:02d}"


def _plan_position(ra: float, dec: float) -> str:
    """The field centre as plan names spell it: hhmmss, N/S, ddmmss (e.g. 193637N444141)."""
    return f"{_sexagesimal(ra / 15.0)}{'N' if dec >= 0 else 'S'}{_sexagesimal(dec)}"


def _plans(rng: np.random.Generator, centres, prefix: str, months, per_field: int) -> pd.DataFrame:
    rows = []
    for f, (ra, dec) in enumerate(centres):
        for k in range(per_field):
            layout = "image" if rng.uniform() < 0.5 else "coadd"
            if layout == "image":
                release = rng.choice(list(IMAGE_RELEASES), p=[0.15, 0.15, 0.2, 0.5])
                last = IMAGE_RELEASES[release]
            else:
                release, last = COADD_RELEASE
            # A night in the field's season between the survey start and the release's end.
            while True:
                day = SURVEY_START + timedelta(
                    days=int(rng.integers(0, (last - SURVEY_START).days))
                )
                if day.month in months:
                    break
            when = datetime(day.year, day.month, day.day) + timedelta(
                hours=float(rng.uniform(11.0, 20.0))
            )
            name = f"{prefix}{_plan_position(ra, dec)}{rng.choice(list('VBM'))}{k + 1:02d}"
            rows.append(
                {
                    "field": f,
                    "field_ra": ra,
                    "field_dec": dec,
                    "planid": name,
                    "layout": layout,
                    "data_v": str(release),
                    "date_obs": when.replace(microsecond=0),
                    "helio_rv": float(rng.uniform(-30.0, 30.0)),
                }
            )
    return pd.DataFrame(rows)


def lamost_designation(ra: float, dec: float) -> str:
    """LAMOST designation 'Jhhmmss.ss+ddmmss.s' (the header DESIG adds a 'LAMOST ' prefix)."""
    t = round(ra / 15.0 * 360000)
    d = round(abs(dec) * 36000)
    sign = "+" if dec >= 0 else "-"
    return (
        f"J{t // 360000:02d}{t // 6000 % 60:02d}{t % 6000 / 100:05.2f}"
        f"{sign}{d // 36000:02d}{d // 600 % 60:02d}{d % 600 / 10:04.1f}"
    )


# MK subclasses with dwarf Teff (Pecaut & Mamajek 2013), for the LAMOST SUBCLASS card.
_SUBCLASS_TEFF = (
    ("F0", 7220), ("F2", 6810), ("F5", 6510), ("F6", 6340), ("F7", 6240), ("F9", 6040),
    ("G0", 5920), ("G2", 5770), ("G3", 5720), ("G5", 5660), ("G7", 5560), ("G8", 5490),
    ("K0", 5280), ("K1", 5170), ("K3", 4830), ("K4", 4600), ("K5", 4440), ("K7", 4050),
    ("M0", 3850), ("M1", 3660), ("M2", 3560),
)  # fmt: skip


def spectral_subclass(teff: float) -> str:
    return min(_SUBCLASS_TEFF, key=lambda item: abs(item[1] - teff))[0]


def _lamost_target(star: Any, seed: int) -> dict[str, Any]:
    """What LAMOST's input catalog holds for a star (the same for all its visits): a J2000
    position within ~0.1" of the truth, the target source and, for LAMOST-Kepler (LK) targets,
    the KIC link TSOURCE='Kepler', TCOMMENT='kplr%09d' (real DR6 header of KIC 8098300)."""
    rng = rng_for(seed, "lamost-target", int(star.star_id))
    dec = star.dec + 0.1 / 3600.0 * rng.standard_normal()
    ra = star.ra + 0.1 / 3600.0 * rng.standard_normal() / np.cos(np.radians(star.dec))
    if star.lk_link:
        tsource, tcomment, tfrom = "Kepler", f"kplr{int(star.kic):09d}", "P15"
    else:
        tsource = str(rng.choice(["LAMOST", "LEGAS_SSY", "JF_LEGAS_S"]))
        tcomment, tfrom = "-", str(rng.choice(["SDSS", "SSA", "LAMOST"]))
    bright = star.ps_r < 11.5
    return {
        "ra": ra,
        "dec": dec,
        "designation": lamost_designation(ra, dec),
        "tsource": tsource,
        "tcomment": tcomment,
        "tfrom": tfrom,
        "offset_v": round(float(rng.uniform(0.5, 2.5)), 2) if bright else 0.0,
    }


def lamost_snr_g(g_mag: float) -> float:
    """Median g-band SNR per pixel of a LAMOST LRS spectrum: ~55 at g = 15, x2.5 per 2 mag (a
    rough fit to the DR8 SNR-magnitude trend), capped at 900; visits scatter around it
    (weather, exposure time)."""
    return float(np.clip(55.0 * 10 ** (-0.2 * (g_mag - 15.0)), 1.5, 900.0))


def _mjd(when: datetime) -> float:
    return (when - datetime(1858, 11, 17)).total_seconds() / 86400.0


def draw_visits(stars: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One row per LAMOST spectrum: the plan, fibre, date, layout and the star's RV that night.

    obsid = plan serial * 1e5 + spid * 1e3 + fiberid, the pattern of the real obsids (e.g.
    359910161 = plan 3599, spectrograph 10, fibre 161), so obsids are unique by construction.
    """
    rng = rng_for(seed, "visits")
    lk = _hex_fields()
    in_lk = stars["kind"].to_numpy() != "outside"
    lk_plans = _plans(rng, lk, "KP", (5, 6, 9, 10), per_field=4)
    out_centres = sorted(
        {
            min(_OUTSIDE_FIELDS, key=lambda c: np.hypot(c[0] - r, c[1] - d))
            for r, d in stars.loc[~in_lk, ["ra", "dec"]].to_numpy()
        }
    )
    out_plans = _plans(rng, out_centres, "EG", (10, 11, 12, 1, 2, 3), per_field=3)
    out_plans["field"] += len(lk)
    plans = pd.concat([lk_plans, out_plans], ignore_index=True)
    plans = plans.sort_values("date_obs", kind="stable").reset_index(drop=True)
    plans["serial"] = _unique_ints(rng, 1000, 9000, len(plans))  # sorted: obsids grow with time
    return assign_visits(stars, plans, rng, seed)


def assign_visits(
    stars: pd.DataFrame, plans: pd.DataFrame, rng: np.random.Generator, seed: int
) -> pd.DataFrame:
    """Observe each star with a spectrum `n_spectra` times, in distinct plans of its nearest
    field (`plans`: field, field_ra, field_dec, planid, layout, data_v, date_obs, helio_rv,
    serial); the visit rows of `draw_visits`, sorted by obsid. A star's LAMOST target (`seed`)
    is the same in every call, so later releases observe it at the same catalog position."""
    centres = plans.groupby("field")[["field_ra", "field_dec"]].first()
    rows = []
    used: dict[int, set[tuple[int, int]]] = {}
    for star in stars[stars["has_spectrum"]].itertuples(index=False):
        target = _lamost_target(star, seed)
        dist = np.hypot(
            (centres["field_ra"] - star.ra) * np.cos(np.radians(star.dec)),
            centres["field_dec"] - star.dec,
        )
        candidates = np.flatnonzero(plans["field"].to_numpy() == dist.idxmin())
        for visit, plan_index in enumerate(rng.choice(candidates, star.n_spectra, replace=False)):
            plan = plans.iloc[plan_index]
            taken = used.setdefault(plan_index, set())
            while True:
                slot = (int(rng.integers(1, 17)), int(rng.integers(1, 251)))
                if slot not in taken:
                    taken.add(slot)
                    break
            spid, fiberid = slot
            when = plan["date_obs"].to_pydatetime()
            mjd = _mjd(when)
            rv, rv2 = star.rv_sys, np.nan
            if star.is_binary:
                orbit = np.sin(2 * np.pi * mjd / star.orbital_period + star.rv_phase)
                rv += star.rv_amp * orbit
                rv2 = star.rv_sys - star.rv2_amp * orbit  # the companion, in antiphase
            if rng.uniform() < 0.06:  # a blue-cut file as the real 3751-pixel DR8 one
                start, n_pix = 158, 3751
            else:
                start, n_pix = 0, int(rng.choice([3904, 3905, 3906, 3907, 3908, 3909]))
            snr_g = lamost_snr_g(star.ps_g) * float(np.exp(rng.normal(0, 0.3)))
            # The pipeline's redshift: the night's RV plus a fit error growing at low SNR.
            z_sigma = 3.0 + 60.0 / snr_g
            pointing = 0.05 / 3600.0 * rng.standard_normal(2)
            offset_v = target["offset_v"]
            ra_shift = (pointing[0] + offset_v / 3600.0) / np.cos(np.radians(target["dec"]))
            rows.append(
                {
                    "obsid": int(plan["serial"]) * 100000 + spid * 1000 + fiberid,
                    "star_id": star.star_id,
                    "kic": star.kic,
                    "gaia_source_id": star.gaia_source_id,
                    "visit": visit,
                    "planid": plan["planid"],
                    "spid": spid,
                    "fiberid": fiberid,
                    "date_obs": when.strftime("%Y-%m-%dT%H:%M:%S"),
                    "obsdate": when.strftime("%Y-%m-%d"),
                    "mjd": int(np.floor(mjd)),
                    "lmjd": int(np.floor(mjd)) + 1,  # LAMOST "local" MJD of the night
                    "layout": plan["layout"],
                    "data_v": plan["data_v"],
                    "helio_rv": round(plan["helio_rv"] + rng.normal(0, 0.05), 5),
                    "rv": rv,
                    "rv2": rv2,
                    "z": round((rv + z_sigma * rng.standard_normal()) / C_KMS, 8),
                    "z_err": round(z_sigma * rng.uniform(0.7, 1.3) / C_KMS, 8),
                    "start_pixel": start,
                    "n_pixels": n_pix,
                    "snr_g_target": snr_g,
                    # Positions to 1e-7 deg, as the catalog prints them (header = catalog).
                    "ra": round(target["ra"], 7),
                    "dec": round(target["dec"], 7),
                    # Bright stars are observed with the fibre offset from the target.
                    "ra_obs": round(target["ra"] + ra_shift, 7),
                    "dec_obs": round(target["dec"] + pointing[1], 7),
                    "offset": int(offset_v > 0),
                    "offset_v": offset_v,
                    "designation": target["designation"],
                    "subclass": spectral_subclass(star.teff + rng.normal(0, 100)),
                    "tsource": target["tsource"],
                    "tcomment": target["tcomment"],
                    "tfrom": target["tfrom"],
                    "lk_link": star.lk_link,
                }
            )
    visits = pd.DataFrame(rows).sort_values("obsid", kind="stable").reset_index(drop=True)
    visits["kic"] = visits["kic"].astype("Int64")
    return visits
