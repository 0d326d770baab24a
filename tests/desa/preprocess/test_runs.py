"""The spectra and lightcurves runs (library level, serial shards) on small data roots of real
files. With the whole bad-file corpus listed as fetched: every bad file ends 'failed' in the
row manifest with a reason naming it and its problem, the good files' rows equal those of a
run without the bad inputs, and nothing is written outside the data root. After a catalog
revision drops an object: its row is 'stale', kept, and out of the labels; back, it is 'ok'
again without being redone."""

from __future__ import annotations

import hashlib
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from catalogs.labels.config import LabelConfig
from catalogs.labels.tables import write_labels
from desa.preprocess.runs import preprocess_lightcurves, preprocess_spectra
from desa.surveys.kepler import llc_filename, parse_llc_filename
from storage import layout
from storage.layout import DataRoot
from storage.manifest import ManifestRecord, write_manifest
from storage.rows import empty
from storage.tables import read_parquet, write_parquet
from tests.desa.surveys.bad_files import KEPLER_FILES, LAMOST_COADD, LAMOST_FILES, BadFile

GOOD_SPECTRA = [
    LAMOST_COADD,
    Path("lamost", "dr6", "spec-57287-KP193637N444141V03_sp10-161.fits.gz"),
    Path("lamost", "dr7", "spec-58397-EG014118N254444M01_sp03-031.fits"),
    Path("lamost", "dr8", "spec-57042-EG030739N012421V01_sp02-050.fits.gz"),
]
GOOD_OBSIDS = [101001, 359910161, 677503031, 300002050]
GOOD_QUARTERS = {2556081: ("2009166043257", "2009259160929"), 7660594: ("2009166043257",)}
FIRST_BAD_KEY = 900_000_001
DUPLICATE_KEY = 900_000_999  # a second file holding OBSID 101001, listed under this obsid


def _record(key: str, path: Path) -> ManifestRecord:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    return ManifestRecord(key, "ok", path=str(path), size=len(data), sha256=digest)


def _catalogs(root: DataRoot) -> None:
    """The catalogs the two runs read: LAMOST labels of the good obsids, no crossmatch."""
    lamost = pd.DataFrame({"obsid": GOOD_OBSIDS, "teff": 5000.0 + np.arange(4), "rv": np.zeros(4)})
    crossmatch = pd.DataFrame({"obsid": pd.Series(dtype="i8"), "kic": pd.Series(dtype="i8")})
    kepler_gaia = pd.DataFrame({"kic": list(GOOD_QUARTERS), "gaia_source_id": ["11", "12"]})
    berger = pd.DataFrame({"kic": list(GOOD_QUARTERS), "dist_pc": [300.0, 500.0]})
    tables = {
        layout.LAMOST_CATALOG: lamost,
        layout.CROSSMATCH: crossmatch,
        layout.KEPLER_GAIA: kepler_gaia,
        layout.BERGER: berger,
    }
    for product, frame in tables.items():
        write_parquet(frame, root.fs, root.of(product))


def _bad(cases: list[BadFile], folder: Path, real: Path) -> dict[int, tuple[Path, BadFile]]:
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for number, case in enumerate(cases):
        key = FIRST_BAD_KEY + number
        made[key] = (case.make(folder, real, key), case)
    return made


def _spectra_root(path: Path, real: Path, bad: bool) -> tuple[DataRoot, dict]:
    root = DataRoot(path)
    _catalogs(root)
    raw = Path(root.path(layout.RAW_SPECTRA))
    raw.mkdir(parents=True)
    records = []
    for obsid, source in zip(GOOD_OBSIDS, GOOD_SPECTRA, strict=True):
        copy = raw / source.name
        shutil.copyfile(real / source, copy)
        records.append(_record(str(obsid), copy))
    made = {}
    if bad:
        made = _bad(LAMOST_FILES, raw / "bad", real)
        # The same spectrum twice: the fetch manifest holds one file per obsid, so a second
        # file with OBSID 101001 can only come listed under another obsid.
        duplicate = raw / "bad" / "spec-55859-F5902_sp01-001-again.fits.gz"
        shutil.copyfile(real / LAMOST_COADD, duplicate)
        records.append(_record(str(DUPLICATE_KEY), duplicate))
        records += [_record(str(key), path) for key, (path, _) in made.items()]
    write_manifest(root.fs, root.of(layout.FETCHED_SPECTRA), records)
    return root, made


def _lightcurves_root(path: Path, real: Path, bad: bool) -> tuple[DataRoot, dict]:
    root = DataRoot(path)
    _catalogs(root)
    raw = Path(root.path(layout.RAW_LIGHTCURVES))
    raw.mkdir(parents=True)
    records = []
    for kic, stamps in GOOD_QUARTERS.items():
        for stamp in stamps:
            name = llc_filename(kic, stamp)
            shutil.copyfile(real / "kepler" / name, raw / name)
            records.append(_record(name, raw / name))
    made = {}
    if bad:
        made = _bad(KEPLER_FILES, raw, real)
        records += [_record(path.name, path) for path, _ in made.values()]
        assert all(parse_llc_filename(path)[0] == key for key, (path, _) in made.items())
    write_manifest(root.fs, root.of(layout.FETCHED_LIGHTCURVES), records)
    return root, made


def _tree(folder: Path, skip: Path) -> dict[str, float]:
    return {
        str(p): p.stat().st_mtime for p in folder.rglob("*") if skip not in p.parents and p != skip
    }


