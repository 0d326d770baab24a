"""APOGEE DR17 allStar of the synthetic sky (docs/catalogs.md, `apogee_dr17`).

A subset of the stars with LAMOST spectra (APOGEE targeted the Kepler field too: APOKASC,
KOI follow-up) plus a few without, as `allStar-dr17-synspec_rev1.fits` lays them out: a binary
table in HDU 1, one row per star and telescope. High-resolution H-band parameters are close to
the truth: errors of ~1% in Teff, 0.05 dex in logg and 0.02 dex in [Fe/H] at high S/N
(APOGEE DR17 precisions, Abdurro'uf et al. 2022), growing at low S/N. Bits as the SDSS DR17
bitmask page (https://www.sdss4.org/dr17/irspec/apogee-bitmasks/) defines them:
EXTRATARG bit 4 DUPLICATE on the lower-S/N row of a star seen twice, ASPCAPFLAG bit 23 STAR_BAD
on a few failed fits, EXTRATARG bit 0 NOT_MAIN on some targets.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from astropy.io import fits

EXTRATARG_NOT_MAIN, EXTRATARG_DUPLICATE = 0, 4
ASPCAPFLAG_STAR_BAD = 23
# Fraction of LAMOST stars APOGEE observed, of those a second time, and of failed fits.
_LAMOST_FRACTION, _REPEAT_FRACTION, _BAD_FRACTION = 0.6, 0.08, 0.03
_NO_GAIA_FRACTION = 0.1  # rows whose Gaia EDR3 id is 0: only the position matches them


def apogee_id(ra_deg: float, dec_deg: float) -> str:
    """2MASS-style designation '2MHHMMSSss+DDMMSSs' (APOGEE_ID of a 2MASS target)."""
    hours = ra_deg / 15.0
    h, rem = int(hours), (hours - int(hours)) * 60.0
    m, s = int(rem), (rem - int(rem)) * 60.0
    sign = "+" if dec_deg >= 0 else "-"
    d_abs = abs(dec_deg)
    dd, drem = int(d_abs), (d_abs - int(d_abs)) * 60.0
    dm, ds = int(drem), (drem - int(drem)) * 60.0
    return f"2M{h:02d}{m:02d}{int(s * 100):04d}{sign}{dd:02d}{dm:02d}{int(ds * 10):03d}"


def _chosen(stars: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Mostly LAMOST stars (at least two, so a tiny sky still has rows), some without."""
    lamost = stars[stars["n_spectra"] > 0]
    other = stars[stars["n_spectra"] == 0]
    n_lamost = min(len(lamost), max(2, round(_LAMOST_FRACTION * len(lamost))))
    n_other = min(len(other), len(other) // 20)
    picked = [
        lamost.iloc[np.sort(rng.choice(len(lamost), n_lamost, replace=False))],
        other.iloc[np.sort(rng.choice(len(other), n_other, replace=False))],
    ]
    return pd.concat(picked).sort_values("star_id").reset_index(drop=True)


def _snr(gaia_g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Combined-spectrum S/N: ~100 at H = 11 (G ~ 12.5 for a G/K dwarf), photon-limited."""
    h_mag = gaia_g - 1.5
    snr = 100.0 * 10 ** (-0.2 * (h_mag - 11.0)) * rng.uniform(0.7, 1.3, len(h_mag))
    return np.clip(snr, 5.0, 1500.0)


def _measured(d: pd.DataFrame, snr: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(d)
    scale = 1.0 + 50.0 / snr  # errors grow at low S/N
    errors = {
        "TEFF_ERR": 0.01 * d["teff"].to_numpy() * scale,
        "LOGG_ERR": 0.05 * scale,
        "FE_H_ERR": 0.02 * scale,
    }
    return {
        "TEFF": d["teff"].to_numpy() + errors["TEFF_ERR"] * rng.standard_normal(n),
        "LOGG": d["logg"].to_numpy() + errors["LOGG_ERR"] * rng.standard_normal(n),
        "FE_H": d["feh"].to_numpy() + errors["FE_H_ERR"] * rng.standard_normal(n),
        **errors,
    }


def _rows(d: pd.DataFrame, rng: np.random.Generator, telescope: str) -> pd.DataFrame:
    n = len(d)
    snr = _snr(d["gaia_g"].to_numpy(), rng)
    gaia = d["gaia_source_id"].to_numpy(dtype=np.int64).copy()
    gaia[rng.uniform(0, 1, n) < _NO_GAIA_FRACTION] = 0
    # 2MASS positions (epoch 2000) agree with the catalog positions to ~0.1".
    cos_dec = np.cos(np.radians(d["dec"].to_numpy()))
    ra = d["ra"].to_numpy() + 0.1 / 3600.0 * rng.standard_normal(n) / cos_dec
    dec = d["dec"].to_numpy() + 0.1 / 3600.0 * rng.standard_normal(n)
    extratarg = np.where(rng.uniform(0, 1, n) < 0.2, 1 << EXTRATARG_NOT_MAIN, 0)
    aspcapflag = np.where(rng.uniform(0, 1, n) < _BAD_FRACTION, 1 << ASPCAPFLAG_STAR_BAD, 0)
    return pd.DataFrame(
        {
            "APOGEE_ID": [apogee_id(r, de) for r, de in zip(d["ra"], d["dec"], strict=True)],
            "TELESCOPE": telescope,
            "RA": ra,
            "DEC": dec,
            "GAIAEDR3_SOURCE_ID": gaia,
            "SNR": snr,
            **_measured(d, snr, rng),
            "ASPCAPFLAG": aspcapflag.astype(np.int64),
            "STARFLAG": np.zeros(n, dtype=np.int64),
            "EXTRATARG": extratarg.astype(np.int32),
        }
    )


def apogee_dr17(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """allStar-dr17-synspec_rev1.fits: HDU 1 binary table, a star seen twice has two rows and
    the lower-S/N one carries the DUPLICATE bit."""
    d = _chosen(stars, rng)
    first = _rows(d, rng, "apo25m")
    repeat = np.flatnonzero(rng.uniform(0, 1, len(d)) < _REPEAT_FRACTION)
    second = _rows(d.iloc[repeat], rng, "apo1m")
    second["APOGEE_ID"] = first["APOGEE_ID"].to_numpy()[repeat]
    second["GAIAEDR3_SOURCE_ID"] = first["GAIAEDR3_SOURCE_ID"].to_numpy()[repeat]
    lower = second["SNR"].to_numpy() < first["SNR"].to_numpy()[repeat]
    duplicate = np.int32(1 << EXTRATARG_DUPLICATE)
    second.loc[lower, "EXTRATARG"] |= duplicate
    first_rows = first.index.to_numpy()[repeat[~lower]]
    first.loc[first_rows, "EXTRATARG"] |= duplicate
    table = pd.concat([first, second]).sort_values(["APOGEE_ID", "TELESCOPE"], kind="stable")
    formats = {"APOGEE_ID": "18A", "TELESCOPE": "8A", "RA": "D", "DEC": "D"}
    formats |= {"GAIAEDR3_SOURCE_ID": "K", "ASPCAPFLAG": "K", "STARFLAG": "K", "EXTRATARG": "J"}
    arrays = {name: table[name].to_numpy() for name in table.columns}
    for name in ("APOGEE_ID", "TELESCOPE"):
        arrays[name] = arrays[name].astype(str)  # FITS text columns need fixed-width strings
    columns = [
        fits.Column(name=name, format=formats.get(name, "E"), array=array)
        for name, array in arrays.items()
    ]
    hdu = fits.BinTableHDU.from_columns(columns)
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    return buffer.getvalue()
