"""Stellar-property catalogs of the Kepler targets in the synthetic sky (docs/catalogs.md).

- Kepler-Gaia (gaia-kepler.fun 1"): every Kepler star, Gaia DR3 at epoch 2016 (moved by the
  proper motion) and, for a few, a faint background source as a second row;
- Berger 2020 Table 1/2: most Kepler stars; isochrone fits of binaries come out too large and
  luminous (they assume one star);
- Godoy-Rivera 2025: every Kepler star, CMD class and binary flags (union includes the CMD);
- Chen 2021: U, V, W relative to the LSR for Kepler stars with a LAMOST spectrum;
- Kepler EB catalog (eclipsing binaries) and the DR25 CDPP table (every Kepler star).
"""

from __future__ import annotations

import io

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.io import fits

from desa.sky.formats import UCD_ERR, VizierColumn, ampersand, csv_bytes, fixed, short, vizier_tsv

# Solar motion relative to the LSR (Schoenrich et al. 2010): LSR velocity = heliocentric + this.
SOLAR_MOTION = (11.1, 12.24, 7.25)
BKJD_TO_BJD_2400000 = 54833.0  # bjd0 (BJD - 2400000) = BKJD + 54833


# ---------------------------------------------------------------------------------------------
# Selections and errors of the truth (shared with the rotation catalogs)


def kepler_targets(stars: pd.DataFrame) -> pd.DataFrame:
    """The Kepler targets of the truth table, in KIC order."""
    return stars[stars["is_kepler_target"]].sort_values("kic").reset_index(drop=True)


def noisy(rng: np.random.Generator, values: pd.Series | np.ndarray, rel: float) -> np.ndarray:
    """`values` with Gaussian errors of relative size `rel`."""
    return np.asarray(values, dtype=float) * (1.0 + rel * rng.standard_normal(len(values)))


# ---------------------------------------------------------------------------------------------
# Kepler-Gaia, Berger, Godoy-Rivera


