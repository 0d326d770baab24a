"""Publishing a release into an existing demo sky: old files untouched, the new ones readable
and counted, catalogs extended row for row, new spectra matched to their stars, the same
bytes every time, names checked, and the CLI option."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from typer.testing import CliRunner

from catalogs.crossmatch import crossmatch
from catalogs.normalize import read_catalog
from catalogs.specs import SPECS
from desa.sky.catalogs import CATALOG_PATHS
from desa.sky.mirror import build_sky
from desa.sky.release import ReleaseSummary, publish_release, release_catalog_path
from desa.surveys.kepler import read_quarter
from desa.surveys.lamost import read_spectrum
from flows.cli import app

SEED = 11
KEPLER_GAIA = CATALOG_PATHS["kepler_gaia"]
# The files a release rewrites; every other file of the mirror must keep its bytes.
UPDATED = {KEPLER_GAIA, "truth/stars.parquet", "truth/spectra.parquet", "truth/lightcurves.parquet"}


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def _truth(root: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(root / "truth" / f"{table}.parquet")


@pytest.fixture(scope="module")
def sky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sky") / "mirror"
    build_sky(root, n_stars=40, seed=SEED, max_quarters=2)
    return root


@pytest.fixture(scope="module")
def published(
    sky: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ReleaseSummary, dict[str, str]]:
    root = _copy(sky, tmp_path_factory.mktemp("published") / "mirror")
    before = _hashes(root)
    return root, publish_release(root, "dr9", seed=SEED), before


def test_existing_files_keep_their_bytes(
    published: tuple[Path, ReleaseSummary, dict[str, str]],
) -> None:
    root, _, before = published
    after = _hashes(root)
    assert before.keys() <= after.keys()  # nothing deleted
    changed = {path for path, digest in before.items() if after[path] != digest}
    assert changed == UPDATED


def test_summary_counts_match_truth_and_files(
    published: tuple[Path, ReleaseSummary, dict[str, str]],
) -> None:
    root, summary, before = published
    stars, spectra = _truth(root, "stars"), _truth(root, "spectra")
    lightcurves = _truth(root, "lightcurves")
    new = spectra[spectra["release"] == "dr9"]
    new_stars = stars[stars["release"] == "dr9"]
    old_stars = stars[stars["release"] == "dr8"]
    assert (summary.name, summary.previous) == ("dr9", "dr8")
    assert summary.n_spectra == len(new)
    # ~10% of the stars with spectra observed again, ~10% new stars (40 -> 4).
    repeats = new["star_id"].isin(old_stars["star_id"])
    assert summary.n_repeat_spectra == repeats.sum() == new.loc[repeats, "star_id"].nunique()
    assert summary.n_repeat_spectra == round(0.1 * old_stars["has_spectrum"].sum())
    assert summary.n_new_stars == len(new_stars) == 4
    assert summary.n_spectra == summary.n_repeat_spectra + new_stars["n_spectra"].sum()
    assert summary.n_lightcurve_files == (lightcurves["release"] == "dr9").sum()
    assert set(lightcurves.loc[lightcurves["release"] == "dr9", "star_id"]) == set(
        new_stars["star_id"]
    )
    assert summary.updated_catalogs == ["lamost_lrs_stellar", "kepler_gaia"]
    # The build's rows are labelled with its release; counts stay consistent.
    assert len(old_stars) == 40 and len(stars) == 44
    assert stars["n_spectra"].sum() == len(spectra) and spectra["obsid"].is_unique
    assert stars["kic"].dropna().is_unique and stars["gaia_source_id"].is_unique
    assert new_stars["is_kepler_target"].all() and new_stars["in_kepler_field"].all()
    assert set(new_stars["star_id"]) <= set(new["star_id"])
    # The previous release's spectra are hard links (same bytes) in the new tree.
    old_fits = sorted(p for p in before if p.startswith("lamost/dr8/v2.0/fits/"))
    assert summary.n_carried_spectra == len(old_fits) == (spectra["release"] == "dr8").sum()
    for path in old_fits:
        assert os.path.samefile(root / path, root / path.replace("/dr8/", "/dr9/", 1))
    on_disk = {str(p.relative_to(root)) for p in (root / "lamost/dr9").rglob("*.fits.gz")}
    carried = {p.replace("/dr8/", "/dr9/", 1) for p in old_fits}
    assert on_disk == carried | set(new["path"])
    assert new["obsid"].min() > spectra.loc[spectra["release"] == "dr8", "obsid"].max()


def test_new_files_read_by_the_survey_readers(
    published: tuple[Path, ReleaseSummary, dict[str, str]],
) -> None:
    root = published[0]
    stars = _truth(root, "stars").set_index("star_id")
    spectra = _truth(root, "spectra")
    for row in spectra[spectra["release"] == "dr9"].itertuples(index=False):
        spec = read_spectrum(root / row.path)
        assert spec.obsid == row.obsid and spec.layout == "coadd"
        assert spec.data_release == "LAMOST DR9" and spec.wavelength.size == row.n_pixels
        assert spec.kic == (int(row.kic) if row.tsource == "Kepler" else None)
    lightcurves = _truth(root, "lightcurves")
    new = lightcurves[lightcurves["release"] == "dr9"]
    for row in new.itertuples(index=False):
        quarter = read_quarter(root / row.path)
        assert (quarter.kic, quarter.quarter) == (row.kic, row.quarter)
    for star_id, quarters in new.groupby("star_id")["quarter"]:
        assert list(quarters) == [int(q) for q in stars.loc[star_id, "quarters"].split(",")]
        # The sky's max_quarters (2), inferred: at most 2 quarters after Q0.
        assert quarters.max() - quarters[quarters > 0].min() < 2


def test_release_catalog_is_the_previous_rows_then_the_new(
    published: tuple[Path, ReleaseSummary, dict[str, str]],
) -> None:
    root, summary = published[0], published[1]
    spec = SPECS["lamost_lrs_stellar"]
    old = read_catalog(root / CATALOG_PATHS["lamost_lrs_stellar"], spec)
    new = read_catalog(root / summary.catalog, spec)
    assert summary.catalog == release_catalog_path("dr9")
    assert new.rejected.empty and list(new.table.columns) == list(old.table.columns)
    pd.testing.assert_frame_equal(new.table.iloc[: len(old.table)], old.table)
    spectra = _truth(root, "spectra")
    added = new.table.iloc[len(old.table) :]
    assert list(added["obsid"]) == sorted(spectra.loc[spectra["release"] == "dr9", "obsid"])


def test_kepler_gaia_gains_the_new_stars_only(
    sky: Path, published: tuple[Path, ReleaseSummary, dict[str, str]]
) -> None:
    root = published[0]
    with fits.open(sky / KEPLER_GAIA) as before, fits.open(root / KEPLER_GAIA) as after:
        old, new = np.asarray(before[1].data), np.asarray(after[1].data)
    stars = _truth(root, "stars")
    new_kics = set(stars.loc[stars["release"] == "dr9", "kic"].astype(int))
    kept = new[~np.isin(new["kepid"], list(new_kics))]
    assert kept.tobytes() == old.tobytes()  # old rows, same values, same order
    assert set(new["kepid"]) == set(old["kepid"]) | new_kics


def test_crossmatch_pairs_new_spectra_with_their_stars(
    published: tuple[Path, ReleaseSummary, dict[str, str]],
) -> None:
    root, summary = published[0], published[1]
    lamost = read_catalog(root / summary.catalog, SPECS["lamost_lrs_stellar"]).table
    kepler = read_catalog(root / KEPLER_GAIA, SPECS["kepler_gaia"]).table
    matches = crossmatch(lamost, kepler.drop_duplicates("kic"), radius_arcsec=3.0)
    spectra = _truth(root, "spectra")
    new = spectra[(spectra["release"] == "dr9") & spectra["kic"].notna()]
    found = matches.set_index("obsid")["kic"].reindex(new["obsid"])
    assert len(new) >= 6
    assert (found.to_numpy() == new["kic"].astype(int).to_numpy()).all()


def test_same_release_same_bytes_whatever_the_workers(
    sky: Path, published: tuple[Path, ReleaseSummary, dict[str, str]], tmp_path: Path
) -> None:
    again = _copy(sky, tmp_path / "again")
    summary = publish_release(again, "dr9", seed=SEED, workers=2)
    assert summary == published[1]
    assert _hashes(again) == _hashes(published[0])


def test_refuses_names_not_newer_and_a_foreign_seed(
    published: tuple[Path, ReleaseSummary, dict[str, str]],
) -> None:
    root = published[0]
    before = _hashes(root)
    for name in ("dr9", "dr8", "dr2"):
        with pytest.raises(ValueError, match="not newer than dr9"):
            publish_release(root, name, seed=SEED)
    for name in ("DR10", "10", "dr10b"):
        with pytest.raises(ValueError, match="dr<N>"):
            publish_release(root, name, seed=SEED)
    with pytest.raises(ValueError, match="seed 12"):
        publish_release(root, "dr10", seed=12)
    assert _hashes(root) == before


def test_next_release_builds_on_the_last(
    published: tuple[Path, ReleaseSummary, dict[str, str]], tmp_path: Path
) -> None:
    root = _copy(published[0], tmp_path / "mirror")
    summary = publish_release(root, "dr10", seed=SEED)
    assert summary.previous == "dr9" and summary.n_carried_spectra == len(
        _truth(published[0], "spectra")
    )
    spec = SPECS["lamost_lrs_stellar"]
    dr9 = read_catalog(root / release_catalog_path("dr9"), spec).table
    dr10 = read_catalog(root / release_catalog_path("dr10"), spec).table
    pd.testing.assert_frame_equal(dr10.iloc[: len(dr9)], dr9)
    assert len(dr10) == len(dr9) + summary.n_spectra
    spectra = _truth(root, "spectra")
    path = spectra.loc[spectra["release"] == "dr10", "path"].iloc[0]
    assert read_spectrum(root / path).data_release == "LAMOST DR10"


def test_cli_publishes_with_the_settings_seed(
    sky: Path, published: tuple[Path, ReleaseSummary, dict[str, str]], tmp_path: Path
) -> None:
    target = _copy(sky, tmp_path / "mirror")
    args = ["demo-sky", "--out", str(target), "--release", "dr9"]
    env = {"DESA_SKY__SEED": str(SEED), "DESA_SKY__WORKERS": "1"}
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "release dr9 published" in result.output
    assert _hashes(target) == _hashes(published[0])


def test_cli_and_api_refuse_a_folder_without_sky(tmp_path: Path) -> None:
    args = ["demo-sky", "--out", str(tmp_path), "--release", "dr9"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code != 0 and "no synthetic sky" in result.output
    with pytest.raises(FileNotFoundError, match="no synthetic sky"):
        publish_release(tmp_path, "dr9", seed=SEED)
    assert list(tmp_path.iterdir()) == []
