"""Rotation-period and gyrochronology-age catalogs of the synthetic sky (docs/catalogs.md).

- rotation: McQuillan 2014 (clear, large-amplitude dwarfs below 6500 K), Santos 2019 (K/M) and
  2021 (G/F, subgiants) with a lower detection threshold, Reinhold 2023 (GPS, broad, ~10%
  scatter), LightPred (nearly all dwarfs/subgiants, with a confidence);
- Kamai & Perets 2025b: fast rotators (P < 7 d) with their K-band excess over a single star;
- ages: Lu 2024 for dwarfs with a period, Bouma 2024 only below 4 Gyr (gyro-interp range).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from desa.sky.formats import UCD_ERR, MrtColumn, VizierColumn, csv_bytes, fixed, mrt, vizier_tsv
from desa.sky.stellar_catalogs import kepler_targets, noisy


def _dwarfs_with_rotation(stars: pd.DataFrame) -> pd.DataFrame:
    """Kepler main-sequence and subgiant stars whose period is in catalog reach (< 70 d)."""
    k = kepler_targets(stars)
    return k[(k["evol_stage"] != "giant") & (k["prot"] < 70.0)].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Rotation periods


def mcquillan2014(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """Table_1_Periodic.txt: clear rotators with Rper > 300 ppm below 6500 K (EBs and giants
    removed, as in McQuillan et al. 2014); Teff/logg are the KIC values."""
    d = _dwarfs_with_rotation(stars)
    d = d[d["rotation_clear"] & (d["rot_amp_ppm"] > 300) & (d["teff"] < 6500)]
    n = len(d)
    prot = noisy(rng, d["prot"], 0.01)
    snr = d["rot_amp_ppm"].to_numpy() / d["cadence_noise_ppm"].to_numpy()
    frame = pd.DataFrame(
        {
            "kepid": d["kic"].astype(np.int64),
            "Teff": d["kic_teff"].astype(np.int64),
            "logg": fixed(d["kic_logg"], 2),
            "Mass": fixed(noisy(rng, d["mass"], 0.05), 4),
            "Prot": fixed(prot, 3),
            "Prot_err": fixed(prot * rng.uniform(0.002, 0.02, n), 3),
            "Rper": fixed(noisy(rng, d["rot_amp_ppm"], 0.1), 2),
            "LPH": fixed(np.clip(0.3 + 0.3 * np.log10(1 + snr), 0.3, 2.0), 3),
            "w": fixed(np.clip(0.25 + 0.15 * np.log10(1 + snr), 0.25, 0.95), 4),
            "DC": (rng.uniform(0, 1, n) < 0.2).astype(int),
            "Flag": ["---"] * n,
        }
    )
    return csv_bytes(frame)


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
    prot = noisy(rng, d["prot"], 0.03)
    sph = noisy(rng, d["rot_amp_ppm"] / (2 * np.sqrt(2)), 0.1)  # rms of a sinusoid: A/sqrt(2)
    return {
        "Prot": prot,
        "E_Prot": np.abs(prot * rng.uniform(0.03, 0.1, n)),
        "Sph": sph,
        "E_Sph": np.abs(sph * rng.uniform(0.02, 0.08, n)),
        "Teff": d["kic_teff"].to_numpy() + 100.0,
        "Mass": noisy(rng, d["mass"], 0.06),
    }


def santos2019(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """J/ApJS/244/21 table3 (M and K dwarfs with a period), VizieR TSV, real column layout."""
    d = _santos_selection(stars, k_m=True)
    v = _santos_values(d, rng)
    n = len(d)
    quarters = [f"{q.split(',')[0]}-{q.split(',')[-1]}" for q in d["quarters"]]
    teff_err = np.round(rng.uniform(70, 160, n))
    binary = (d["ruwe"] > 1.4) | (d["cmd_class"] == "Photometric_Binary")
    cols = [
        VizierColumn("KIC", "I8", "", "Kepler Input Catalog ID", "meta.id;meta.main"),
        VizierColumn("Kpmag", "F6.3", "mag", "? Kepler magnitude", "phot.mag;em.opt"),
        VizierColumn("Q", "A5", "", "First and last observed Kepler Quarters", "meta.note"),
        VizierColumn("Teff", "I4", "K", "Effective temperature", "phys.temperature.effective"),
        VizierColumn("E_Teff", "I3", "K", "Upper uncertainty on Teff", UCD_ERR),
        VizierColumn("e_Teff", "I3", "K", "Lower uncertainty on Teff", UCD_ERR),
        VizierColumn("logg", "F6.3", "[cm-2]", "Log surface gravity", "phys.gravity"),
        VizierColumn("E_logg", "F6.3", "[cm-2]", "Upper uncertainty on logg", UCD_ERR),
        VizierColumn("e_logg", "F6.3", "[cm-2]", "Lower uncertainty on logg", UCD_ERR),
        VizierColumn("Mass", "F6.3", "Msun", "Mass", "phys.mass"),
        VizierColumn("E_Mass", "F6.3", "Msun", "Upper uncertainty on Mass", UCD_ERR),
        VizierColumn("e_Mass", "F6.3", "Msun", "Lower uncertainty on Mass", UCD_ERR),
        VizierColumn("Prot", "F6.2", "d", "Rotation period", "time.period"),
        VizierColumn("E_Prot", "F5.2", "d", "? Uncertainty on Prot", UCD_ERR),
        VizierColumn("Sph", "F7.1", "ppm", "Photometric activity proxy", "spect.index"),
        VizierColumn("E_Sph", "F7.1", "ppm", "Uncertainty on Sph", UCD_ERR),
        VizierColumn("Fl1", "I1", "", "? CP/CB candidate flag", "meta.code"),
        VizierColumn("DMK", "F6.3", "mag", "? Luminosity excess correction", "phot.color.excess"),
        VizierColumn("Fl2", "I1", "", "? GAIA binary flag", "meta.code"),
        VizierColumn("Fl3", "I1", "", "? GAIA subgiant flag", "meta.code"),
        VizierColumn("Fl4", "I1", "", "? KOI flag", "meta.code"),
        VizierColumn("Fl5", "I1", "", "? FliPer Class flag", "meta.code"),
        VizierColumn("_RA", "F9.5", "deg", "Position from KIC catalog (V/133)", "pos.eq.ra"),
        VizierColumn("_DE", "F9.5", "deg", "Position from KIC catalog (V/133)", "pos.eq.dec"),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Kpmag": fixed(d["kepmag"], 3),
        "Q": quarters,
        "Teff": fixed(v["Teff"], 0),
        "E_Teff": fixed(teff_err, 0),
        "e_Teff": fixed(teff_err * rng.uniform(0.9, 1.1, n), 0),
        "logg": fixed(d["kic_logg"], 3),
        "E_logg": fixed(rng.uniform(0.01, 0.1, n), 3),
        "e_logg": fixed(rng.uniform(0.01, 0.1, n), 3),
        "Mass": fixed(v["Mass"], 3),
        "E_Mass": fixed(rng.uniform(0.02, 0.1, n), 3),
        "e_Mass": fixed(rng.uniform(0.02, 0.1, n), 3),
        "Prot": fixed(v["Prot"], 2),
        "E_Prot": fixed(v["E_Prot"], 2),
        "Sph": fixed(v["Sph"], 1),
        "E_Sph": fixed(v["E_Sph"], 1),
        "Fl1": np.where(d["synchronized"], "1", "").tolist(),
        "DMK": fixed(np.where(binary, d["delta_mag"], np.nan), 3),
        "Fl2": binary.astype(int).astype(str).tolist(),
        "Fl3": ["0"] * n,
        "Fl4": [""] * n,
        "Fl5": ["0"] * n,
        "_RA": fixed(d["ra"], 5),
        "_DE": [f"{x:+09.5f}" for x in d["dec"]],
    }
    return vizier_tsv(
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
        VizierColumn("KIC", "I8", "", "Kepler Input Catalog ID", "meta.id;meta.main"),
        VizierColumn("Kpmag", "F6.3", "mag", "Kepler magnitude", "phot.mag;em.opt"),
        VizierColumn("Teff", "I4", "K", "Effective temperature", "phys.temperature.effective"),
        VizierColumn("logg", "F6.3", "[cm-2]", "Log surface gravity", "phys.gravity"),
        VizierColumn("Mass", "F6.3", "Msun", "Mass", "phys.mass"),
        VizierColumn("Prot", "F6.2", "d", "Rotation period", "time.period"),
        VizierColumn("E_Prot", "F5.2", "d", "Uncertainty on Prot", UCD_ERR),
        VizierColumn("Sph", "F7.1", "ppm", "Photometric activity proxy", "spect.index"),
        VizierColumn("E_Sph", "F7.1", "ppm", "Uncertainty on Sph", UCD_ERR),
        *(VizierColumn(f"flag{i}", "I1", "", f"? Flag {i}", "meta.code") for i in range(1, 6)),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Kpmag": fixed(d["kepmag"], 3),
        "Teff": fixed(v["Teff"], 0),
        "logg": fixed(d["kic_logg"], 3),
        "Mass": fixed(v["Mass"], 3),
        "Prot": fixed(v["Prot"], 2),
        "E_Prot": fixed(v["E_Prot"], 2),
        "Sph": fixed(v["Sph"], 1),
        "E_Sph": fixed(v["E_Sph"], 1),
        "flag1": np.where(d["synchronized"], "1", "").tolist(),
        "flag2": ((d["ruwe"] > 1.4) | (d["cmd_class"] == "Photometric_Binary"))
        .astype(int)
        .astype(str)
        .tolist(),
        "flag3": subgiant.astype(int).astype(str).tolist(),
        "flag4": [""] * n,
        "flag5": np.where(subgiant, "1", "0").tolist(),
    }
    return vizier_tsv(
        "J/ApJS/255/17",
        "Surface rotation & activity of Kepler stars. II. (Santos+, 2021)",
        "table1",
        "Stellar properties for main-sequence and subgiant stars with rotation period",
        cols,
        values,
    )


def reinhold2023(stars: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """J/A+A/678/A24 table1: GPS periods reach lower amplitudes than the ACF surveys (~10%
    scatter); the ACF finds the clear rotators (3%); the adopted ProtFin is the ACF period where
    there is one, the GPS period otherwise. The literature columns (McQuillan 2014, Santos
    2019/2021) are left blank here."""
    d = _dwarfs_with_rotation(stars)
    d = d[(d["rot_amp_ppm"] > np.maximum(120.0, 0.3 * d["cadence_noise_ppm"])) & ~d["is_eb"]]
    gps = noisy(rng, d["prot"], 0.1)
    acf = np.where(d["rotation_clear"], noisy(rng, d["prot"], 0.03), np.nan)
    final = np.where(np.isfinite(acf), acf, gps)
    blank = [""] * len(d)
    cols = [
        VizierColumn("KIC", "I8", "", "Kepler Input Catalog identifier", "meta.id;meta.main"),
        VizierColumn("Teff", "I4", "K", "Effective temperature", "phys.temperature.effective"),
        VizierColumn("ProtACF", "F7.3", "d", "ACF rotation period", "time.period"),
        VizierColumn("ProtGPS", "F7.3", "d", "GPS rotation period", "time.period"),
        VizierColumn("ProtFin", "F7.3", "d", "Final rotation period", "time.period"),
        VizierColumn("ProtMcQ14", "F7.3", "d", "Period of McQuillan et al. 2014", "time.period"),
        VizierColumn("ProtS21", "F7.3", "d", "Period of Santos et al. 2019/2021", "time.period"),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Teff": fixed(d["kic_teff"], 0),
        "ProtACF": fixed(acf, 3),
        "ProtGPS": fixed(gps, 3),
        "ProtFin": fixed(final, 3),
        "ProtMcQ14": blank,
        "ProtS21": blank,
    }
    return vizier_tsv(
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
            "predicted period": fixed(pred, 4),
            "mean_period_confidence": fixed(confidence, 4),
            "observational error": fixed(pred * scatter, 4),
        }
    )
    return csv_bytes(frame)


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
            "Prot": fixed(noisy(rng, d["prot"], 0.02), 3),
            "kmag_abs": fixed(kmag_abs, 4),
            "kmag_diff": fixed(diff, 4),
            "binary_prob": fixed(prob, 4),
            "candidate": prob > 0.5,
        }
    )
    return csv_bytes(frame)


# ---------------------------------------------------------------------------------------------
# Gyrochronology ages


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
        MrtColumn("I8", "---", "KIC", "Kepler Input Catalog identifier"),
        MrtColumn("F7.3", "d", "Prot", "Rotation period"),
        MrtColumn("F6.3", "Gyr", "Age", "Gyrochronology age"),
        MrtColumn("F6.3", "Gyr", "E_Age", "Upper uncertainty on Age"),
        MrtColumn("F6.3", "Gyr", "e_Age", "Lower uncertainty on Age"),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Prot": fixed(noisy(rng, d["prot"], 0.03), 3),
        "Age": fixed(age, 3),
        "E_Age": fixed(age * rng.uniform(0.25, 0.35, n), 3),
        "e_Age": fixed(age * rng.uniform(0.2, 0.3, n), 3),
    }
    return mrt(
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
        MrtColumn("I8", "---", "KIC", "Kepler Input Catalog identifier"),
        MrtColumn("I4", "K", "Teff", "Effective temperature"),
        MrtColumn("F7.3", "d", "Prot", "Rotation period"),
        MrtColumn("F6.1", "Myr", "tGyro", "Gyrochronal age"),
        MrtColumn("F6.1", "Myr", "E_tGyro", "Upper uncertainty on tGyro"),
        MrtColumn("F6.1", "Myr", "e_tGyro", "Lower uncertainty on tGyro"),
    ]
    values = {
        "KIC": d["kic"].astype(np.int64).astype(str).tolist(),
        "Teff": fixed(d["teff"].to_numpy() + 80.0 * rng.standard_normal(n), 0),
        "Prot": fixed(noisy(rng, d["prot"], 0.02), 3),
        "tGyro": fixed(age_myr, 1),
        "E_tGyro": fixed(age_myr * rng.uniform(0.2, 0.3, n), 1),
        "e_tGyro": fixed(age_myr * rng.uniform(0.15, 0.25, n), 1),
    }
    return mrt(
        "Ages of Kepler stars younger than 4 Gyr from gyrochronology and lithium",
        "Bouma L.G., Hillenbrand L.A., Howard A.W., Isaacson H., Masuda K., Palumbo E.K.",
        "Gyrochronal ages of Kepler stars",
        "apjad855ft1_mrt.txt",
        cols,
        values,
    )
