"""Synthetic LAMOST LRS spectra: a simple physical model on the real pixel grid.

- Grid: vacuum wavelengths 10**(3.5682 + 1e-4 i) Å (data_sources.md §0, §1.4), N ~ 3904-3909,
  a few files starting at pixel 158 (3837 Å, N = 3751) as one real DR8 file does.
- Continuum: a blackbody at Teff times a smooth two-arm instrument response with the dichroic
  dip near 5800 Å (LAMOST flux is only relatively calibrated).
- Lines at their real vacuum rest wavelengths (Balmer series, Ca II H&K, Ca I 4227, G band,
  Fe I blends, Mg b, Na D, K I, the Ca II triplet, TiO bands below ~4200 K) plus a fixed forest of
  weak metal lines. Depths follow the textbook trends: Balmer lines grow with Teff, metal lines
  with [Fe/H] and towards cool stars; Mg b, Na D and K I are stronger at high gravity (dwarfs),
  the Ca triplet at low gravity (giants). Profiles are Gaussian at R = 1800 (FWHM = λ/1800),
  widened for Balmer wings and strong damped lines, Doppler-shifted by the star's RV.
- Chromospheric activity: emission cores in Ca II H&K with the equivalent width that the
  star's log R'HK implies (`physics.hk_emission_ew`), and a weaker Hα core fill-in.
- Binaries: the companion's own spectrum (its Teff, log g, the primary's [Fe/H]) at its own RV,
  weighted by the surface-area and surface-brightness ratio, is added to the primary's
  (a composite, SB2-like spectrum whose lines split when the RVs differ).
- Telluric O2 / H2O bands do not follow the star: they sit at the heliocentric-corrected
  topocentric wavelengths.
- Noise: photon counts scaled to a target g-band SNR; σ = sqrt(counts) (+ 2 e- read noise), so
  SNR scales as sqrt(flux) across the spectrum; ivar = 1/σ². Band SNRs are measured from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from desa.sky.physics import C_KMS, hk_emission_ew

LOG_WAVE0 = 3.5682
DLOG = 1e-4
N_PIXELS_FULL = 3909
RESOLUTION = 1800.0
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
HC_OVER_K_AA = 1.438777e8  # hc/k in Å K

# SDSS-like bands over which LAMOST quotes SNRU..SNRZ (Å, vacuum).
SNR_BANDS = {
    "u": (3500.0, 4000.0),
    "g": (4000.0, 5500.0),
    "r": (5500.0, 6900.0),
    "i": (6900.0, 8400.0),
    "z": (8400.0, 9200.0),
}

# LAMOST pixel mask bits (andmask/ormask; 0 = good): BADCCD, BADPROFILE, NOSKY, BRIGHTSKY,
# BADCENTRE, NODATA (LAMOST data-production description).
MASK_BITS = {
    "BADCCD": 1,
    "BADPROFILE": 2,
    "NOSKY": 4,
    "BRIGHTSKY": 8,
    "BADCENTER": 16,
    "NODATA": 32,
}
_SKY_LINES = (5578.9, 5891.6, 6302.0, 6365.5)  # bright night-sky emission (vacuum Å)

# (rest vacuum wavelength Å, kind, relative strength, intrinsic σ Å).
_LINES = (
    (6564.61, "balmer", 1.0, 0.0),  # Hα
    (4862.68, "balmer", 1.0, 0.0),  # Hβ
    (4341.69, "balmer", 0.9, 0.0),  # Hγ
    (4102.89, "balmer", 0.8, 0.0),  # Hδ
    (3971.20, "balmer", 0.5, 0.0),  # Hε (blended with Ca II H)
    (3890.16, "balmer", 0.6, 0.0),  # H8
    (3836.48, "balmer", 0.5, 0.0),  # H9
    (3934.78, "caii", 1.0, 4.0),  # Ca II K
    (3969.59, "caii", 0.9, 4.0),  # Ca II H
    (4227.92, "cai", 1.0, 1.5),  # Ca I 4227
    (4306.4, "gband", 1.0, 6.0),  # CH G band
    (4046.96, "metal", 0.25, 0.5),  # Fe I 4045.8 (air)
    (4064.7, "metal", 0.18, 0.5),  # Fe I 4063.6
    (4072.7, "metal", 0.16, 0.5),  # Fe I 4071.7
    (4144.9, "metal", 0.15, 0.5),  # Fe I 4143.9
    (4261.7, "metal", 0.15, 0.5),  # Fe I 4260.5
    (4384.78, "metal", 0.25, 0.5),  # Fe I 4383.5
    (4405.99, "metal", 0.18, 0.5),  # Fe I 4404.8
    (4958.99, "metal", 0.15, 0.5),  # Fe I 4957.6
    (5271.0, "metal", 0.22, 0.5),  # Fe I 5269.5
    (5329.5, "metal", 0.18, 0.5),  # Fe I 5328.0
    (5407.3, "metal", 0.12, 0.5),  # Fe I 5405.8
    (5448.4, "metal", 0.12, 0.5),  # Fe I 5446.9
    (6496.8, "metal", 0.10, 0.5),  # Fe I / Ba II 6495
    (8809.2, "metal", 0.15, 0.8),  # Mg I 8806.8
    (5168.76, "mgb", 0.30, 0.8),  # Mg b1..b3
    (5174.13, "mgb", 0.40, 0.8),
    (5185.05, "mgb", 0.45, 0.8),
    (5891.58, "nad", 0.45, 1.0),  # Na D2, D1
    (5897.56, "nad", 0.40, 1.0),
    (7667.0, "ki", 0.30, 1.0),  # K I 7665, 7699
    (7701.1, "ki", 0.25, 1.0),
    (8500.36, "cat", 0.45, 2.5),  # Ca II triplet
    (8544.44, "cat", 0.60, 2.5),
    (8664.52, "cat", 0.55, 2.5),
)
_LINE_WAVE = np.array([line[0] for line in _LINES])
_LINE_KIND = np.array([line[1] for line in _LINES])
_LINE_STRENGTH = np.array([line[2] for line in _LINES])
_LINE_SIGMA = np.array([line[3] for line in _LINES])

# A fixed forest of weak metal lines (fixed seed: the same "line list" for every star).
_forest_rng = np.random.default_rng(1800)
_FOREST_WAVE = np.sort(10 ** _forest_rng.uniform(np.log10(3800.0), np.log10(8900.0), 150))
_FOREST_STRENGTH = _forest_rng.uniform(0.02, 0.12, 150) * np.exp(-(_FOREST_WAVE - 3800.0) / 4000.0)

# TiO band heads (vacuum Å; bands degrade to the red) with relative strengths.
_TIO_HEADS = np.array([4762.0, 4956.0, 5169.0, 5449.0, 5849.0, 6160.0, 6653.0, 7055.0, 7591.0])
_TIO_STRENGTH = np.array([0.3, 0.35, 0.4, 0.45, 0.5, 0.8, 0.6, 1.0, 0.6])

# Telluric absorption (vacuum Å ranges, depth as optical depth): O2 B and A bands, H2O.
_TELLURIC = ((6869.0, 6890.0, 0.15), (7596.0, 7632.0, 0.5), (7170.0, 7350.0, 0.04))
_TELLURIC += ((8130.0, 8350.0, 0.05),)

_WINDOW = 40  # pixels either side of a line centre (> 5 σ for every profile here)


def wavelength_grid(n_pixels: int = N_PIXELS_FULL, start_pixel: int = 0) -> np.ndarray:
    """The LAMOST log-linear vacuum grid, pixels start_pixel .. start_pixel + n_pixels - 1."""
    return 10 ** (LOG_WAVE0 + DLOG * np.arange(start_pixel, start_pixel + n_pixels))


def instrument_response(wave: np.ndarray) -> np.ndarray:
    """Smooth relative throughput: broad peak near 6200 Å, blue cut-off below ~3900 Å and the
    dichroic dip where the blue and red arms meet (~5800 Å)."""
    broad = 0.25 + 0.75 * np.exp(-0.5 * ((wave - 6200.0) / 1700.0) ** 2)
    blue_edge = expit((wave - 3850.0) / 60.0)
    dichroic = 1.0 - 0.35 * np.exp(-0.5 * ((wave - 5800.0) / 45.0) ** 2)
    return broad * blue_edge * dichroic


def planck(wave: np.ndarray | float, teff: float) -> np.ndarray | float:
    """Planck B_λ(T) up to a constant factor (λ in Å)."""
    return wave**-5 / np.expm1(HC_OVER_K_AA / (wave * teff))


def blackbody(wave: np.ndarray, teff: float) -> np.ndarray:
    """Planck B_λ(T), arbitrary units (λ in Å), normalised to its value at 5500 Å."""
    return planck(wave, teff) / planck(5500.0, teff)


@dataclass(frozen=True)
class Companion:
    """The unresolved companion of a binary, as its spectrum needs it."""

    teff: float
    logg: float
    radius_ratio: float  # R2 / R1
    rv_kms: float


# Ca II K, H and Hα rest wavelengths (vacuum Å) of the chromospheric emission cores.
_HK_CORES = np.array([3934.78, 3969.59])
_H_ALPHA = 6564.61
_CORE_SIGMA_AA = 0.4  # intrinsic width of the emission reversal (~0.5-1 Å FWHM, K2 peaks)
# Hα core fill-in per unit H+K emission: the chromospheric Hα excess flux of FGK dwarfs is a
# fraction of the Ca II H+K one (e.g. Cincunegui et al. 2007, A&A 469, 309, Fig. 8); 0.3 here.
_H_ALPHA_PER_HK = 0.3


def line_strengths(teff: float, logg: float, feh: float) -> np.ndarray:
    """Central optical depth of each line of `_LINES` at R = 1800 for a star.

    Simple scalings (not a radiative-transfer model): metal lines ∝ 10^(0.8 [Fe/H]) and grow
    towards cool stars; Balmer lines rise with Teff (hydrogen excitation); Mg b, Na D, K I gain
    with log g (pressure broadening in dwarfs), the Ca II triplet loses with log g.
    """
    metal = 10 ** (0.8 * feh)
    cool = np.exp(-(teff - 5000.0) / 1300.0)
    dg = logg - 4.4
    balmer = 0.1 + 0.6 * expit((teff - 5800.0) / 700.0)
    by_kind = {
        "balmer": balmer,
        "caii": (0.2 + 1.6 * expit((6700.0 - teff) / 500.0)) * metal**0.3,
        "cai": 0.35 * metal * np.exp(-(teff - 5000.0) / 900.0),
        "gband": 0.5 * metal**0.6 * np.exp(-(((teff - 5000.0) / 900.0) ** 2)),
        "metal": metal * cool,
        "mgb": metal**0.9 * cool * max(0.3, 1.0 + 0.35 * dg),
        "nad": metal**0.8 * np.exp(-(teff - 5000.0) / 1000.0) * max(0.3, 1.0 + 0.4 * dg),
        "ki": np.exp(-(teff - 4500.0) / 600.0) * max(0.2, 1.0 + 0.5 * dg),
        "cat": metal**0.4 * (1.0 + 0.1 * (5000.0 - teff) / 1000.0) * max(0.4, 1.0 - 0.12 * dg),
    }
    kind_scale = np.array([by_kind[kind] for kind in _LINE_KIND])
    return np.minimum(_LINE_STRENGTH * kind_scale, 3.0)


def _balmer_wing_sigma(teff: float, logg: float) -> float:
    """σ (Å at Hα) of the pressure-broadened Balmer wings: wide in F stars, narrow in K/M."""
    hot = expit((teff - 6000.0) / 500.0)
    return (3.0 + 8.0 * hot) * max(0.5, 1.0 + 0.15 * (logg - 4.3))


def _add_lines(
    tau: np.ndarray, log_wave0: float, centres: np.ndarray, depth: np.ndarray, sigma_aa: np.ndarray
) -> None:
    """Add Gaussian optical-depth profiles (centre Å, central depth, σ Å) to `tau` in place."""
    pos = (np.log10(centres) - log_wave0) / DLOG
    sigma_pix = sigma_aa / (centres * np.log(10.0) * DLOG)
    offsets = np.arange(-_WINDOW, _WINDOW + 1)
    idx = np.floor(pos).astype(int)[:, None] + offsets[None, :]
    prof = depth[:, None] * np.exp(-0.5 * ((idx - pos[:, None]) / sigma_pix[:, None]) ** 2)
    valid = (idx >= 0) & (idx < tau.size)
    np.add.at(tau, idx[valid], prof[valid])


def model_spectrum(
    wave: np.ndarray,
    teff: float,
    logg: float,
    feh: float,
    rv_kms: float,
    helio_rv_kms: float = 0.0,
    *,
    log_rhk: float | None = None,
    companion: Companion | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(noise-free flux, continuum) on `wave` in arbitrary units; flux/continuum is normalised.

    Stellar lines are shifted by (1 + rv/c); telluric bands by (1 + helio_rv/c) only.
    `log_rhk` adds chromospheric emission cores; `companion` adds the companion's spectrum,
    scaled against the primary's by (R2/R1)^2 B_λ(T2) / B_λ(T1).
    """
    flux, continuum = _photosphere(wave, teff, logg, feh, rv_kms, log_rhk)
    if companion is not None:
        flux2, continuum2 = _photosphere(
            wave, companion.teff, companion.logg, feh, companion.rv_kms, None
        )
        scale = companion.radius_ratio**2 * planck(5500.0, companion.teff) / planck(5500.0, teff)
        flux, continuum = flux + scale * flux2, continuum + scale * continuum2
    telluric_shift = 1.0 + helio_rv_kms / C_KMS
    tau = np.zeros(wave.size)
    for lo, hi, depth in _TELLURIC:
        lo_s, hi_s = lo * telluric_shift, hi * telluric_shift
        edge = expit((wave - lo_s) / 2.0) - expit((wave - hi_s) / 2.0)
        tau += depth * edge
    return flux * np.exp(-tau), continuum


