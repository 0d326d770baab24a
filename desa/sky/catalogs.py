"""Catalogs of the synthetic sky, each in its real published format (docs/catalogs.md).

Every table is built from the truth (`population.draw_stars`, the visits of
`population.draw_visits` with measured SNRs) plus the errors and the coverage its source has:

- LAMOST DR8 v2.0 LRS stellar (LASP): one row per spectrum, identical to the FITS headers in
  obsid/plan/fibre/date/position/SNR/z/TSOURCE; Teff/logg/[Fe/H]/RV errors shrink with SNR;
  -9999 where the fit failed (low SNR, a few at random);
- Kepler-Gaia (gaia-kepler.fun 1"): every Kepler star, Gaia DR3 at epoch 2016 (moved by the
  proper motion) and, for a few, a faint background source as a second row;
- Berger 2020 Table 1/2: most Kepler stars; isochrone fits of binaries come out too large and
  luminous (they assume one star);
- Godoy-Rivera 2025: every Kepler star, CMD class and binary flags (union includes the CMD);
- rotation: McQuillan 2014 (clear, large-amplitude dwarfs below 6500 K), Santos 2019 (K/M) and
  2021 (G/F, subgiants) with a lower detection threshold, Reinhold 2023 (GPS, broad, ~10%
  scatter), LightPred (nearly all dwarfs/subgiants, with a confidence);
- Kamai & Perets 2025b: fast rotators (P < 7 d) with their K-band excess over a single star;
- ages: Lu 2024 for dwarfs with a period, Bouma 2024 only below 4 Gyr (gyro-interp range);
- Chen 2021: U, V, W relative to the LSR for Kepler stars with a LAMOST spectrum;
- Kepler EB catalog (eclipsing binaries) and the DR25 CDPP table (every Kepler star).

Byte-identical for a seed: formats are fixed, gzip carries mtime 0, no dates are written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.io import fits
from scipy.special import expit

from desa.sky.lamost_files import write_bytes_atomic
from desa.sky.population import rng_for

# Where each catalog sits under the mirror root (docs/catalogs.md, "mirror path").
CATALOG_PATHS: dict[str, str] = {
    "lamost_lrs_stellar": "lamost/dr8/v2.0/catalog/dr8_v2.0_LRS_stellar.csv.gz",
    "kepler_gaia": "gaia-kepler/kepler_dr3_1arcsec.fits",
    "berger2020_input": "berger2020/GKSPCPapTable1_Final.txt.gz",
    "berger2020": "berger2020/GKSPCPapTable2_Final.txt.gz",
    "godoy_rivera2025": "godoy-rivera2025/GodoyRivera25_TableA1.csv",
    "mcquillan2014": "mcquillan2014/Table_1_Periodic.txt",
    "santos2019": "vizier/J_ApJS_244_21.tsv",
    "santos2021": "vizier/J_ApJS_255_17.tsv",
    "reinhold2023": "vizier/J_A+A_678_A24.tsv",
    "lightpred2025": "kamai-perets2025a/kepler_predictions_clean_seg_0_1_2_median.csv",
    "kamai_perets2025b": "kamai-perets2025b/fast_rotators.csv",
    "lu2024": "lu2024/lu2024_ages_mrt.txt",
    "bouma2024": "bouma2024/bouma2024_ages_mrt.txt",
    "chen2021": "vizier/J_AJ_162_100.tsv",
    "kepler_eb": "kepler-eb/kepler_eb.txt",
    "kepler_cdpp": "kepler/Kepler-Q1-Q17-DR25-CDPP3.csv",
}

# The 47 columns of LRS_stellar in the published order (data_sources.md §1.3).
LAMOST_STELLAR_COLUMNS = (
    "obsid", "uid", "gp_id", "designation", "obsdate", "lmjd", "mjd", "planid", "spid",
    "fiberid", "ra_obs", "dec_obs", "snru", "snrg", "snrr", "snri", "snrz", "class", "subclass",
    "z", "z_err", "ps_id", "mag_ps_g", "mag_ps_r", "mag_ps_i", "mag_ps_z", "mag_ps_y",
    "gaia_source_id", "gaia_g_mean_mag", "tsource", "fibertype", "tfrom", "tcomment", "offset",
    "offset_v", "ra", "dec", "teff", "teff_err", "logg", "logg_err", "feh", "feh_err", "rv",
    "rv_err", "alpha_m", "alpha_m_err",
)  # fmt: skip

# Solar motion relative to the LSR (Schoenrich et al. 2010): LSR velocity = heliocentric + this.
SOLAR_MOTION = (11.1, 12.24, 7.25)
LAMOST_MISSING = -9999
BKJD_TO_BJD_2400000 = 54833.0  # bjd0 (BJD - 2400000) = BKJD + 54833

Builder = Callable[[pd.DataFrame, pd.DataFrame, np.random.Generator], bytes]


# ---------------------------------------------------------------------------------------------
# Formatting helpers


def _fixed(values: Sequence[float] | np.ndarray, decimals: int, missing: str = "") -> list[str]:
    """Fixed-point text, `missing` for NaN."""
    return [missing if not np.isfinite(v) else f"{v:.{decimals}f}" for v in np.asarray(values)]


def _short(values: Sequence[float] | np.ndarray, decimals: int, missing: str = "") -> list[str]:
    """Rounded and without trailing zeros ('12.351'), as the Berger files print numbers."""
    out = []
    for v in np.asarray(values, dtype=float):
        out.append(missing if not np.isfinite(v) else repr(round(float(v), decimals)))
    return out


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode()


def _kepler(stars: pd.DataFrame) -> pd.DataFrame:
    return stars[stars["is_kepler_target"]].sort_values("kic").reset_index(drop=True)


def _dwarfs_with_rotation(stars: pd.DataFrame) -> pd.DataFrame:
    """Kepler main-sequence and subgiant stars whose period is in catalog reach (< 70 d)."""
    k = _kepler(stars)
    return k[(k["evol_stage"] != "giant") & (k["prot"] < 70.0)].reset_index(drop=True)


def _noisy(rng: np.random.Generator, values: pd.Series | np.ndarray, rel: float) -> np.ndarray:
    return np.asarray(values, dtype=float) * (1.0 + rel * rng.standard_normal(len(values)))


@dataclass(frozen=True)
class _VizierColumn:
    name: str
    fmt: str  # Fortran-like: I8, F6.3, A5
    unit: str
    description: str
    ucd: str

    @property
    def width(self) -> int:
        return int(self.fmt[1:].split(".")[0])


def _vizier_tsv(
    catalog: str,
    title: str,
    table: str,
    table_title: str,
    columns: Sequence[_VizierColumn],
    values: dict[str, list[str]],
) -> bytes:
    """A VizieR ASU-TSV export: '#' header, column names, units, dashes, tab-separated rows
    right-aligned to the column formats (as the real Santos 2019 export)."""
    table_id = f"{catalog}/{table}"
    mangled = catalog.replace("/", "_")
    lines = [
        "#",
        "#   VizieR Astronomical Server vizier.cds.unistra.fr",
        "#   In case of problem, please report to:\tcds-question@unistra.fr",
        "#",
        "#",
        "#Coosys\tJ2000:\teq_FK5 J2000",
        "#INFO\tvotable-version=1.99+ (14-Oct-2013)\t",
        "#INFO\t-out.max=unlimited\t",
        "#-oc.form=dec",
        "#-out.max=unlimited",
        f"#-source={table_id}",
        *(f"#-out={c.name}" for c in columns),
        "#",
        "",
        f"#RESOURCE=yCat_{hash_int(catalog) % 10**8:08d}",
        f"#Name: {catalog}",
        f"#Title: {title}",
        f"#Table\t{mangled}_{table}:",
        f"#Name: {table_id}",
        f"#Title: {table_title}",
        *(f"#Column\t{c.name}\t({c.fmt})\t{c.description}\t[ucd={c.ucd}]" for c in columns),
        "\t".join(c.name for c in columns),
        "\t".join(c.unit for c in columns),
        "\t".join("-" * c.width for c in columns),
    ]
    n = len(values[columns[0].name])
    for i in range(n):
        lines.append("\t".join(values[c.name][i].rjust(c.width) for c in columns))
    lines.append("")
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class _MrtColumn:
    fmt: str
    unit: str
    label: str
    explanation: str

    @property
    def width(self) -> int:
        return int(self.fmt[1:].split(".")[0])


def _mrt(
    title: str,
    authors: str,
    table: str,
    file_name: str,
    columns: Sequence[_MrtColumn],
    values: dict[str, list[str]],
) -> bytes:
    """An AAS machine-readable table (CDS byte-by-byte header, fixed-width rows)."""
    rule = "-" * 80
    lines = [
        f"Title: {title}",
        f"Authors: {authors}",
        f"Table: {table}",
        "=" * 80,
        f"Byte-by-byte Description of file: {file_name}",
        rule,
        "   Bytes Format Units   Label    Explanations",
        rule,
    ]
    start = 1
    for c in columns:
        end = start + c.width - 1
        lines.append(
            f"{start:4d}-{end:3d} {c.fmt:<6} {c.unit:<7} {c.label:<8} {c.explanation}".rstrip()
        )
        start = end + 2
    lines.append(rule)
    n = len(values[columns[0].label])
    for i in range(n):
        lines.append(" ".join(values[c.label][i].rjust(c.width) for c in columns))
    return ("\n".join(lines) + "\n").encode()


def hash_int(text: str) -> int:
    """A stable integer from text (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


# ---------------------------------------------------------------------------------------------
# LAMOST


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
        "ra_obs": _fixed(sp["ra_obs"], 7),
        "dec_obs": _fixed(sp["dec_obs"], 7),
        **{f"snr{b}": _fixed(sp[f"snr{b}"], 2) for b in "ugriz"},
        "class": ["STAR"] * len(sp),
        "subclass": sp["subclass"].tolist(),
        "z": _fixed(sp["z"], 8),
        "z_err": _fixed(sp["z_err"], 8),
        "ps_id": ps_id,
    }
    for band in "grizy":
        mags = st[f"ps_{band}"].to_numpy() + 0.01 * rng.standard_normal(len(sp))
        mags[mags < 12.0] = np.nan  # saturated in Pan-STARRS1
        cols[f"mag_ps_{band}"] = _fixed(mags, 3, miss)
    cols |= {
        "gaia_source_id": gaia,
        "gaia_g_mean_mag": _fixed(
            st["gaia_g"].to_numpy() + 0.003 * rng.standard_normal(len(sp)), 4
        ),
        "tsource": sp["tsource"].tolist(),
        "fibertype": ["Obj"] * len(sp),
        "tfrom": sp["tfrom"].tolist(),
        "tcomment": sp["tcomment"].tolist(),
        "offset": sp["offset"].tolist(),
        "offset_v": _fixed(sp["offset_v"], 2),
        "ra": _fixed(sp["ra"], 7),
        "dec": _fixed(sp["dec"], 7),
    }
    decimals = {"teff": 2, "logg": 3, "feh": 3, "rv": 2, "alpha_m": 3}
    for name, nd in decimals.items():
        cols[name] = _fixed(lasp[name], nd, miss)
        cols[f"{name}_err"] = _fixed(lasp[f"{name}_err"], nd, miss)
    frame = pd.DataFrame({name: cols[name] for name in LAMOST_STELLAR_COLUMNS})
    return gzip.compress(_csv(frame), mtime=0)


