"""The whole demo mirror: contract paths and real names, both LAMOST layouts, files readable by
lightkurve and our readers with the values the generator wrote, catalogs agreeing with the
files, and determinism."""

from __future__ import annotations

import re
from pathlib import Path

import lightkurve as lk
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from desa.sky.catalogs import CATALOG_PATHS
from desa.sky.mirror import SkySummary, build_sky
from desa.surveys.kepler import read_quarter
from desa.surveys.lamost import C_KMS, read_spectrum

N_STARS = 40
SPEC_PATH = re.compile(
    r"^lamost/dr8/v2\.0/fits/(\d{8})/([A-Z0-9]+)/spec-(\d{5})-\2_sp(\d{2})-(\d{3})\.fits\.gz$"
)
LLC_PATH = re.compile(r"^kepler/lightcurves/(\d{4})/(\d{9})/kplr\2-(\d{13})_llc\.fits$")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SkySummary]:
    root = tmp_path_factory.mktemp("mirror")
    return root, build_sky(root, n_stars=N_STARS, seed=7, max_quarters=2)


@pytest.fixture(scope="module")
def truth(built: tuple[Path, SkySummary]) -> dict[str, pd.DataFrame]:
    root = built[0]
    return {
        name: pd.read_parquet(root / "truth" / f"{name}.parquet")
        for name in ("stars", "spectra", "lightcurves")
    }


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_summary_matches_truth(
    built: tuple[Path, SkySummary], truth: dict[str, pd.DataFrame]
) -> None:
    _, summary = built
    stars, spectra = truth["stars"], truth["spectra"]
    assert summary.n_stars == len(stars) == N_STARS
    assert summary.n_spectra == len(spectra) == stars["n_spectra"].sum()
    assert summary.n_lightcurve_files == len(truth["lightcurves"])
    assert summary.n_spectra_image + summary.n_spectra_coadd == summary.n_spectra
    assert summary.n_kepler_only > 0 and summary.n_outside_field > 0 and summary.n_repeat_stars > 0
    assert summary.catalogs == CATALOG_PATHS and summary.n_catalogs == len(CATALOG_PATHS)


def test_truth_columns(truth: dict[str, pd.DataFrame]) -> None:
    stars = truth["stars"]
    expected = {
        "star_id", "kic", "gaia_source_id", "ra", "dec", "teff", "logg", "feh", "mass", "radius",
        "lum", "age_gyr", "dist_pc", "kepmag", "is_binary", "rv_variable", "ruwe", "is_eb",
        "eb_period", "prot", "rot_amp_ppm", "cmd_class", "in_kepler_field", "has_spectrum",
        "n_spectra", "quarters",
    }  # fmt: skip
    assert expected <= set(stars.columns)
    assert stars["kic"].dtype == "Int64" and stars["gaia_source_id"].dtype == np.int64
    assert {"obsid", "star_id", "kic", "rv", "snrg", "path", "layout", "data_v"} <= set(
        truth["spectra"].columns
    )


def test_files_at_contract_paths_with_real_names(
    built: tuple[Path, SkySummary], truth: dict[str, pd.DataFrame]
) -> None:
    root = built[0]
    spectra, lightcurves = truth["spectra"], truth["lightcurves"]
    for row in spectra.itertuples(index=False):
        match = SPEC_PATH.match(row.path)
        assert match, row.path
        day, planid, lmjd, spid, fiberid = match.groups()
        assert (day, planid) == (row.obsdate.replace("-", ""), row.planid)
        assert (int(lmjd), int(spid), int(fiberid)) == (row.lmjd, row.spid, row.fiberid)
        assert (root / row.path).read_bytes()[:2] == b"\x1f\x8b"  # gzip, as the archive serves
    for row in lightcurves.itertuples(index=False):
        match = LLC_PATH.match(row.path)
        assert match, row.path
        assert int(match.group(2)) == row.kic and match.group(1) == f"{row.kic:09d}"[:4]
        assert (root / row.path).read_bytes()[:6] == b"SIMPLE"  # plain FITS
    on_disk = {str(p.relative_to(root)) for p in (root / "lamost").rglob("*.fits.gz")}
    assert on_disk == set(spectra["path"])
    on_disk = {str(p.relative_to(root)) for p in (root / "kepler").rglob("*_llc.fits")}
    assert on_disk == set(lightcurves["path"])
    for path in CATALOG_PATHS.values():
        assert (root / path).is_file(), path


def test_both_lamost_layouts_by_structure(
    built: tuple[Path, SkySummary], truth: dict[str, pd.DataFrame]
) -> None:
    root = built[0]
    seen = set()
    for row in truth["spectra"].itertuples(index=False):
        with fits.open(root / row.path) as hdul:
            if row.layout == "image":
                assert len(hdul) == 1 and hdul[0].data.shape == (5, row.n_pixels)
                assert hdul[0].header["EXTNAME"] == "Flux"
            else:
                assert len(hdul) == 2 and hdul[1].name == "COADD"
                assert hdul[1].data["FLUX"].shape == (1, row.n_pixels)
                assert hdul[0].header["NORM"] == row.norm
            assert hdul[0].header["DATA_V"] == row.data_v
            seen.add(row.layout)
    assert seen == {"image", "coadd"}
    assert truth["spectra"]["n_pixels"].nunique() > 1