def kepler_gaia(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """kepler_dr3_1arcsec.fits: DR25 stellar columns + Gaia DR3, one row per Kepler-Gaia pair
    within 1"; Gaia positions at epoch 2016.0, angular distances after propagating them back."""
    k = kepler_targets(stars)
    n = len(k)
    years = 16.0
    cos_dec = np.cos(np.radians(k["dec"].to_numpy()))
    plx_err = 0.01 + 0.02 * 10 ** (0.2 * (k["gaia_g"].to_numpy() - 13.0))
    rows = pd.DataFrame(
        {
            "kepid": k["kic"].astype(np.int64).to_numpy(),
            "ra_kic": k["ra"].to_numpy(),
            "dec_kic": k["dec"].to_numpy(),
            "kepmag": np.round(k["kepmag"].to_numpy(), 3),
            "teff": k["kic_teff"].astype(np.int64).to_numpy(),
            "logg": k["kic_logg"].to_numpy(),
            "feh": k["kic_feh"].to_numpy(),
            "radius": k["kic_radius"].to_numpy(),
            "source_id": k["gaia_source_id"].astype(np.int64).to_numpy(),
            "ra": k["ra"].to_numpy() + k["pmra"].to_numpy() * years / 3.6e6 / cos_dec,
            "dec": k["dec"].to_numpy() + k["pmdec"].to_numpy() * years / 3.6e6,
            "parallax": 1000.0 / k["dist_pc"].to_numpy() + plx_err * rng.standard_normal(n),
            "parallax_error": plx_err,
            "pmra": k["pmra"].to_numpy() + plx_err * rng.standard_normal(n),
            "pmdec": k["pmdec"].to_numpy() + plx_err * rng.standard_normal(n),
            "ruwe": k["ruwe"].to_numpy(),
            "phot_g_mean_mag": k["gaia_g"].to_numpy() + 0.003 * rng.standard_normal(n),
            "bp_rp": k["bp_rp"].to_numpy() + 0.005 * rng.standard_normal(n),
            "radial_velocity": np.where(
                k["gaia_g"].to_numpy() < 13.5,
                k["rv_sys"].to_numpy() + 2.0 * rng.standard_normal(n),
                np.nan,
            ),
            "kepler_gaia_ang_dist": np.abs(0.1 * rng.standard_normal(n)) + 0.01,
        }
    )
    # A faint background source inside 1" of a few Kepler stars: a second row for the kepid.
    extra = rows.iloc[rng.choice(n, max(1, n // 100), replace=False)].copy()
    m = len(extra)
    sep = rng.uniform(0.4, 0.95, m)
    pa = rng.uniform(0, 2 * np.pi, m)
    extra["source_id"] = 2_140_000_000_000_000_000 + rng.choice(10**15, m, replace=False)
    extra["ra"] += sep * np.sin(pa) / 3600.0 / np.cos(np.radians(extra["dec"]))
    extra["dec"] += sep * np.cos(pa) / 3600.0
    extra["parallax"] = rng.uniform(0.05, 0.4, m)
    extra["pmra"] = rng.normal(0, 3, m)
    extra["pmdec"] = rng.normal(0, 3, m)
    extra["ruwe"] = rng.uniform(0.9, 1.3, m)
    extra["phot_g_mean_mag"] += rng.uniform(3.0, 5.0, m)
    extra["bp_rp"] = rng.uniform(0.8, 2.0, m)
    extra["radial_velocity"] = np.nan
    extra["kepler_gaia_ang_dist"] = sep
    table = pd.concat([rows, extra]).sort_values(["kepid", "kepler_gaia_ang_dist"])
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(
                name=name, format={"i": "K", "f": "D"}[table[name].dtype.kind], array=table[name]
            )
            for name in table.columns
        ]
    )
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    return buffer.getvalue()


def _berger_rows(stars: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The ~96% of Kepler stars Berger et al. 2020 characterised (same set for both tables)."""
    k = kepler_targets(stars)
    keep = np.sort(rng.choice(len(k), round(0.96 * len(k)), replace=False))
    return k.iloc[keep].reset_index(drop=True)


def berger2020_input(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """GKSPCPapTable1_Final.txt.gz: Gaia DR2 G, 2MASS Ks, parallax, spectroscopic [Fe/H] (only
    for stars with a spectrum), DR2 RUWE, companions, evolutionary state of giants."""
    k = _berger_rows(stars, rng)
    n = len(k)
    g_err = 0.02 + 0.005 * rng.uniform(0, 1, n)
    k_err = 0.017 + 0.003 * rng.uniform(0, 1, n)
    plx_err = 0.02 + 0.03 * 10 ** (0.2 * (k["gaia_g"].to_numpy() - 13.0))
    has_feh = k["has_spectrum"].to_numpy()
    feh = np.where(has_feh, k["feh"].to_numpy() + 0.15 * rng.standard_normal(n), np.nan)
    companions = (k["close_pair"].to_numpy() >= 0).astype(int)
    evstate = np.where(k["evol_stage"] == "giant", np.where(k["red_clump"], "clump", "RGB"), "")
    frame = pd.DataFrame(
        {
            "KIC": k["kic"].astype(np.int64).astype(str),
            "gmag": short(k["gaia_g"].to_numpy() + g_err * rng.standard_normal(n), 4),
            "gmag_err": short(g_err, 4),
            "kmag": short(k["ks_mag"].to_numpy() + k_err * rng.standard_normal(n), 3),
            "kmag_err": short(k_err, 3),
            "parallax": short(1000.0 / k["dist_pc"] + plx_err * rng.standard_normal(n), 4),
            "parallax_err": short(plx_err, 4),
            "feh": short(feh, 2),
            "feh_err": short(np.where(has_feh, 0.15, np.nan), 2),
            "RUWE": short(k["ruwe"].to_numpy() * rng.uniform(0.95, 1.05, n), 4),
            "num_gaia_companions": companions.astype(str),
            "Kmag_final_prov": np.where(companions > 0, "BinaryCorr", ""),
            "evstate": evstate,
        }
    )
    return ampersand(frame)


def berger2020(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """GKSPCPapTable2_Final.txt.gz: isochrone-fitted properties (mass, Teff, logg, [Fe/H],
    radius, density and luminosity in solar units, age in Gyr, distance in pc) with upper (_err1)
    and lower (_err2, negative) errors. The fit assumes a single star, so an unresolved
    companion's light inflates radius and luminosity."""
    k = _berger_rows(stars, rng)
    n = len(k)
    excess = 10 ** (-0.4 * k["delta_mag"].to_numpy())  # flux of the pair / of the primary
    truth = {
        "iso_mass": k["mass"].to_numpy() * excess**0.15,
        "iso_teff": k["teff"].to_numpy(),
        "iso_rad": k["radius"].to_numpy() * np.sqrt(excess),
        "iso_lum": k["lum"].to_numpy() * excess,
        "iso_age": k["age_gyr"].to_numpy(),
        "iso_dis": k["dist_pc"].to_numpy(),
    }
    # (relative error or None for an absolute one, decimals)
    errors = {
        "iso_mass": (0.07, 3), "iso_teff": (0.018, 1), "iso_logg": (None, 3), "iso_feh": (None, 3),
        "iso_rad": (0.04, 3), "iso_rho": (0.12, 4), "iso_lum": (0.08, 3), "iso_age": (0.35, 2),
        "iso_dis": (0.02, 1),
    }  # fmt: skip
    values = {
        name: value * np.exp(errors[name][0] * rng.standard_normal(n))
        for name, value in truth.items()
    }
    values["iso_age"] = np.clip(values["iso_age"], 0.1, 14.0)
    values["iso_logg"] = 4.438 + np.log10(values["iso_mass"]) - 2 * np.log10(values["iso_rad"])
    values["iso_feh"] = k["feh"].to_numpy() + 0.15 * rng.standard_normal(n)
    values["iso_rho"] = values["iso_mass"] / values["iso_rad"] ** 3
    absolute = {"iso_logg": 0.04, "iso_feh": 0.15}
    columns: dict[str, list[str]] = {"KIC": k["kic"].astype(np.int64).astype(str).tolist()}
    for name, (rel, nd) in errors.items():
        v = values[name]
        err = np.abs(v) * rel if rel is not None else np.full(n, absolute[name])
        up = err * rng.uniform(0.8, 1.3, n)
        down = err * rng.uniform(0.8, 1.3, n)
        columns[name] = short(v, nd)
        columns[f"{name}_err1"] = short(up, nd)
        columns[f"{name}_err2"] = short(-down, nd)
    return ampersand(pd.DataFrame(columns))


def godoy_rivera2025(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """GodoyRivera25_TableA1.csv: every Kepler star with Gaia DR3, dereddened colour and
    absolute magnitude, flag_CMD and the binarity flags (the union includes photometric
    binaries, as in the paper)."""
    k = kepler_targets(stars)
    n = len(k)
    ruwe = k["ruwe"].to_numpy()
    flags = {
        "flag_RUWE": ruwe > 1.4,
        # Gaia DR3 RV variability needs G_RVS-bright stars.
        "flag_RVvariable": k["rv_variable"].to_numpy() & (k["gaia_g"].to_numpy() < 13.5),
        "flag_NSS": k["nss_type"].to_numpy() != "",
        "flag_EB_Kepler": k["is_eb"].to_numpy(),
        "flag_EB_Gaia": k["nss_type"].to_numpy() == "EclipsingBinary",
        "flag_SB9": k["sb9"].to_numpy(),
    }
    union = np.logical_or.reduce([*flags.values(), k["cmd_class"] == "Photometric_Binary"])
    plx_frac = (0.01 + 0.02 * 10 ** (0.2 * (k["gaia_g"] - 13.0))) * k["dist_pc"] / 1000.0
    frame = pd.DataFrame(
        {
            "KIC": k["kic"].astype(np.int64),
            "source_id": k["gaia_source_id"].astype(np.int64),
            "BPmRP_0": fixed(k["bp_rp0"].to_numpy() + 0.01 * rng.standard_normal(n), 4),
            "M_G_0": fixed(
                k["abs_g0"].to_numpy()
                + np.hypot(0.02, 2.17 * plx_frac.to_numpy()) * rng.standard_normal(n),
                4,
            ),
            "flag_CMD": k["cmd_class"],
            "RUWE": fixed(ruwe, 4),
            "flag_Binary_Union": union,
            **{name: flags[name] for name in ("flag_RUWE", "flag_RVvariable", "flag_NSS")},
            "NSS_Binary_Type": k["nss_type"],
            **{name: flags[name] for name in ("flag_EB_Kepler", "flag_EB_Gaia", "flag_SB9")},
        }
    )
    return csv_bytes(frame)


# ---------------------------------------------------------------------------------------------
# Kinematics, EBs, CDPP


def chen2021(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """J/AJ/162/100: U, V, W (km/s, relative to the LSR) of Kepler stars with a LAMOST RV;
    errors grow with distance (parallax and proper-motion errors)."""
    k = kepler_targets(stars)
    k = k[k["has_spectrum"]].reset_index(drop=True)
    n = len(k)
    err = 1.0 + 3.0 * k["dist_pc"].to_numpy() / 1000.0
    cols = [
        VizierColumn("KIC", "I8", "", "Kepler Input Catalog identifier", "meta.id;meta.main"),
        *(
            VizierColumn(name, "F8.2", "km/s", desc, ucd)
            for name, desc, ucd in (
                ("U", "Galactic velocity towards the Galactic centre", "phys.veloc"),
                ("e_U", "Uncertainty on U", UCD_ERR),
                ("V", "Galactic velocity in the direction of rotation", "phys.veloc"),
                ("e_V", "Uncertainty on V", UCD_ERR),
                ("W", "Galactic velocity towards the North Galactic Pole", "phys.veloc"),
                ("e_W", "Uncertainty on W", UCD_ERR),
            )
        ),
    ]
    values: dict[str, list[str]] = {"KIC": k["kic"].astype(np.int64).astype(str).tolist()}
    for axis, solar in zip("UVW", SOLAR_MOTION, strict=True):
        e = err * rng.uniform(0.8, 1.2, n)
        lsr = k[f"{axis.lower()}_kms"].to_numpy() + solar
        values[axis] = fixed(lsr + e * rng.standard_normal(n), 2)
        values[f"e_{axis}"] = fixed(e, 2)
    return vizier_tsv(
        "J/AJ/162/100",
        "Planets Across Space and Time (PAST). II. Kepler stars kinematics (Chen+, 2021)",
        "table1",
        "Kinematic properties of LAMOST-Gaia-Kepler stars",
        cols,
        values,
    )


def kepler_eb(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """kepler_eb.txt (Villanova web CSV): blank first line, trailing comma on every line."""
    k = kepler_targets(stars)
    k = k[k["is_eb"]].reset_index(drop=True)
    n = len(k)
    gal = SkyCoord(ra=k["ra"].to_numpy() * u.deg, dec=k["dec"].to_numpy() * u.deg).galactic
    teff = np.where(rng.uniform(0, 1, n) < 0.15, -1.0, k["kic_teff"].to_numpy())
    lines = ["", "KID,period,period_err,bjd0,bjd0_err,morph,GLon,GLat,kmag,Teff,SC,"]
    for i, row in enumerate(k.itertuples(index=False)):
        morph = min(1.0, 3.0 * row.eb_duration / row.eb_period)  # wide eclipses: closer pairs
        fields = [
            str(int(row.kic)),
            f"{row.eb_period * (1 + 1e-6 * rng.standard_normal()):.7f}",
            f"{row.eb_period * 2e-6:.7f}",
            f"{row.eb_t0 + BKJD_TO_BJD_2400000:.6f}",
            f"{rng.uniform(0.0005, 0.005):.6f}",
            f"{morph:.2f}",
            f"{gal.l.deg[i]:.4f}",
            f"{gal.b.deg[i]:.4f}",
            f"{row.kepmag:.4f}",
            f"{teff[i]:.4f}",
            "False",
        ]
        lines.append(",".join(fields) + ",")
    return ("\n".join(lines) + "\n").encode()


def kepler_cdpp(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """DR25 3-hour robust RMS CDPP: white noise over 6 cadences plus granulation and the spot
    signal's change within 3 hours."""
    k = kepler_targets(stars)
    white = k["cadence_noise_ppm"] / np.sqrt(6.0)
    spots = k["rot_amp_ppm"] * np.pi * 0.125 / k["prot"]
    cdpp = np.sqrt(white**2 + (k["gran_ppm"] / 2.0) ** 2 + spots**2)
    frame = pd.DataFrame(
        {
            "kepid": k["kic"].astype(np.int64),
            "rrmscdpp03p0": short(noisy(rng, cdpp, 0.05), 3),
        }
    )
    return csv_bytes(frame)