# ---------------------------------------------------------------------------------------------
# Kepler-Gaia, Berger, Godoy-Rivera


def kepler_gaia(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """kepler_dr3_1arcsec.fits: DR25 stellar columns + Gaia DR3, one row per Kepler-Gaia pair
    within 1"; Gaia positions at epoch 2016.0, angular distances after propagating them back."""
    k = _kepler(stars)
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
    k = _kepler(stars)
    keep = np.sort(rng.choice(len(k), round(0.96 * len(k)), replace=False))
    return k.iloc[keep].reset_index(drop=True)


def _ampersand(frame: pd.DataFrame) -> bytes:
    lines = ["&".join(frame.columns) + "\\\\"]
    lines += ["&".join(row) + "\\\\" for row in frame.astype(str).itertuples(index=False)]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


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
            "gmag": _short(k["gaia_g"].to_numpy() + g_err * rng.standard_normal(n), 4),
            "gmag_err": _short(g_err, 4),
            "kmag": _short(k["ks_mag"].to_numpy() + k_err * rng.standard_normal(n), 3),
            "kmag_err": _short(k_err, 3),
            "parallax": _short(1000.0 / k["dist_pc"] + plx_err * rng.standard_normal(n), 4),
            "parallax_err": _short(plx_err, 4),
            "feh": _short(feh, 2),
            "feh_err": _short(np.where(has_feh, 0.15, np.nan), 2),
            "RUWE": _short(k["ruwe"].to_numpy() * rng.uniform(0.95, 1.05, n), 4),
            "num_gaia_companions": companions.astype(str),
            "Kmag_final_prov": np.where(companions > 0, "BinaryCorr", ""),
            "evstate": evstate,
        }
    )
    return _ampersand(frame)


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
        columns[name] = _short(v, nd)
        columns[f"{name}_err1"] = _short(up, nd)
        columns[f"{name}_err2"] = _short(-down, nd)
    return _ampersand(pd.DataFrame(columns))


