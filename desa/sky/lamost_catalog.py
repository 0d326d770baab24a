"""The LAMOST DR8 v2.0 LRS stellar (LASP) catalog of the synthetic sky (docs/catalogs.md).

One row per spectrum, identical to the FITS headers in obsid/plan/fibre/date/position/SNR/z/
TSOURCE; Teff/logg/[Fe/H]/RV errors shrink with SNR; -9999 where the fit failed (low SNR, a few
at random).
"""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pandas as pd

from desa.sky.formats import csv_bytes, fixed, hash_int

# The 47 columns of LRS_stellar in the published order (data_sources.md §1.3). Written here
# independently of catalogs.specs on purpose: the mirror plays the archive, so a reader's
# mistake must not be copied into what it reads.
LAMOST_STELLAR_COLUMNS = (
    "obsid", "uid", "gp_id", "designation", "obsdate", "lmjd", "mjd", "planid", "spid",
    "fiberid", "ra_obs", "dec_obs", "snru", "snrg", "snrr", "snri", "snrz", "class", "subclass",
    "z", "z_err", "ps_id", "mag_ps_g", "mag_ps_r", "mag_ps_i", "mag_ps_z", "mag_ps_y",
    "gaia_source_id", "gaia_g_mean_mag", "tsource", "fibertype", "tfrom", "tcomment", "offset",
    "offset_v", "ra", "dec", "teff", "teff_err", "logg", "logg_err", "feh", "feh_err", "rv",
    "rv_err", "alpha_m", "alpha_m_err",
)  # fmt: skip

LAMOST_MISSING = -9999


def _lasp(spectra: pd.DataFrame, stars: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """LASP parameters per spectrum: truth + errors that shrink with SNR; -9999 when the fit
    failed (SNR_g < 5, or ~2% at random)."""
    s = stars.set_index("star_id").loc[spectra["star_id"]]
    snr = np.clip(spectra["snrg"].to_numpy(), 1.0, None)
    n = len(spectra)
    errors = {
        "teff_err": 20.0 + 1500.0 / snr,
        "logg_err": 0.03 + 2.5 / snr,
        "feh_err": 0.02 + 1.0 / snr,
        "rv_err": 2.0 + 60.0 / snr,
        "alpha_m_err": 0.02 + 0.6 / snr,
    }
    out = pd.DataFrame(index=spectra.index)
    truth = {
        "teff": s["teff"].to_numpy(),
        "logg": s["logg"].to_numpy(),
        "feh": s["feh"].to_numpy(),
        "rv": spectra["rv"].to_numpy(),
        # [alpha/M] rises as [Fe/H] falls (thick-disc trend), ~0 at solar metallicity.
        "alpha_m": np.clip(-0.25 * s["feh"].to_numpy(), -0.05, 0.3),
    }
    for name, value in truth.items():
        err = errors[f"{name}_err"] * rng.uniform(0.8, 1.2, n)
        out[name] = value + err * rng.standard_normal(n)
        out[f"{name}_err"] = err
    failed = (snr < 5.0) | (rng.uniform(0, 1, n) < 0.02)
    out.loc[failed, :] = np.nan
    return out


def lamost_stellar(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """dr8_v2.0_LRS_stellar.csv.gz: 47 columns, one row per spectrum, -9999 = missing."""
    sp = spectra.sort_values("obsid").reset_index(drop=True)
    st = stars.set_index("star_id").loc[sp["star_id"]].reset_index()
    lasp = _lasp(sp, stars, rng)
    # A few input-catalog entries without an LK link carry no Gaia id either: those spectra
    # can only be matched by position.
    unlinked = np.unique(sp.loc[sp["tsource"] != "Kepler", "star_id"])
    n_missing = min(len(unlinked), max(2, len(unlinked) // 8))
    no_gaia = set(rng.choice(unlinked, n_missing, replace=False).tolist())
    gaia = [
        str(LAMOST_MISSING) if sid in no_gaia else str(int(g))
        for sid, g in zip(sp["star_id"], sp["gaia_source_id"], strict=True)
    ]
    uid = [hashlib.md5(f"uid-{sid}".encode()).hexdigest() for sid in sp["star_id"]]
    gp_id = [1_000_000_000 + hash_int(f"gp-{sid}") % 900_000_000 for sid in sp["star_id"]]
    ps_id = [100_000_000_000_000_000 + hash_int(f"ps-{sid}") % 10**17 for sid in sp["star_id"]]
    miss = str(LAMOST_MISSING)
    cols: dict[str, list] = {
        "obsid": sp["obsid"].tolist(),
        "uid": uid,
        "gp_id": gp_id,
        "designation": sp["designation"].tolist(),
        "obsdate": sp["obsdate"].tolist(),
        "lmjd": sp["lmjd"].tolist(),
        "mjd": sp["mjd"].tolist(),
        "planid": sp["planid"].tolist(),
        "spid": sp["spid"].tolist(),
        "fiberid": sp["fiberid"].tolist(),
        "ra_obs": fixed(sp["ra_obs"], 7),
        "dec_obs": fixed(sp["dec_obs"], 7),
        **{f"snr{b}": fixed(sp[f"snr{b}"], 2) for b in "ugriz"},
        "class": ["STAR"] * len(sp),
        "subclass": sp["subclass"].tolist(),
        "z": fixed(sp["z"], 8),
        "z_err": fixed(sp["z_err"], 8),
        "ps_id": ps_id,
    }
    for band in "grizy":
        mags = st[f"ps_{band}"].to_numpy() + 0.01 * rng.standard_normal(len(sp))
        mags[mags < 12.0] = np.nan  # saturated in Pan-STARRS1
        cols[f"mag_ps_{band}"] = fixed(mags, 3, miss)
    cols |= {
        "gaia_source_id": gaia,
        "gaia_g_mean_mag": fixed(st["gaia_g"].to_numpy() + 0.003 * rng.standard_normal(len(sp)), 4),
        "tsource": sp["tsource"].tolist(),
        "fibertype": ["Obj"] * len(sp),
        "tfrom": sp["tfrom"].tolist(),
        "tcomment": sp["tcomment"].tolist(),
        "offset": sp["offset"].tolist(),
        "offset_v": fixed(sp["offset_v"], 2),
        "ra": fixed(sp["ra"], 7),
        "dec": fixed(sp["dec"], 7),
    }
    decimals = {"teff": 2, "logg": 3, "feh": 3, "rv": 2, "alpha_m": 3}
    for name, nd in decimals.items():
        cols[name] = fixed(lasp[name], nd, miss)
        cols[f"{name}_err"] = fixed(lasp[f"{name}_err"], nd, miss)
    frame = pd.DataFrame({name: cols[name] for name in LAMOST_STELLAR_COLUMNS})
    return gzip.compress(csv_bytes(frame), mtime=0)
