"""The synthetic LAMOST spectrum model: grid, line physics, Doppler shift and noise."""

from __future__ import annotations

import numpy as np
import pytest

from desa.sky.physics import C_KMS, hk_emission_ew
from desa.sky.spectra import (
    MASK_BITS,
    N_PIXELS_FULL,
    Companion,
    model_spectrum,
    observe,
    wavelength_grid,
)

WAVE = wavelength_grid()


def _normalised(teff: float, logg: float, feh: float, rv: float = 0.0) -> np.ndarray:
    flux, continuum = model_spectrum(WAVE, teff, logg, feh, rv)
    return flux / continuum


def _depth(norm: np.ndarray, line: float, half_width: float = 2.0) -> float:
    near = np.abs(WAVE - line) < half_width
    return float(1.0 - norm[near].min())


def test_grid_is_the_lamost_log_grid() -> None:
    assert WAVE.size == N_PIXELS_FULL
    assert WAVE[0] == pytest.approx(3699.99, abs=0.01)
    assert WAVE[-1] == pytest.approx(9099.1, abs=0.1)
    assert np.allclose(np.diff(np.log10(WAVE)), 1e-4)
    cut = wavelength_grid(3751, 158)
    assert cut[0] == pytest.approx(3837.07, abs=0.05)
    assert cut[-1] == pytest.approx(WAVE[-1])


def test_balmer_lines_deeper_in_hot_stars() -> None:
    hot, cool = _normalised(6500, 4.3, 0.0), _normalised(4000, 4.6, 0.0)
    for line in (6564.61, 4862.68, 4341.69):
        assert _depth(hot, line) > _depth(cool, line) + 0.15


def test_gravity_and_metallicity_sensitive_lines() -> None:
    dwarf, giant = _normalised(4600, 4.6, 0.0), _normalised(4600, 2.4, 0.0)
    assert _depth(dwarf, 5185.05) > _depth(giant, 5185.05) + 0.1  # Mg b
    assert _depth(dwarf, 5891.58) > _depth(giant, 5891.58) + 0.1  # Na D
    assert _depth(giant, 8544.44) > _depth(dwarf, 8544.44) + 0.05  # Ca II triplet
    rich, poor = _normalised(5500, 4.4, 0.3), _normalised(5500, 4.4, -0.7)
    assert _depth(rich, 4384.78) > _depth(poor, 4384.78) + 0.1  # Fe I
    # TiO bands only in cool stars.
    assert _normalised(3600, 4.8, 0.0)[np.abs(WAVE - 7100) < 20].mean() < 0.8
    assert _normalised(5500, 4.4, 0.0)[np.abs(WAVE - 7100) < 20].mean() > 0.95


def _ccf_velocity(observed: np.ndarray, template: np.ndarray) -> float:
    """RV from the cross-correlation peak of two normalised spectra on the log grid (one pixel
    = 1e-4 dex = 69 km/s), refined by a parabola through the peak; tellurics left out."""
    use = (WAVE > 4000) & (WAVE < 8800) & ~((WAVE > 6860) & (WAVE < 7360)) & ~(WAVE > 7590)
    a = np.where(use, 1.0 - observed, 0.0)
    b = np.where(use, 1.0 - template, 0.0)
    lags = np.arange(-6, 7)
    ccf = np.array([np.sum(a * np.roll(b, lag)) for lag in lags])
    k = int(np.argmax(ccf))
    y0, y1, y2 = ccf[k - 1], ccf[k], ccf[k + 1]
    peak = lags[k] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return float(peak * 1e-4 * np.log(10.0) * C_KMS)


@pytest.mark.parametrize("rv", [-80.0, 45.0, 150.0])
def test_rv_shift_measurable_from_the_lines(rv: float) -> None:
    template = _normalised(5200, 4.5, 0.0, 0.0)
    spec = observe(5200, 4.5, 0.0, rv, snr_g=80.0, rng=np.random.default_rng(3))
    observed = np.where(spec.ivar > 0, spec.normalization, 1.0)
    assert _ccf_velocity(observed, template) == pytest.approx(rv, abs=5.0)


def test_noise_follows_the_snr() -> None:
    rng = np.random.default_rng(11)
    spec = observe(5800, 4.4, 0.0, 0.0, snr_g=40.0, rng=rng)
    assert spec.snr["g"] == pytest.approx(40.0, rel=0.03)
    # A cool star is faint in u and bright in i relative to g.
    cool = observe(3800, 4.7, 0.0, 0.0, snr_g=40.0, rng=rng)
    assert cool.snr["u"] < cool.snr["g"] < cool.snr["i"]
    # The scatter around the model matches 1/sqrt(ivar).
    model, _ = model_spectrum(spec.wavelength, 5800, 4.4, 0.0, 0.0)
    good = spec.ivar > 0
    scale = np.median(spec.flux[good] / model[good])
    pull = (spec.flux[good] - scale * model[good]) * np.sqrt(spec.ivar[good])
    assert np.std(pull) == pytest.approx(1.0, abs=0.1)