def _good_rows(root: DataRoot, store: layout.Product, dim: str, key: str) -> xr.Dataset:
    ds = xr.open_zarr(root.url_of(store), consolidated=True).load()
    ds = ds.isel({dim: np.flatnonzero(ds["valid"].values)})
    return ds.isel({dim: np.argsort(ds[key].values, kind="stable")})


def _assert_quarantined(root: DataRoot, rows: str, made: dict) -> pd.DataFrame:
    manifest = read_parquet(root.fs, root.path(rows)).set_index("key")
    for key, (path, case) in made.items():
        row = manifest.loc[str(key)]
        assert row["status"] == "failed", case.name
        assert str(path) in row["reason"], (case.name, row["reason"])
        for word in case.words:
            assert word in row["reason"], (case.name, word, row["reason"])
    return manifest


def _run_spectra(root: DataRoot) -> dict:
    return preprocess_spectra(
        root, rv_source="file", mask_bad_pixels_before_fit=False, chunk_rows=4, shard_rows=8
    ).summary


def _run_lightcurves(root: DataRoot) -> dict:
    return preprocess_lightcurves(
        root,
        quality_bitmask="default",
        min_quarters=2,
        reference_luminosity=False,
        chunk_rows=4,
        shard_rows=8,
    ).summary


@pytest.fixture
def quiet() -> None:
    # Some bad files make astropy warn before it refuses them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_bad_spectra_are_quarantined_and_the_rest_equals_a_clean_run(
    real_data: Path, tmp_path: Path, quiet: None
) -> None:
    root, made = _spectra_root(tmp_path / "root", real_data, bad=True)
    before = _tree(tmp_path, tmp_path / "root")
    summary = _run_spectra(root)
    assert _tree(tmp_path, tmp_path / "root") == before  # nothing written outside the root

    manifest = _assert_quarantined(root, layout.SPECTRA_ROWS, made)
    duplicate = manifest.loc[str(DUPLICATE_KEY)]
    assert duplicate["status"] == "failed"
    assert "-again.fits.gz: file holds OBSID 101001" in duplicate["reason"]
    assert f"spectrum of obsid {DUPLICATE_KEY}" in duplicate["reason"]
    assert (manifest.loc[[str(o) for o in GOOD_OBSIDS], "status"] == "ok").all()
    assert summary["quarantined"] == len(made) + 1 and summary["ok"] == len(GOOD_OBSIDS)

    clean, _ = _spectra_root(tmp_path / "clean", real_data, bad=False)
    _run_spectra(clean)
    got = _good_rows(root, layout.SPECTRA, "obs", "obsid")
    assert got["obsid"].values.tolist() == sorted(GOOD_OBSIDS)
    xr.testing.assert_identical(got, _good_rows(clean, layout.SPECTRA, "obs", "obsid"))


def test_bad_light_curves_are_quarantined_and_the_rest_equals_a_clean_run(
    real_data: Path, tmp_path: Path, quiet: None
) -> None:
    root, made = _lightcurves_root(tmp_path / "root", real_data, bad=True)
    before = _tree(tmp_path, tmp_path / "root")
    summary = _run_lightcurves(root)
    assert _tree(tmp_path, tmp_path / "root") == before

    manifest = _assert_quarantined(root, layout.LIGHTCURVE_ROWS, made)
    assert manifest.loc["2556081", "status"] == "ok"
    # One quarter is too few: a good star can fail too, for its own reason.
    assert "only 1 usable quarter" in manifest.loc["7660594", "reason"]
    assert summary["quarantined"] == len(made) + 1

    clean, _ = _lightcurves_root(tmp_path / "clean", real_data, bad=False)
    _run_lightcurves(clean)
    got = _good_rows(root, layout.LIGHTCURVES, "star", "kic")
    assert got["kic"].values.tolist() == [2556081]
    xr.testing.assert_identical(got, _good_rows(clean, layout.LIGHTCURVES, "star", "kic"))


def test_rows_of_objects_that_left_the_catalog_are_stale_and_come_back_without_work(
    real_data: Path, tmp_path: Path
) -> None:
    root, _ = _spectra_root(tmp_path / "root", real_data, bad=False)
    write_parquet(empty(), root.fs, root.path(layout.LIGHTCURVE_ROWS))  # no light curves here
    assert _run_spectra(root)["ok"] == len(GOOD_OBSIDS)
    catalog = read_parquet(root.fs, root.of(layout.LAMOST_CATALOG))
    gone = GOOD_OBSIDS[1]

    write_parquet(catalog[catalog["obsid"] != gone], root.fs, root.of(layout.LAMOST_CATALOG))
    summary = _run_spectra(root)
    manifest = read_parquet(root.fs, root.path(layout.SPECTRA_ROWS)).set_index("key")
    assert (summary["processed"], summary["stale"], summary["ok"]) == (0, 1, 3)
    assert manifest.loc[str(gone), "status"] == "stale"
    assert manifest.loc[str(gone), "reason"] == "not in the current lamost_lrs_stellar catalog"
    # Labels, and so every model input and metric after them, hold only listed objects.
    write_labels(root, ["lamost_lrs_stellar"], LabelConfig())
    labels = read_parquet(root.fs, root.of(layout.labels("spectra_labels")))
    assert sorted(labels["obsid"]) == sorted(set(GOOD_OBSIDS) - {gone})

    write_parquet(catalog, root.fs, root.of(layout.LAMOST_CATALOG))
    summary = _run_spectra(root)
    assert (summary["processed"], summary["stale"], summary["ok"]) == (0, 0, 4)
    again = read_parquet(root.fs, root.path(layout.SPECTRA_ROWS)).set_index("key")
    assert again.loc[str(gone), "row"] == manifest.loc[str(gone), "row"]  # the same row, kept