def _emission(wave: np.ndarray, centres: np.ndarray, ew_aa: float) -> np.ndarray:
    """Unit-area Gaussians (1/Å) at `centres`, each of equivalent width `ew_aa` (Å), at R."""
    sigma = np.hypot(centres * FWHM_TO_SIGMA / RESOLUTION, _CORE_SIGMA_AA)
    x = (wave[None, :] - centres[:, None]) / sigma[:, None]
    return (ew_aa * np.exp(-0.5 * x**2) / (sigma[:, None] * np.sqrt(2 * np.pi))).sum(axis=0)


def _photosphere(
    wave: np.ndarray, teff: float, logg: float, feh: float, rv_kms: float, log_rhk: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """(flux, continuum) of one star without telluric absorption (blackbody at 5500 Å = 1)."""
    continuum = blackbody(wave, teff) * instrument_response(wave)
    tau = np.zeros(wave.size)
    log_wave0 = float(np.log10(wave[0]))
    doppler = 1.0 + rv_kms / C_KMS
    sigma_inst_factor = FWHM_TO_SIGMA / RESOLUTION  # σ_inst = λ · FWHM_TO_SIGMA / R

    strengths = line_strengths(teff, logg, feh)
    centres = _LINE_WAVE * doppler
    sigma = np.hypot(centres * sigma_inst_factor, _LINE_SIGMA)
    _add_lines(tau, log_wave0, centres, strengths, sigma)
    balmer = _LINE_KIND == "balmer"
    wing = _balmer_wing_sigma(teff, logg) * _LINE_WAVE[balmer] / 6564.61
    _add_lines(
        tau, log_wave0, centres[balmer], 0.35 * strengths[balmer], np.hypot(wing, sigma[balmer])
    )

    forest = _FOREST_WAVE * doppler
    forest_depth = _FOREST_STRENGTH * 10 ** (0.8 * feh) * np.exp(-(teff - 5000.0) / 1300.0)
    _add_lines(tau, log_wave0, forest, np.minimum(forest_depth, 1.0), forest * sigma_inst_factor)

    tio = float(np.clip((4200.0 - teff) / 500.0, 0.0, 1.6)) * 10 ** (0.3 * feh)
    if tio > 0.0:
        heads = _TIO_HEADS * doppler
        x = wave[None, :] - heads[:, None]
        band = expit(x / 1.5) * np.exp(-np.clip(x, 0.0, None) / 60.0)
        tau += 0.9 * tio * (_TIO_STRENGTH[:, None] * band).sum(axis=0)
    flux = continuum * np.exp(-tau)
    if log_rhk is not None:
        # Emission fills the absorption cores: flux added over the local stellar continuum.
        ew_hk = float(hk_emission_ew(log_rhk, teff))
        flux = flux + continuum * _emission(wave, _HK_CORES * doppler, ew_hk / 2.0)
        # The same flux ratio at Hα, over Hα's brighter local continuum.
        ew_ha = _H_ALPHA_PER_HK * ew_hk * planck(3950.0, teff) / planck(_H_ALPHA, teff)
        flux = flux + continuum * _emission(wave, np.array([_H_ALPHA * doppler]), ew_ha)
    return flux, continuum


@dataclass(frozen=True, eq=False)
class SyntheticSpectrum:
    """One observed synthetic spectrum, ready for `write_lamost_spectrum`."""

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    andmask: np.ndarray
    ormask: np.ndarray
    normalization: np.ndarray  # flux / pseudo-continuum (the COADD NORMALIZATION column)
    snr: dict[str, float]  # band -> median per-pixel SNR (SNRU..SNRZ)


def band_snr(wave: np.ndarray, signal: np.ndarray, sigma: np.ndarray) -> dict[str, float]:
    """Median per-pixel signal/noise over each SNR band (0 where the band has no pixels)."""
    out = {}
    for band, (lo, hi) in SNR_BANDS.items():
        sel = (wave >= lo) & (wave < hi) & (sigma > 0)
        out[band] = float(np.median(signal[sel] / sigma[sel])) if sel.any() else 0.0
    return out


def observe(
    teff: float,
    logg: float,
    feh: float,
    rv_kms: float,
    *,
    snr_g: float,
    rng: np.random.Generator,
    start_pixel: int = 0,
    n_pixels: int = N_PIXELS_FULL,
    helio_rv_kms: float = 0.0,
    log_rhk: float | None = None,
    companion: Companion | None = None,
) -> SyntheticSpectrum:
    """A noisy spectrum whose median g-band SNR is `snr_g`, with bad and masked pixels
    (`log_rhk`, `companion`: see `model_spectrum`)."""
    wave = wavelength_grid(n_pixels, start_pixel)
    model, continuum = model_spectrum(
        wave, teff, logg, feh, rv_kms, helio_rv_kms, log_rhk=log_rhk, companion=companion
    )
    g = (wave >= SNR_BANDS["g"][0]) & (wave < SNR_BANDS["g"][1])
    # Counts scale: median sqrt(counts) over the g band = snr_g (Poisson noise).
    scale = snr_g**2 / float(np.median(model[g]))
    counts = scale * model
    sigma = np.sqrt(counts + 4.0)
    flux = counts + sigma * rng.standard_normal(wave.size)
    ivar = 1.0 / sigma**2
    andmask = np.zeros(wave.size)
    ormask = np.zeros(wave.size)

    # Bright sky lines leave residuals: flagged in ormask, still usable.
    for line in _SKY_LINES:
        near = np.abs(wave - line) < 3.0
        ormask[near] = MASK_BITS["BRIGHTSKY"]
    # A few bad pixels (ivar 0), some bad in every exposure (andmask too).
    bad = rng.choice(wave.size - 10, int(rng.poisson(3)) + 1, replace=False)
    bits = rng.choice([1, 2, 4, 16], bad.size)
    ormask[bad] = bits
    andmask[bad] = np.where(rng.uniform(0, 1, bad.size) < 0.3, bits, 0)
    ivar[bad] = 0.0
    # The last pixels of the red end carry no data (as in the real files).
    tail = int(rng.integers(1, 4))
    flux[-tail:] = 0.0
    ivar[-tail:] = 0.0
    ormask[-tail:] = andmask[-tail:] = MASK_BITS["NODATA"]

    snr = band_snr(wave, counts, np.where(ivar > 0, sigma, 0.0))
    normalization = flux / (scale * continuum)
    return SyntheticSpectrum(wave, flux, ivar, andmask, ormask, normalization, snr)
