"""Catalogs of the synthetic sky: published formats and column names, values, coverage.

Files are parsed here with plain pandas/astropy (not the pipeline's readers), so a format slip
in the generator cannot hide behind a forgiving reader.
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import ascii as astropy_ascii
from astropy.table import Table

from desa.sky.catalogs import CATALOG_PATHS, write_catalogs
from desa.sky.lamost_catalog import LAMOST_STELLAR_COLUMNS
from desa.sky.population import ARCHETYPES, SkyConfig, draw_stars, draw_visits
from desa.sky.stellar_catalogs import SOLAR_MOTION
from tests.support.paths import REPO_ROOT

SEED = 5

# Published columns each file must carry (docs/catalogs.md, "published columns used").
PUBLISHED = {
    "lamost_lrs_stellar": set(LAMOST_STELLAR_COLUMNS),
    "kepler_gaia": {
        "kepid", "ra_kic", "dec_kic", "kepmag", "teff", "logg", "source_id", "ra", "dec",
        "parallax", "pmra", "pmdec", "ruwe", "phot_g_mean_mag", "bp_rp", "kepler_gaia_ang_dist",
    },
    "berger2020_input": {
        "KIC", "gmag", "gmag_err", "kmag", "kmag_err", "parallax", "parallax_err", "feh",
        "feh_err", "RUWE", "num_gaia_companions", "Kmag_final_prov", "evstate",
    },
    "berger2020": {"KIC"} | {
        f"iso_{p}{s}"
        for p in ("mass", "teff", "logg", "feh", "rad", "rho", "lum", "age", "dis")
        for s in ("", "_err1", "_err2")
    },
    "godoy_rivera2025": {
        "KIC", "source_id", "BPmRP_0", "M_G_0", "flag_CMD", "RUWE", "flag_Binary_Union",
        "flag_RUWE", "flag_RVvariable", "flag_NSS", "NSS_Binary_Type", "flag_EB_Kepler",
        "flag_EB_Gaia", "flag_SB9",
    },
    "mcquillan2014": {
        "kepid", "Teff", "logg", "Mass", "Prot", "Prot_err", "Rper", "LPH", "w", "DC", "Flag",
    },
    "santos2019": {
        "KIC", "Kpmag", "Teff", "logg", "Mass", "Prot", "E_Prot", "Sph", "E_Sph", "Fl1", "Fl2",
        "Fl3", "Fl4", "Fl5", "DMK",
    },
    "santos2021": {"KIC", "Teff", "logg", "Mass", "Prot", "E_Prot", "Sph", "E_Sph"}
    | {f"flag{i}" for i in range(1, 6)},
    "reinhold2023": {"KIC", "ProtACF", "ProtGPS", "ProtFin", "ProtMcQ14", "ProtS21"},
    "lightpred2025": {"KID", "predicted period", "observational error", "mean_period_confidence"},
    "kamai_perets2025b": {"KID", "Prot", "kmag_abs", "kmag_diff", "binary_prob", "candidate"},
    "lu2024": {"KIC", "Prot", "Age", "E_Age", "e_Age"},
    "bouma2024": {"KIC", "Teff", "Prot", "tGyro", "E_tGyro", "e_tGyro"},
    "chen2021": {"KIC", "U", "V", "W", "e_U", "e_V", "e_W"},
    "kepler_eb": {"KID", "period", "bjd0", "morph", "kmag", "Teff"},
    "kepler_cdpp": {"kepid", "rrmscdpp03p0"},
    "apogee_dr17": {
        "APOGEE_ID", "TELESCOPE", "GAIAEDR3_SOURCE_ID", "RA", "DEC", "SNR", "TEFF", "TEFF_ERR",
        "LOGG", "LOGG_ERR", "FE_H", "FE_H_ERR", "ASPCAPFLAG", "STARFLAG", "EXTRATARG",
    },
}  # fmt: skip


def _read_vizier_tsv(path: Path) -> pd.DataFrame:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    header, units, dashes, *rows = lines
    assert set(dashes.replace("\t", "")) == {"-"} and len(units.split("\t")) == len(
        header.split("\t")
    )
    return pd.read_csv(io.StringIO("\n".join([header, *rows])), sep="\t", skipinitialspace=True)


def _read_ampersand(path: Path) -> pd.DataFrame:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert all(line.endswith("\\\\") for line in lines)
    return pd.read_csv(io.StringIO("\n".join(line[:-2] for line in lines)), sep="&")


def read(path: Path, name: str) -> pd.DataFrame:
    """Parse a catalog file in its published format with pandas / astropy."""
    if path.suffix == ".fits":
        return Table.read(path).to_pandas()
    if name in ("lu2024", "bouma2024"):
        return astropy_ascii.read(path, format="cds").to_pandas()
    if path.suffix == ".tsv":
        return _read_vizier_tsv(path)
    if name.startswith("berger2020"):
        return _read_ampersand(path)
    return pd.read_csv(path, dtype={"gaia_source_id": str})


def _by_kic(stars: pd.DataFrame) -> pd.DataFrame:
    kepler = stars[stars["is_kepler_target"]]
    return kepler.astype({"kic": np.int64}).set_index("kic")


@pytest.fixture(scope="module")
def sky(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    stars = draw_stars(SkyConfig(n_stars=300), SEED)
    visits = draw_visits(stars, SEED)
    # Band SNRs as the spectrum files would report them (cool stars are faint in u).
    snr = visits["snr_g_target"].round(2)
    spectra = visits.assign(snru=(0.4 * snr).round(2), snrg=snr, snrr=snr, snri=snr, snrz=snr)
    root = tmp_path_factory.mktemp("catalogs")
    written = write_catalogs(root, stars, spectra, SEED)
    assert written == CATALOG_PATHS
    return root, stars, spectra


@pytest.fixture(scope="module")
def tables(sky: tuple[Path, pd.DataFrame, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    root = sky[0]
    return {name: read(root / path, name) for name, path in CATALOG_PATHS.items()}


def test_mirror_paths_are_those_of_the_docs() -> None:
    rows = re.findall(
        r"^\| `(\w+)` \|[^|]*\| (`[^`]+`|—) \|", (REPO_ROOT / "docs/catalogs.md").read_text(), re.M
    )
    documented = {name: path.strip("`") for name, path in rows if path != "—"}
    assert documented == CATALOG_PATHS


@pytest.mark.parametrize("name", sorted(CATALOG_PATHS))
def test_published_columns_and_rows(tables: dict[str, pd.DataFrame], name: str) -> None:
    frame = tables[name]
    assert PUBLISHED[name] <= set(frame.columns), PUBLISHED[name] - set(frame.columns)
    assert len(frame) > 0
    key = next(c for c in ("obsid", "kepid", "KIC", "KID", "APOGEE_ID") if c in frame.columns)
    # Kepler-Gaia and APOGEE repeat a star by design (several Gaia rows; telescopes).
    if name not in ("kepler_gaia", "lamost_lrs_stellar", "apogee_dr17"):
        assert frame[key].is_unique


def test_formats_match_the_real_files(sky: tuple[Path, pd.DataFrame, pd.DataFrame]) -> None:
    root = sky[0]
    lamost = root / CATALOG_PATHS["lamost_lrs_stellar"]
    assert lamost.read_bytes()[:2] == b"\x1f\x8b"
    header = gzip.decompress(lamost.read_bytes()).decode().splitlines()[0]
    assert tuple(header.split(",")) == LAMOST_STELLAR_COLUMNS  # 47 columns, published order
    eb_lines = (root / CATALOG_PATHS["kepler_eb"]).read_text().splitlines()
    assert eb_lines[0] == "" and all(line.endswith(",") for line in eb_lines[1:])
    assert (root / CATALOG_PATHS["santos2019"]).read_text().startswith("#\n#   VizieR")
    assert "Byte-by-byte Description of file" in (root / CATALOG_PATHS["lu2024"]).read_text()


def test_lamost_catalog_one_row_per_spectrum(
    sky: tuple[Path, pd.DataFrame, pd.DataFrame], tables: dict[str, pd.DataFrame]
) -> None:
    _, stars, spectra = sky
    lamost = tables["lamost_lrs_stellar"].set_index("obsid")
    assert sorted(lamost.index) == sorted(spectra["obsid"])
    truth = spectra.set_index("obsid").loc[lamost.index]
    for column in ("lmjd", "mjd", "planid", "spid", "fiberid", "obsdate", "tsource", "tcomment"):
        assert (lamost[column].to_numpy() == truth[column].to_numpy()).all(), column
    for column in ("ra", "dec", "z", "snrg"):
        assert np.allclose(lamost[column], truth[column], rtol=0, atol=1e-7), column
    # Gaia ids are digit strings (never floats) equal to the truth, or the -9999 sentinel.
    gaia = lamost["gaia_source_id"]
    known = gaia != "-9999"
    assert gaia[known].str.fullmatch(r"\d{18,19}").all() and (~known).sum() >= 2
    assert (gaia[known].astype(np.int64) == truth.loc[known, "gaia_source_id"]).all()
    # LASP parameters: close to the truth where the fit worked, -9999 where it failed.
    star = stars.set_index("star_id").loc[truth["star_id"]]
    ok = lamost["teff"] != -9999
    assert (~ok).any() and ok.mean() > 0.85
    pull = (lamost.loc[ok, "teff"] - star.loc[ok.to_numpy(), "teff"].to_numpy()) / lamost.loc[
        ok, "teff_err"
    ]
    assert np.abs(pull).median() < 1.5
    assert (lamost.loc[truth["snrg"] < 5, "teff"] == -9999).all()
    # Repeat visits share the star's uid.
    assert (lamost.groupby("uid").size() > 1).any()


def test_kepler_gaia_and_godoy_rivera_cover_every_kepler_star(
    sky: tuple[Path, pd.DataFrame, pd.DataFrame], tables: dict[str, pd.DataFrame]
) -> None:
    stars = sky[1]
    kepler = stars[stars["is_kepler_target"]].astype({"kic": np.int64}).set_index("kic")
    kg = tables["kepler_gaia"]
    assert set(kg["kepid"]) == set(kepler.index)
    assert kg["source_id"].dtype == np.int64 and len(kg) > kg["kepid"].nunique()  # 2nd sources
    own = kg.sort_values("kepler_gaia_ang_dist").drop_duplicates("kepid").set_index("kepid")
    assert (own["source_id"].to_numpy() == kepler.loc[own.index, "gaia_source_id"].to_numpy()).all()
    assert (kg["kepler_gaia_ang_dist"] < 1.0).all()

    gr = tables["godoy_rivera2025"].set_index("KIC")
    assert set(gr.index) == set(kepler.index)
    truth = kepler.loc[gr.index]
    assert (gr["flag_CMD"] == truth["cmd_class"]).all()
    assert (
        gr.loc[truth["is_eb"], "flag_EB_Kepler"].all()
        and gr.loc[truth["is_eb"], "flag_Binary_Union"].all()
    )
    photometric = truth["cmd_class"] == "Photometric_Binary"
    assert gr.loc[photometric, "flag_Binary_Union"].all()
    assert (gr["flag_RUWE"] == (gr["RUWE"] > 1.4)).all()
    assert not gr.loc[~truth["is_binary"], "flag_Binary_Union"].any()
    assert np.allclose(gr["BPmRP_0"], truth["bp_rp0"], atol=0.05)


def test_rotation_catalogs(
    sky: tuple[Path, pd.DataFrame, pd.DataFrame], tables: dict[str, pd.DataFrame]
) -> None:
    truth = _by_kic(sky[1])
    mcq = tables["mcquillan2014"].set_index("kepid")
    assert np.allclose(mcq["Prot"], truth.loc[mcq.index, "prot"], rtol=0.05)
    assert (
        truth.loc[mcq.index, "rotation_clear"].all() and (truth.loc[mcq.index, "teff"] < 6500).all()
    )
    s19, s21 = tables["santos2019"].set_index("KIC"), tables["santos2021"].set_index("KIC")
    assert (truth.loc[s19.index, "teff"] < 5200).all() and (
        truth.loc[s21.index, "teff"] >= 5200
    ).all()
    assert np.allclose(s19["Prot"], truth.loc[s19.index, "prot"], rtol=0.15)
    # Santos recovers more (lower-amplitude) rotators than McQuillan.
    assert len(s19) + len(s21) > len(mcq)
    # LightPred covers more stars; where it is confident it is close to the truth.
    lightpred = tables["lightpred2025"].set_index("KID")
    assert len(lightpred) > len(mcq)
    sure = lightpred[lightpred["mean_period_confidence"] > 0.85]
    ratio = sure["predicted period"] / truth.loc[sure.index, "prot"]
    assert len(sure) > 20 and np.abs(np.log(ratio)).median() < 0.1
    fast = tables["kamai_perets2025b"].set_index("KID")
    assert (truth.loc[fast.index, "prot"] < 7.0).all()
    over = truth.loc[fast.index, "delta_mag"] < -0.4
    assert fast.loc[over, "candidate"].all()
    assert not fast.loc[~truth.loc[fast.index, "is_binary"], "candidate"].any()


def test_age_kinematics_and_eb_catalogs(
    sky: tuple[Path, pd.DataFrame, pd.DataFrame], tables: dict[str, pd.DataFrame]
) -> None:
    stars = sky[1]
    truth = _by_kic(stars)
    bouma = tables["bouma2024"].set_index("KIC")
    assert (bouma["tGyro"] < 4000).all() and (truth.loc[bouma.index, "age_gyr"] < 4.0).all()
    lu = tables["lu2024"].set_index("KIC")
    assert (truth.loc[lu.index, "evol_stage"] == "dwarf").all()
    ratio = lu["Age"] / truth.loc[lu.index, "age_gyr"]
    assert 0.8 < np.median(ratio) < 1.25

    chen = tables["chen2021"].set_index("KIC")
    kin = truth.loc[chen.index]
    assert kin["has_spectrum"].all()
    for axis, solar in zip("UVW", SOLAR_MOTION, strict=True):
        pull = (chen[axis] - kin[f"{axis.lower()}_kms"] - solar) / chen[f"e_{axis}"]
        assert np.abs(pull).max() < 5.0

    eb = tables["kepler_eb"].set_index("KID")
    assert set(eb.index) == set(stars.loc[stars["is_eb"] & stars["is_kepler_target"], "kic"])
    assert np.allclose(eb["period"], truth.loc[eb.index, "eb_period"], rtol=1e-4)

    berger = tables["berger2020"].set_index("KIC")
    assert set(berger.index) == set(tables["berger2020_input"]["KIC"])
    assert (berger["iso_rad_err2"] < 0).all() and (berger["iso_rad_err1"] > 0).all()
    assert np.allclose(berger["iso_dis"], truth.loc[berger.index, "dist_pc"], rtol=0.1)
    cdpp = tables["kepler_cdpp"]
    assert set(cdpp["kepid"]) == set(truth.index)


def test_same_seed_same_bytes(sky: tuple[Path, pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    root, stars, spectra = sky
    write_catalogs(tmp_path, stars, spectra, SEED)
    for path in CATALOG_PATHS.values():
        assert (tmp_path / path).read_bytes() == (root / path).read_bytes(), path
    write_catalogs(tmp_path, stars, spectra, SEED + 1)
    changed = [
        p for p in CATALOG_PATHS.values() if (tmp_path / p).read_bytes() != (root / p).read_bytes()
    ]
    assert len(changed) >= 14  # every table with random errors differs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_tiny_sky_still_fills_every_catalog(tmp_path: Path, seed: int) -> None:
    """The archetypes (an EB, a K and a G dwarf, a subgiant, a giant) keep every table
    non-empty: real catalogs are never empty and readers refuse empty ones."""
    stars = draw_stars(SkyConfig(n_stars=10), seed)
    assert set(stars["archetype"]) - {""} == set(ARCHETYPES)
    visits = draw_visits(stars, seed)
    snr = visits["snr_g_target"].round(2)
    spectra = visits.assign(snru=snr, snrg=snr, snrr=snr, snri=snr, snrz=snr)
    write_catalogs(tmp_path, stars, spectra, seed)
    for name, path in CATALOG_PATHS.items():
        assert len(read(tmp_path / path, name)) > 0, name