def test_spectra_read_back_with_the_generated_values(
    built: tuple[Path, SkySummary], truth: dict[str, pd.DataFrame]
) -> None:
    root = built[0]
    for row in truth["spectra"].itertuples(index=False):
        spec = read_spectrum(root / row.path)
        assert spec.obsid == row.obsid and spec.layout == row.layout
        assert spec.rv_kms == pytest.approx(row.z * C_KMS)
        assert spec.kic == (int(row.kic) if row.tsource == "Kepler" else None)
        assert spec.snr["g"] == pytest.approx(row.snrg)
        assert spec.header["HELIO_RV"] == pytest.approx(row.helio_rv)
        assert spec.wavelength.size == row.n_pixels
        assert (spec.ivar == 0).any() and spec.flux[-1] == 0


def test_lightcurves_read_by_lightkurve_and_our_reader(
    built: tuple[Path, SkySummary], truth: dict[str, pd.DataFrame]
) -> None:
    root = built[0]
    stars = truth["stars"].dropna(subset=["kic"]).set_index("kic")
    for row in truth["lightcurves"].head(6).itertuples(index=False):
        ours = read_quarter(root / row.path)
        theirs = lk.read(root / row.path)
        assert len(ours.time) == len(theirs) < row.n_rows
        assert np.allclose(ours.time, theirs.time.value)
        assert (ours.kic, ours.quarter) == (row.kic, row.quarter)
        assert ours.header["KEPMAG"] == pytest.approx(stars.loc[row.kic, "kepmag"], abs=1e-3)
    quarters = truth["lightcurves"].groupby("kic")["quarter"].apply(list)
    for kic, qs in quarters.items():
        assert qs == [int(q) for q in stars.loc[kic, "quarters"].split(",")]


def test_lamost_catalog_agrees_with_the_files(built: tuple[Path, SkySummary]) -> None:
    root = built[0]
    catalog = pd.read_csv(
        root / CATALOG_PATHS["lamost_lrs_stellar"], dtype={"gaia_source_id": str}
    ).set_index("obsid")
    spectra = pd.read_parquet(root / "truth/spectra.parquet").set_index("obsid")
    assert sorted(catalog.index) == sorted(spectra.index)
    for obsid, row in catalog.iterrows():
        header = fits.getheader(root / spectra.loc[obsid, "path"], 0)
        assert header["OBSID"] == obsid
        assert (header["LMJD"], header["MJD"], header["SPID"], header["FIBERID"]) == (
            row["lmjd"], row["mjd"], row["spid"], row["fiberid"],
        )  # fmt: skip
        assert (
            header["PLANID"] == row["planid"] and header["DESIG"] == f"LAMOST {row['designation']}"
        )
        assert header["DATE-OBS"].startswith(row["obsdate"])
        assert (header["TSOURCE"], header["TCOMMENT"]) == (row["tsource"], row["tcomment"])
        for key in ("RA", "DEC", "RA_OBS", "DEC_OBS", "Z", "Z_ERR"):
            assert header[key] == pytest.approx(row[key.lower()], abs=1e-7), key
        for band in "UGRIZ":
            assert header[f"SNR{band}"] == pytest.approx(row[f"snr{band.lower()}"], abs=1e-6)


def test_same_seed_identical_files_other_seed_different(
    built: tuple[Path, SkySummary], tmp_path: Path
) -> None:
    root = built[0]
    # Written by two worker processes this time: the output must not depend on it.
    again = build_sky(tmp_path / "again", n_stars=N_STARS, seed=7, max_quarters=2, workers=2)
    assert again.n_spectra == built[1].n_spectra
    first, second = _files(root), _files(tmp_path / "again")
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)
    build_sky(tmp_path / "other", n_stars=N_STARS, seed=8, max_quarters=2)
    other = _files(tmp_path / "other")
    assert other["truth/stars.parquet"] != first["truth/stars.parquet"]
    for name in CATALOG_PATHS.values():
        assert other[name] != first[name], name


def test_rebuild_in_place_leaves_no_stale_files(tmp_path: Path) -> None:
    build_sky(tmp_path, n_stars=30, seed=1, max_quarters=2)
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("mine")
    summary = build_sky(tmp_path, n_stars=15, seed=2, max_quarters=2)
    spectra = list((tmp_path / "lamost").rglob("*.fits.gz"))
    assert len(spectra) == summary.n_spectra
    assert len(list((tmp_path / "kepler").rglob("*_llc.fits"))) == summary.n_lightcurve_files
    assert unrelated.read_text() == "mine"
