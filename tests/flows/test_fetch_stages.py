"""The catalog and fetch stages against the demo mirror served over loopback HTTP with faults."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from prefect.logging.handlers import APILogHandler

from bench.archive_server import ArchiveServer, Fault, FaultPlan
from desa.sky.mirror import build_sky
from flows.pipeline import STAGE_FLOWS
from storage import layout
from storage.layout import DataRoot
from storage.manifest import read_manifest

pytestmark = pytest.mark.slow(seconds=60)  # on the 2-core machine
TOKEN = "tok-5ecret-3141592653"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mirror")
    build_sky(out, n_stars=24, seed=5, max_quarters=2)
    return out


def _faults(mirror: Path) -> tuple[FaultPlan, dict[str, str]]:
    spectra = pd.read_parquet(mirror / "truth" / "spectra.parquet").sort_values("obsid")
    llc = pd.read_parquet(mirror / "truth" / "lightcurves.parquet").sort_values("path")
    paths = {
        "transient": spectra["path"].iloc[0],
        "corrupt": spectra["path"].iloc[1],
        "missing": spectra["path"].iloc[2],
        "truncated": llc["path"].iloc[0],
    }
    plan = FaultPlan()
    plan.add(paths["transient"], Fault.error(500, times=2))
    plan.add(paths["corrupt"], Fault.corrupt_gzip(times=None))
    plan.add(paths["missing"], Fault.not_found())
    plan.add(paths["truncated"], Fault.truncate(0.3, times=1))
    return plan, paths


def _leaks(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_fetch_over_http_with_faults_quarantines_only_bad_files(
    mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    plan, paths = _faults(mirror)
    root = DataRoot(tmp_path / "root")
    with ArchiveServer(mirror, plan, token=TOKEN) as server:
        for name, value in {
            "DESA_DATA_ROOT": str(tmp_path / "root"),
            "DESA_SKY__MIRROR": server.url,
            "DESA_ARCHIVE__LAMOST_MODE": "openapi",
            "DESA_FETCH__RETRIES": "3",
            "DESA_FETCH__BACKOFF_S": "0.01",
            "DESA_FETCH__BATCH_SIZE": "10",
            "DESA_FETCH__MAX_FAILURE_FRACTION": "0.2",
            "LAMOST_TOKEN": TOKEN,
        }.items():
            monkeypatch.setenv(name, value)
        for stage in ("catalogs", "crossmatch", "fetch-spectra", "fetch-lightcurves"):
            assert STAGE_FLOWS[stage]()["ran"]
        assert any("token=" in r.query for r in server.requests)  # the archive got the token

    spectra = read_manifest(root.fs, root.path(layout.manifest("fetch-spectra"))).set_index("key")
    truth = pd.read_parquet(mirror / "truth" / "spectra.parquet").set_index("path")
    failed = spectra[spectra["status"] == "failed"]
    corrupt, missing = (str(truth.loc[paths[k], "obsid"]) for k in ("corrupt", "missing"))
    assert sorted(failed.index) == sorted([corrupt, missing])
    assert (
        "gzip" in failed.loc[corrupt, "reason"]
        and "after 3 attempts" in failed.loc[corrupt, "reason"]
    )
    assert "404" in failed.loc[missing, "reason"]
    assert spectra.loc[str(truth.loc[paths["transient"], "obsid"]), "attempts"] == 3
    ok = spectra[spectra["status"] == "ok"]
    assert len(ok) == len(truth) - 2
    assert all(Path(root.resolve(p)).is_file() for p in ok["path"])
    # Nothing corrupt or partial is kept: only verified spectra lie in the raw tree.
    raw = sorted(p.name for p in root.local_path("raw", "lamost").glob("**/*") if p.is_file())
    assert raw == sorted(Path(p).name for p in ok["path"])

    lightcurves = read_manifest(root.fs, root.path(layout.manifest("fetch-lightcurves")))
    assert (lightcurves["status"] == "ok").all()
    truncated = lightcurves[lightcurves["path"].str.endswith(Path(paths["truncated"]).name)]
    assert truncated["attempts"].item() == 2

    assert _leaks(root.local_path(), TOKEN) == []
    # Nor in what was logged or sent to Prefect: its database (runs, task inputs, logs).
    APILogHandler().flush()
    home = Path(os.environ["PREFECT_HOME"])
    assert _leaks(home, "fetch-spectra-batch-0") != []  # the scan sees this run's records
    assert _leaks(home, TOKEN) == []
    out, err = capfd.readouterr()
    assert TOKEN not in out + err

    # With the faults gone, a rerun retries only the failures and completes.
    with ArchiveServer(mirror, token=TOKEN) as server:
        monkeypatch.setenv("DESA_SKY__MIRROR", server.url)
        assert STAGE_FLOWS["fetch-spectra"]()["ran"]
        fetched = [r for r in server.requests if "spectrum" in r.path]
    assert len(fetched) == 2
    spectra = read_manifest(root.fs, root.path(layout.manifest("fetch-spectra")))
    assert (spectra["status"] == "ok").all()
