"""End to end on a small demo sky: `rebuild` runs every stage, caches, and reruns by content.

The tests of this module share one data root and run in file order: each starts from the
state the previous one left (the first builds everything once, which is the slow part).
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from flows.pipeline import STAGE_FLOWS, rebuild
from storage import layout
from storage.fingerprint import sha256_bytes
from storage.layout import DataRoot
from storage.manifest import TooManyFailures, read_manifest
from storage.tables import read_parquet

pytestmark = pytest.mark.slow(seconds=150)  # on the 2-core machine
ALL_STAGES = (
    "demo-sky",
    "catalogs",
    "crossmatch",
    "fetch-spectra",
    "fetch-lightcurves",
    "spectra",
    "lightcurves",
    "labels",
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rebuild")


@pytest.fixture(autouse=True)
def demo_env(monkeypatch: pytest.MonkeyPatch, data_root: Path) -> DataRoot:
    monkeypatch.setenv("DESA_DATA_ROOT", str(data_root))
    monkeypatch.setenv("DESA_SKY__N_STARS", "40")
    monkeypatch.setenv("DESA_SKY__SEED", "11")
    return DataRoot(data_root)


def _ran(results: list[dict]) -> list[str]:
    return [r["stage"] for r in results if r["ran"]]


def _rewrite_csv(path: Path, edit, compressed: bool = False) -> None:
    raw = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    out = edit(df).to_csv(index=False).encode()
    path.write_bytes(gzip.compress(out) if compressed else out)


def test_first_rebuild_runs_every_stage_end_to_end(demo_env: DataRoot) -> None:
    results = rebuild(until="labels")
    assert _ran(results) == list(ALL_STAGES)
    root = demo_env
    truth = read_parquet(root.fs, root.path("mirror", "truth", "spectra.parquet"))
    matches = read_parquet(root.fs, root.of(layout.CROSSMATCH))
    expected = truth.dropna(subset=["kic"])
    found = set(zip(matches["obsid"], matches["kic"], strict=True))
    true_pairs = set(zip(expected["obsid"], expected["kic"].astype(int), strict=True))
    precision = len(found & true_pairs) / len(found)
    recall = len(found & true_pairs) / len(true_pairs)
    assert precision >= 0.99 and recall >= 0.99, (precision, recall)

    spectra = read_manifest(root.fs, root.path(layout.manifest("fetch-spectra")))
    assert len(spectra) == len(truth) and (spectra["status"] == "ok").all()
    assert all(Path(root.resolve(p)).is_file() for p in spectra["path"])
    lightcurves = read_manifest(root.fs, root.path(layout.manifest("fetch-lightcurves")))
    mirrored = list(root.local_path("mirror", "kepler").glob("**/*_llc.fits"))
    assert (lightcurves["status"] == "ok").sum() == len(mirrored)

    spectra_store = xr.open_zarr(root.store_url("spectra.zarr"))
    assert sorted(spectra_store.obsid.values) == sorted(truth["obsid"])
    lightcurve_store = xr.open_zarr(root.store_url("lightcurves.zarr"))
    assert int(lightcurve_store.valid.sum()) > 0
    pairs = read_parquet(root.fs, root.path("labels", "pairs.parquet"))
    assert set(pairs["split"]) <= {"train", "val", "test"} and len(pairs) > 0

    lock = json.loads(Path(root.path(layout.SOURCES_LOCK)).read_text())
    mcquillan = root.local_path("mirror", "mcquillan2014", "Table_1_Periodic.txt")
    assert lock["catalogs"]["mcquillan2014"]["sha256"] == sha256_bytes(mcquillan.read_bytes())
    assert lock["lamost"]["dr"] == "dr8"


def test_second_rebuild_changes_nothing(demo_env: DataRoot) -> None:
    states = sorted(demo_env.local_path("state").glob("*.json"))
    before = {p.name: p.read_bytes() for p in states}
    assert _ran(rebuild(until="labels")) == []
    assert {p.name: p.read_bytes() for p in states} == before


def test_editing_one_catalog_reruns_only_that_catalog(demo_env: DataRoot) -> None:
    mcquillan = demo_env.local_path("mirror", "mcquillan2014", "Table_1_Periodic.txt")
    _rewrite_csv(mcquillan, lambda df: df.iloc[:-1])
    results = rebuild(until="labels")
    assert _ran(results) == ["catalogs", "labels"]  # periods feed the labels, nothing else
    state = pd.read_json(demo_env.state_path("catalogs"), typ="series")
    assert state["summary"]["built"] == 1
    table = read_parquet(demo_env.fs, demo_env.of(layout.catalog("mcquillan2014")))
    assert len(table) == len(pd.read_csv(mcquillan))


def test_lamost_catalog_edit_propagates_by_content(demo_env: DataRoot) -> None:
    catalog = demo_env.local_path(
        "mirror", "lamost", "dr8", "v2.0", "catalog", "dr8_v2.0_LRS_stellar.csv.gz"
    )
    # A label edit changes the catalog but not the crossmatch: the stages reading the catalog
    # rerun without downloading or preprocessing anything again; fetch-lightcurves stays cached.
    fetched = read_manifest(demo_env.fs, demo_env.path(layout.manifest("fetch-spectra")))
    _rewrite_csv(catalog, lambda df: df.assign(teff_err="99.0"), compressed=True)
    assert _ran(rebuild(until="labels")) == [
        "catalogs",
        "crossmatch",
        "fetch-spectra",
        "spectra",
        "lightcurves",
        "labels",
    ]
    # Every spectrum was fetched before: none is requested again.
    again = read_manifest(demo_env.fs, demo_env.path(layout.manifest("fetch-spectra")))
    pd.testing.assert_frame_equal(again, fetched)
    state = pd.read_json(demo_env.state_path("spectra"), typ="series")
    assert state["summary"]["processed"] == 0
    # Dropping spectra changes the crossmatch, so both fetch stages rerun.
    _rewrite_csv(catalog, lambda df: df.iloc[:-2], compressed=True)
    assert _ran(rebuild(until="labels")) == list(ALL_STAGES[1:])


def test_renamed_column_is_quarantined_with_a_clear_reason(
    demo_env: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    mcquillan = demo_env.local_path("mirror", "mcquillan2014", "Table_1_Periodic.txt")
    _rewrite_csv(mcquillan, lambda df: df.rename(columns={"Prot": "P_rot"}))
    with pytest.raises(TooManyFailures, match="mcquillan2014"):
        STAGE_FLOWS["catalogs"]()
    manifest = read_manifest(demo_env.fs, demo_env.path(layout.manifest("catalogs")))
    row = manifest.set_index("key").loc["mcquillan2014"]
    assert row["status"] == "failed"
    assert "Prot" in row["reason"] and "P_rot" in row["reason"]
    assert "Table_1_Periodic.txt" in row["reason"]
    assert (manifest.set_index("key").drop("mcquillan2014")["status"] == "ok").all()

    monkeypatch.setenv("DESA_CATALOGS__MAX_FAILURE_FRACTION", "0.5")
    assert STAGE_FLOWS["catalogs"]()["ran"]
    _rewrite_csv(mcquillan, lambda df: df.rename(columns={"P_rot": "Prot"}))
    assert "catalogs" in _ran(rebuild(until="labels"))  # the failure is retried and now succeeds


def test_status_and_run_from_the_cli(demo_env: DataRoot) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for stage in ALL_STAGES:
        line = next(row for row in result.output.splitlines() if f" {stage} " in row)
        assert "up to date" in line, line

    before = pd.read_json(demo_env.state_path("crossmatch"), typ="series")["finished_at"]
    assert runner.invoke(app, ["run", "crossmatch"]).exit_code == 0
    assert pd.read_json(demo_env.state_path("crossmatch"), typ="series")["finished_at"] == before
    assert runner.invoke(app, ["run", "crossmatch", "--force"]).exit_code == 0
    state = pd.read_json(demo_env.state_path("crossmatch"), typ="series")
    assert state["started_at"] >= before and state["summary"]["matched"] > 0

    result = runner.invoke(app, ["run", "no-such-stage"])
    assert result.exit_code != 0 and "unknown stage" in str(result.exception)


def test_each_stage_run_published_artifacts() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
        ArtifactFilter,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        keys = {
            artifact.key
            for artifact in client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="-summary")),
                limit=200,
            )
        }
        tables = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["catalogs-table"])),
            limit=1,
        )
        long_stages = ("fetch-spectra", "fetch-lightcurves", "spectra", "lightcurves")
        # The newest version of each: other test modules share this test session's API.
        progress = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[f"{stage}-progress" for stage in long_stages])
            ),
            limit=200,
        )
    expected = set(ALL_STAGES)
    assert {f"{stage}-summary" for stage in expected} <= keys
    assert tables and "mcquillan2014" in str(tables[0].data)
    # The last run of each long stage that had work kept a progress artifact, at 100 % now.
    assert {a.key for a in progress} == {f"{stage}-progress" for stage in long_stages}
    assert {(a.type, a.data) for a in progress} == {("progress", 100.0)}