def godoy_rivera2025(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """GodoyRivera25_TableA1.csv: every Kepler star with Gaia DR3, dereddened colour and
    absolute magnitude, flag_CMD and the binarity flags (the union includes photometric
    binaries, as in the paper)."""
    k = _kepler(stars)
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
            "BPmRP_0": _fixed(k["bp_rp0"].to_numpy() + 0.01 * rng.standard_normal(n), 4),
            "M_G_0": _fixed(
                k["abs_g0"].to_numpy()
                + np.hypot(0.02, 2.17 * plx_frac.to_numpy()) * rng.standard_normal(n),
                4,
            ),
            "flag_CMD": k["cmd_class"],
            "RUWE": _fixed(ruwe, 4),
            "flag_Binary_Union": union,
            **{name: flags[name] for name in ("flag_RUWE", "flag_RVvariable", "flag_NSS")},
            "NSS_Binary_Type": k["nss_type"],
            **{name: flags[name] for name in ("flag_EB_Kepler", "flag_EB_Gaia", "flag_SB9")},
        }
    )
    return _csv(frame)


# ---------------------------------------------------------------------------------------------
# Rotation


def mcquillan2014(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """Table_1_Periodic.txt: clear rotators with Rper > 300 ppm below 6500 K (EBs and giants
    removed, as in McQuillan et al. 2014); Teff/logg are the KIC values."""
    d = _dwarfs_with_rotation(stars)
    d = d[d["rotation_clear"] & (d["rot_amp_ppm"] > 300) & (d["teff"] < 6500)]
    n = len(d)
    prot = _noisy(rng, d["prot"], 0.01)
    snr = d["rot_amp_ppm"].to_numpy() / d["cadence_noise_ppm"].to_numpy()
    frame = pd.DataFrame(
        {
            "kepid": d["kic"].astype(np.int64),
            "Teff": d["kic_teff"].astype(np.int64),
            "logg": _fixed(d["kic_logg"], 2),
            "Mass": _fixed(_noisy(rng, d["mass"], 0.05), 4),
            "Prot": _fixed(prot, 3),
            "Prot_err": _fixed(prot * rng.uniform(0.002, 0.02, n), 3),
            "Rper": _fixed(_noisy(rng, d["rot_amp_ppm"], 0.1), 2),
            "LPH": _fixed(np.clip(0.3 + 0.3 * np.log10(1 + snr), 0.3, 2.0), 3),
            "w": _fixed(np.clip(0.25 + 0.15 * np.log10(1 + snr), 0.25, 0.95), 4),
            "DC": (rng.uniform(0, 1, n) < 0.2).astype(int),
            "Flag": ["---"] * n,
        }
    )
    return _csv(frame)


def _santos_selection(stars: pd.DataFrame, k_m: bool) -> pd.DataFrame:
    """Santos et al. recover fainter modulation than McQuillan (KEPSEISMIC + ACF/GWPS): 150 ppm
    and 0.4x the cadence noise; 2019 = M/K dwarfs (< 5200 K), 2021 = G/F dwarfs and subgiants."""
    d = _dwarfs_with_rotation(stars)
    seen = (
        (d["rot_amp_ppm"] > np.maximum(150.0, 0.4 * d["cadence_noise_ppm"]))
        & (d["prot"] >= 0.3)
        & ~d["is_eb"]
    )
    cool = d["teff"] < 5200
    band = cool & (d["evol_stage"] == "dwarf") if k_m else ~cool & (d["teff"] < 6800)
    return d[seen & band].reset_index(drop=True)


def _santos_values(d: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(d)
    prot = _noisy(rng, d["prot"], 0.03)
    sph = _noisy(rng, d["rot_amp_ppm"] / (2 * np.sqrt(2)), 0.1)  # rms of a sinusoid: A/sqrt(2)
    return {
        "Prot": prot,
        "E_Prot": np.abs(prot * rng.uniform(0.03, 0.1, n)),
        "Sph": sph,
        "E_Sph": np.abs(sph * rng.uniform(0.02, 0.08, n)),
        "Teff": d["kic_teff"].to_numpy() + 100.0,
        "Mass": _noisy(rng, d["mass"], 0.06),
    }


_UCD_ERR = "stat.error"


def santos2019(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """J/ApJS/244/21 table3 (M and K dwarfs with a period), VizieR TSV, real column layout."""
    d = _santos_selection(stars, k_m=True)
    v = _santos_values(d, rng)
    n = len(d)
    quarters = [f"{q.split(',')[0]}-{q.split(',')[-1]}" for q in d["quarters"]]
    teff_err = np.round(rng.uniform(70, 160, n))
    binary = (d["ruwe"] > 1.4) | (d["cmd_class"] == "Photometric_Binary")
    cols = [
        _VizierColumn("KIC", "I8", "", "Kepler Input Catalog ID", "meta.id;meta.main"),
        _VizierColumn("Kpmag", "F6.3", "mag", "? Kepler magnitude", "phot.mag;em.opt"),
        _VizierColumn("Q", "A5", "", "First and last observed Kepler Quarters", "meta.note"),
        _VizierColumn("Teff", "I4", "K", "Effective temperature", "phys.temperature.effective"),
        _VizierColumn("E_Teff", "I3", "K", "Upper uncertainty on Teff", _UCD_ERR),
        _VizierColumn("e_Teff", "I3", "K", "Lower uncertainty on Teff", _UCD_ERR),
        _VizierColumn("logg", "F6.3", "[cm-2]", "Log surface gravity", "phys.gravity"),
        _VizierColumn("E_logg", "F6.3", "[cm-2]", "Upper uncertainty on logg", _UCD_ERR),
        _VizierColumn("e_logg", "F6.3", "[cm-2]", "Lower uncertainty on logg", _UCD_ERR),
        _VizierColumn("Mass", "F6.3", "Msun", "Mass", "phys.mass"),
        _VizierColumn("E_Mass", "F6.3", "Msun", "Upper uncertainty on Mass", _UCD_ERR),
        _VizierColumn("e_Mass", "F6.3", "Msun", "Lower uncertainty on Mass", _UCD_ERR),
        _VizierColumn("Prot", "F6.2", "d", "Rotation period", "time.period"),
        _VizierColumn("E_Prot", "F5.2", "d", "? Uncertainty on Prot", _UCD_ERR),
        _VizierColumn("Sph", "F7.1", "ppm", "Photometric activity proxy", "spect.index"),
        _VizierColumn("E_Sph", "F7.1", "ppm", "Uncertainty on Sph", _UCD_ERR),
        _VizierColumn("Fl1", "I1", "", "? CP/CB candidate flag", "meta.code"),
        _VizierColumn("DMK", "F6.3", "mag", "? Luminosity excess correction", "phot.color.excess"),
        _VizierColumn("Fl2", "I1", "", "? GAIA binary flag", "meta.code"),
        _VizierColumn("Fl3", "I1", "", "? GAIA subgiant flag", "meta.code"),
        _VizierColumn("Fl4", "I1", "", "? KOI flag", "meta.code"),
        _VizierColumn("Fl5", "I1", "", "? FliPer Class flag", "meta.code"),
        _VizierColumn("_RA", "F9.5", "deg", "Position from KIC catalog (V/133)", "pos.eq.ra"),
        _VizierColumn("_DE", "F9.5", "deg", "Position from KIC catalog (V/133)", "pos.eq.dec"),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Kpmag": _fixed(d["kepmag"], 3),
        "Q": quarters,
        "Teff": _fixed(v["Teff"], 0),
        "E_Teff": _fixed(teff_err, 0),
        "e_Teff": _fixed(teff_err * rng.uniform(0.9, 1.1, n), 0),
        "logg": _fixed(d["kic_logg"], 3),
        "E_logg": _fixed(rng.uniform(0.01, 0.1, n), 3),
        "e_logg": _fixed(rng.uniform(0.01, 0.1, n), 3),
        "Mass": _fixed(v["Mass"], 3),
        "E_Mass": _fixed(rng.uniform(0.02, 0.1, n), 3),
        "e_Mass": _fixed(rng.uniform(0.02, 0.1, n), 3),
        "Prot": _fixed(v["Prot"], 2),
        "E_Prot": _fixed(v["E_Prot"], 2),
        "Sph": _fixed(v["Sph"], 1),
        "E_Sph": _fixed(v["E_Sph"], 1),
        "Fl1": np.where(d["synchronized"], "1", "").tolist(),
        "DMK": _fixed(np.where(binary, d["delta_mag"], np.nan), 3),
        "Fl2": binary.astype(int).astype(str).tolist(),
        "Fl3": ["0"] * n,
        "Fl4": [""] * n,
        "Fl5": ["0"] * n,
        "_RA": _fixed(d["ra"], 5),
        "_DE": [f"{x:+09.5f}" for x in d["dec"]],
    }
    return _vizier_tsv(
        "J/ApJS/244/21",
        "Surface rotation & activity of Kepler stars. I. (Santos+, 2019)",
        "table3",
        "Stellar properties for stars with successfully recovered rotation period",
        cols,
        values,
    )


def santos2021(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """J/ApJS/255/17 table1 (G and F dwarfs, subgiants), VizieR TSV with flag1..flag5."""
    d = _santos_selection(stars, k_m=False)
    v = _santos_values(d, rng)
    n = len(d)
    subgiant = d["evol_stage"] == "subgiant"
    cols = [
        _VizierColumn("KIC", "I8", "", "Kepler Input Catalog ID", "meta.id;meta.main"),
        _VizierColumn("Kpmag", "F6.3", "mag", "Kepler magnitude", "phot.mag;em.opt"),
        _VizierColumn("Teff", "I4", "K", "Effective temperature", "phys.temperature.effective"),
        _VizierColumn("logg", "F6.3", "[cm-2]", "Log surface gravity", "phys.gravity"),
        _VizierColumn("Mass", "F6.3", "Msun", "Mass", "phys.mass"),
        _VizierColumn("Prot", "F6.2", "d", "Rotation period", "time.period"),
        _VizierColumn("E_Prot", "F5.2", "d", "Uncertainty on Prot", _UCD_ERR),
        _VizierColumn("Sph", "F7.1", "ppm", "Photometric activity proxy", "spect.index"),
        _VizierColumn("E_Sph", "F7.1", "ppm", "Uncertainty on Sph", _UCD_ERR),
        *(_VizierColumn(f"flag{i}", "I1", "", f"? Flag {i}", "meta.code") for i in range(1, 6)),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Kpmag": _fixed(d["kepmag"], 3),
        "Teff": _fixed(v["Teff"], 0),
        "logg": _fixed(d["kic_logg"], 3),
        "Mass": _fixed(v["Mass"], 3),
        "Prot": _fixed(v["Prot"], 2),
        "E_Prot": _fixed(v["E_Prot"], 2),
        "Sph": _fixed(v["Sph"], 1),
        "E_Sph": _fixed(v["E_Sph"], 1),
        "flag1": np.where(d["synchronized"], "1", "").tolist(),
        "flag2": ((d["ruwe"] > 1.4) | (d["cmd_class"] == "Photometric_Binary"))
        .astype(int)
        .astype(str)
        .tolist(),
        "flag3": subgiant.astype(int).astype(str).tolist(),
        "flag4": [""] * n,
        "flag5": np.where(subgiant, "1", "0").tolist(),
    }
    return _vizier_tsv(
        "J/ApJS/255/17",
        "Surface rotation & activity of Kepler stars. II. (Santos+, 2021)",
        "table1",
        "Stellar properties for main-sequence and subgiant stars with rotation period",
        cols,
        values,
    )


def reinhold2023(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """J/A+A/678/A24 (GPS periods): lower amplitudes than the ACF surveys, ~10% scatter."""
    d = _dwarfs_with_rotation(stars)
    d = d[(d["rot_amp_ppm"] > np.maximum(120.0, 0.3 * d["cadence_noise_ppm"])) & ~d["is_eb"]]
    prot = _noisy(rng, d["prot"], 0.1)
    cols = [
        _VizierColumn("KIC", "I8", "", "Kepler Input Catalog identifier", "meta.id;meta.main"),
        _VizierColumn("Teff", "I4", "K", "Effective temperature", "phys.temperature.effective"),
        _VizierColumn("Prot", "F7.3", "d", "GPS rotation period", "time.period"),
        _VizierColumn("e_Prot", "F7.3", "d", "Uncertainty on Prot", _UCD_ERR),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Teff": _fixed(d["kic_teff"], 0),
        "Prot": _fixed(prot, 3),
        "e_Prot": _fixed(0.1 * prot, 3),
    }
    return _vizier_tsv(
        "J/A+A/678/A24",
        "Rotation periods of Kepler stars with GPS (Reinhold+, 2023)",
        "table1",
        "Rotation periods from the gradient power spectrum",
        cols,
        values,
    )


def lightpred2025(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """LightPred predictions for nearly every dwarf/subgiant: close to the truth (8%) with high
    confidence for clear rotators, loose (35%) and less confident otherwise."""
    d = _dwarfs_with_rotation(stars)
    d = d[rng.uniform(0, 1, len(d)) < 0.9].reset_index(drop=True)
    n = len(d)
    clear = d["rotation_clear"].to_numpy()
    scatter = np.where(clear, 0.08, 0.35)
    pred = d["prot"].to_numpy() * np.exp(scatter * rng.standard_normal(n))
    confidence = np.where(clear, rng.uniform(0.85, 0.99, n), rng.uniform(0.4, 0.85, n))
    frame = pd.DataFrame(
        {
            "KID": d["kic"].astype(np.int64),
            "predicted period": _fixed(pred, 4),
            "mean_period_confidence": _fixed(confidence, 4),
            "observational error": _fixed(pred * scatter, 4),
        }
    )
    return _csv(frame)


def kamai_perets2025b(
    stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator
) -> bytes:
    """Fast rotators (P < 7 d) below the Kraft break (hotter stars spin fast anyway): absolute
    Ks from the Berger-like distance and the offset from a single star of the same Teff/[Fe/H]
    (MIST in the paper, our truth single-star Ks here, 0.05 mag model error); over-luminous
    stars are likely synchronised binaries."""
    d = _dwarfs_with_rotation(stars)
    d = d[
        (d["prot"] < 7.0)
        & (d["teff"] < 6200)
        & (d["rot_amp_ppm"] > 150.0)
        & (d["evol_stage"] == "dwarf")
    ]
    n = len(d)
    dist = d["dist_pc"].to_numpy() * (1 + 0.02 * rng.standard_normal(n))
    kmag_abs = d["ks_mag"].to_numpy() + 0.02 * rng.standard_normal(n) - 5 * np.log10(dist) + 5
    single = d["abs_ks_single"].to_numpy() + 0.05 * rng.standard_normal(n)
    diff = kmag_abs - single
    prob = expit(-(diff + 0.25) / 0.06)
    frame = pd.DataFrame(
        {
            "KID": d["kic"].astype(np.int64),
            "Prot": _fixed(_noisy(rng, d["prot"], 0.02), 3),
            "kmag_abs": _fixed(kmag_abs, 4),
            "kmag_diff": _fixed(diff, 4),
            "binary_prob": _fixed(prob, 4),
            "candidate": prob > 0.5,
        }
    )
    return _csv(frame)


# ---------------------------------------------------------------------------------------------
# Ages, kinematics, EBs, CDPP


def lu2024(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """Gyro-kinematic-calibrated ages of dwarfs with a measured period (~25% age errors)."""
    d = _dwarfs_with_rotation(stars)
    d = d[
        (d["evol_stage"] == "dwarf")
        & (d["rot_amp_ppm"] > np.maximum(150.0, 0.4 * d["cadence_noise_ppm"]))
        & ~d["synchronized"]
    ]
    n = len(d)
    age = np.clip(d["age_gyr"].to_numpy() * np.exp(0.25 * rng.standard_normal(n)), 0.1, 14.0)
    cols = [
        _MrtColumn("I8", "---", "KIC", "Kepler Input Catalog identifier"),
        _MrtColumn("F7.3", "d", "Prot", "Rotation period"),
        _MrtColumn("F6.3", "Gyr", "Age", "Gyrochronology age"),
        _MrtColumn("F6.3", "Gyr", "E_Age", "Upper uncertainty on Age"),
        _MrtColumn("F6.3", "Gyr", "e_Age", "Lower uncertainty on Age"),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Prot": _fixed(_noisy(rng, d["prot"], 0.03), 3),
        "Age": _fixed(age, 3),
        "E_Age": _fixed(age * rng.uniform(0.25, 0.35, n), 3),
        "e_Age": _fixed(age * rng.uniform(0.2, 0.3, n), 3),
    }
    return _mrt(
        "In This Day and Age: An Empirical Gyrochronology Relation for Partially and Fully "
        "Convective Single Field Stars",
        "Lu Y.L., Angus R., Foreman-Mackey D., Hattori S.",
        "Gyrochronology ages of Kepler stars",
        "lu2024_ages_mrt.txt",
        cols,
        values,
    )


def bouma2024(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """gyro-interp ages (Myr) for 3800-6200 K dwarfs younger than ~4 Gyr."""
    d = _dwarfs_with_rotation(stars)
    d = d[
        (d["evol_stage"] == "dwarf")
        & d["teff"].between(3800, 6200)
        & (d["age_gyr"] < 4.0)
        & (d["rot_amp_ppm"] > np.maximum(150.0, 0.4 * d["cadence_noise_ppm"]))
        & ~d["synchronized"]
    ]
    n = len(d)
    age_myr = d["age_gyr"].to_numpy() * 1000.0 * np.exp(0.2 * rng.standard_normal(n))
    keep = age_myr < 4000.0
    d, age_myr, n = d[keep], age_myr[keep], int(keep.sum())
    cols = [
        _MrtColumn("I8", "---", "KIC", "Kepler Input Catalog identifier"),
        _MrtColumn("I4", "K", "Teff", "Effective temperature"),
        _MrtColumn("F7.3", "d", "Prot", "Rotation period"),
        _MrtColumn("F6.1", "Myr", "tGyro", "Gyrochronal age"),
        _MrtColumn("F6.1", "Myr", "E_tGyro", "Upper uncertainty on tGyro"),
        _MrtColumn("F6.1", "Myr", "e_tGyro", "Lower uncertainty on tGyro"),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Teff": _fixed(d["teff"].to_numpy() + 80.0 * rng.standard_normal(n), 0),
        "Prot": _fixed(_noisy(rng, d["prot"], 0.02), 3),
        "tGyro": _fixed(age_myr, 1),
        "E_tGyro": _fixed(age_myr * rng.uniform(0.2, 0.3, n), 1),
        "e_tGyro": _fixed(age_myr * rng.uniform(0.15, 0.25, n), 1),
    }
    return _mrt(
        "Ages of Kepler stars younger than 4 Gyr from gyrochronology and lithium",
        "Bouma L.G., Hillenbrand L.A., Howard A.W., Isaacson H., Masuda K., Palumbo E.K.",
        "Gyrochronal ages of Kepler stars",
        "bouma2024_ages_mrt.txt",
        cols,
        values,
    )


def chen2021(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """J/AJ/162/100: U, V, W (km/s, relative to the LSR) of Kepler stars with a LAMOST RV;
    errors grow with distance (parallax and proper-motion errors)."""
    k = _kepler(stars)
    k = k[k["has_spectrum"]].reset_index(drop=True)
    n = len(k)
    err = 1.0 + 3.0 * k["dist_pc"].to_numpy() / 1000.0
    cols = [
        _VizierColumn("KIC", "I8", "", "Kepler Input Catalog identifier", "meta.id;meta.main"),
        *(
            _VizierColumn(name, "F8.2", "km/s", desc, ucd)
            for name, desc, ucd in (
                ("U", "Galactic velocity towards the Galactic centre", "phys.veloc"),
                ("e_U", "Uncertainty on U", _UCD_ERR),
                ("V", "Galactic velocity in the direction of rotation", "phys.veloc"),
                ("e_V", "Uncertainty on V", _UCD_ERR),
                ("W", "Galactic velocity towards the North Galactic Pole", "phys.veloc"),
                ("e_W", "Uncertainty on W", _UCD_ERR),
            )
        ),
    ]
    values: dict[str, list[str]] = {"KIC": k["kic"].astype(np.int64).astype(str).tolist()}
    for axis, solar in zip("UVW", SOLAR_MOTION, strict=True):
        e = err * rng.uniform(0.8, 1.2, n)
        lsr = k[f"{axis.lower()}_kms"].to_numpy() + solar
        values[axis] = _fixed(lsr + e * rng.standard_normal(n), 2)
        values[f"e_{axis}"] = _fixed(e, 2)
    return _vizier_tsv(
        "J/AJ/162/100",
        "Planets Across Space and Time (PAST). II. Kepler stars kinematics (Chen+, 2021)",
        "table1",
        "Kinematic properties of LAMOST-Gaia-Kepler stars",
        cols,
        values,
    )


def kepler_eb(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """kepler_eb.txt (Villanova web CSV): blank first line, trailing comma on every line."""
    k = _kepler(stars)
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
    k = _kepler(stars)
    white = k["cadence_noise_ppm"] / np.sqrt(6.0)
    spots = k["rot_amp_ppm"] * np.pi * 0.125 / k["prot"]
    cdpp = np.sqrt(white**2 + (k["gran_ppm"] / 2.0) ** 2 + spots**2)
    frame = pd.DataFrame(
        {
            "kepid": k["kic"].astype(np.int64),
            "rrmscdpp03p0": _short(_noisy(rng, cdpp, 0.05), 3),
        }
    )
    return _csv(frame)


BUILDERS: dict[str, Builder] = {
    "lamost_lrs_stellar": lamost_stellar,
    "kepler_gaia": kepler_gaia,
    "berger2020_input": berger2020_input,
    "berger2020": berger2020,
    "godoy_rivera2025": godoy_rivera2025,
    "mcquillan2014": mcquillan2014,
    "santos2019": santos2019,
    "santos2021": santos2021,
    "reinhold2023": reinhold2023,
    "lightpred2025": lightpred2025,
    "kamai_perets2025b": kamai_perets2025b,
    "lu2024": lu2024,
    "bouma2024": bouma2024,
    "chen2021": chen2021,
    "kepler_eb": kepler_eb,
    "kepler_cdpp": kepler_cdpp,
}


def write_catalogs(
    root: Path, stars: pd.DataFrame, spectra: pd.DataFrame, seed: int
) -> dict[str, str]:
    """Write every catalog at its mirror path under `root`; returns name -> relative path.

    `spectra` is the visits table with the measured band SNRs (snru..snrz) of each file.
    """
    out = {}
    for name, build in BUILDERS.items():
        # Berger tables 1 and 2 describe the same stars: they share one stream.
        key = "berger2020" if name.startswith("berger2020") else name
        data = build(stars, spectra, rng_for(seed, "catalog", key))
        write_bytes_atomic(root / CATALOG_PATHS[name], data)
        out[name] = CATALOG_PATHS[name]
    return out