def test_bad_pixels_and_masks() -> None:
    spec = observe(5000, 4.5, 0.0, 0.0, snr_g=30.0, rng=np.random.default_rng(5), n_pixels=3905)
    assert spec.flux.size == 3905 and spec.ivar.size == 3905
    bad = spec.ivar == 0
    assert 2 <= bad.sum() < 20
    assert (spec.ormask[bad] > 0).all()
    assert spec.flux[-1] == 0.0 and spec.ormask[-1] == MASK_BITS["NODATA"]
    assert ((spec.andmask != 0) <= (spec.ormask != 0)).all()  # and-mask bits imply or-mask
    assert np.median(spec.normalization[spec.ivar > 0]) == pytest.approx(0.97, abs=0.05)


def _velocity_ccf(residual: np.ndarray, template: np.ndarray, velocities: np.ndarray):
    """Cross-correlation of `residual` with `template` shifted to each velocity (km/s)."""
    use = (WAVE > 4000) & (WAVE < 6800)  # strong lines, no tellurics
    out = []
    for v in velocities:
        shifted = np.interp(WAVE, WAVE * (1 + v / C_KMS), template)
        out.append(np.sum(np.where(use, residual * shifted, 0.0)))
    return np.array(out)


def test_composite_spectrum_adds_the_companions_lines_at_its_velocity() -> None:
    """A K-dwarf companion at +150 km/s: the composite minus the primary alone is the
    companion's spectrum, its lines at the companion's velocity, not the primary's; and its
    light dilutes the primary's lines."""
    primary_rv, companion_rv = -20.0, 150.0
    companion = Companion(teff=4700.0, logg=4.6, radius_ratio=0.75, rv_kms=companion_rv)
    flux1, cont1 = model_spectrum(WAVE, 5900.0, 4.4, 0.0, primary_rv)
    flux, cont = model_spectrum(WAVE, 5900.0, 4.4, 0.0, primary_rv, companion=companion)
    added = (flux - flux1) / (cont - cont1)  # the companion's normalised spectrum
    velocities = np.arange(-300.0, 301.0, 5.0)
    ccf = _velocity_ccf(1.0 - added, 1.0 - _normalised(4700.0, 4.6, 0.0, 0.0), velocities)
    assert velocities[np.argmax(ccf)] == pytest.approx(companion_rv, abs=15.0)
    mg_b = np.abs(WAVE - 5185.05 * (1 + companion_rv / C_KMS)) < 1.0
    assert 1.0 - added[mg_b].min() > 0.2  # a K dwarf's strong Mg b line
    # The companion shines on the primary's lines: they are shallower in the composite.
    h_beta = np.argmin(np.abs(WAVE - 4862.68 * (1 + primary_rv / C_KMS)))
    assert (flux / cont)[h_beta] > (flux1 / cont1)[h_beta] + 0.02
    # Its light adds in proportion to area and surface brightness (cooler: redder, fainter).
    ratio = (cont - cont1) / cont1
    assert 0.0 < ratio[WAVE < 4500].mean() < ratio[WAVE > 8000].mean() < 0.75**2


def test_activity_fills_the_ca_ii_and_h_alpha_cores() -> None:
    """More active (higher log R'HK) means brighter Ca II H&K and Hα cores, nothing else."""
    quiet, cont = model_spectrum(WAVE, 5000.0, 4.6, 0.0, 0.0, log_rhk=-5.1)
    active, _ = model_spectrum(WAVE, 5000.0, 4.6, 0.0, 0.0, log_rhk=-4.3)
    gain = (active - quiet) / cont
    for centre in (3934.78, 3969.59, 6564.61):
        core = np.abs(WAVE - centre) < 1.0
        assert gain[core].max() > 0.02, centre
    far = (np.abs(WAVE - 3952.0) > 40) & (np.abs(WAVE - 6564.61) > 20)
    assert np.abs(gain[far]).max() < 1e-3
    # The emission equivalent width is the one log R'HK implies over the local continuum.
    hk = np.abs(WAVE - 3952.0) < 40
    ew = np.trapezoid(gain[hk], WAVE[hk])
    expected = hk_emission_ew(-4.3, 5000.0) - hk_emission_ew(-5.1, 5000.0)
    assert ew == pytest.approx(expected, rel=0.05)
