"""`spectra` and `lightcurves` on Dask: external scheduler, incremental appends, SIGKILL."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from prefect.client.orchestration import get_client

from desa.sky.mirror import build_sky
from flows.pipeline import STAGE_FLOWS
from storage.layout import DataRoot
from storage.tables import read_parquet
from tests.support.processes import MARK, survivors

pytestmark = pytest.mark.slow(seconds=120)  # on the 2-core machine
UPSTREAM = ("catalogs", "crossmatch", "fetch-spectra", "fetch-lightcurves")
CATALOG = Path("lamost", "dr8", "v2.0", "catalog", "dr8_v2.0_LRS_stellar.csv.gz")


@pytest.fixture(scope="module")
def full_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full-mirror")
    build_sky(out, n_stars=30, seed=21, max_quarters=2)
    return out


def _settings(monkeypatch: pytest.MonkeyPatch, root: Path, mirror: Path, **extra: str) -> None:
    monkeypatch.setenv("DESA_DATA_ROOT", str(root))
    monkeypatch.setenv("DESA_SKY__MIRROR", mirror.as_uri())
    monkeypatch.setenv("DESA_SPECTRA__CHUNK_ROWS", "4")
    monkeypatch.setenv("DESA_SPECTRA__SHARD_ROWS", "8")
    monkeypatch.setenv("DESA_LIGHTCURVES__CHUNK_ROWS", "4")
    monkeypatch.setenv("DESA_LIGHTCURVES__SHARD_ROWS", "8")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def _run(*stages: str) -> list[bool]:
    return [STAGE_FLOWS[stage]()["ran"] for stage in stages]


def _sorted(url: Path, dim: str, key: str) -> xr.Dataset:
    ds = xr.open_zarr(url, consolidated=True).load()
    return ds.isel({dim: np.argsort(ds[key].values, kind="stable")})


def _assert_same_stores(a: Path, b: Path) -> None:
    xr.testing.assert_equal(
        _sorted(a / "spectra.zarr", "obs", "obsid"), _sorted(b / "spectra.zarr", "obs", "obsid")
    )
    xr.testing.assert_equal(
        _sorted(a / "lightcurves.zarr", "star", "kic"),
        _sorted(b / "lightcurves.zarr", "star", "kic"),
    )


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A real `dask scheduler` and two `dask worker` processes on loopback."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    dask = Path(sys.executable).parent / "dask"
    # The workers report their Prefect task runs to this process's API, as deployed workers
    # are given the server's (docker-compose.yml): without one, each would start an ephemeral
    # API server of its own that outlives it.
    mark = uuid.uuid4().hex  # to find whatever these processes start, once they are stopped
    with get_client(sync_client=True) as client:
        env = {**os.environ, "PREFECT_API_URL": str(client.api_url), MARK: mark}
    common = {
        "cwd": folder,
        "env": env,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
    }
    procs = [
        subprocess.Popen(
            [
                str(dask),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            **common,
        )
    ]
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(2):
        procs.append(
            subprocess.Popen(
                [
                    str(dask),
                    "worker",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                **common,
            )
        )
    address = json.loads(scheduler_file.read_text())["address"]
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
    yield address
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)
    left = survivors(mark)
    assert not left, f"processes of the Dask cluster outlived it: {left}"


@pytest.fixture(scope="module")
def scratch(full_mirror: Path, dask_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every stage on the full mirror, preprocessing on the external Dask cluster."""
    root = tmp_path_factory.mktemp("scratch")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _settings(monkeypatch, root, full_mirror, DESA_DASK_ADDRESS=dask_cluster)
        assert all(_run(*UPSTREAM, "spectra", "lightcurves"))
    return root


def test_stages_run_on_an_external_dask_scheduler(
    scratch: Path, full_mirror: Path, dask_cluster: str
) -> None:
    from distributed import Client

    truth = pd.read_parquet(full_mirror / "truth" / "spectra.parquet")
    spectra = xr.open_zarr(scratch / "spectra.zarr")
    assert sorted(spectra.obsid.values) == sorted(truth["obsid"])
    assert spectra.valid.values.all() and np.isfinite(spectra.flux.values).all()
    assert spectra.flux.encoding["chunks"] == (4, 3600)
    lightcurves = xr.open_zarr(scratch / "lightcurves.zarr")
    assert lightcurves.sizes["star"] > 0 and lightcurves.valid.values.any()
    manifest = read_parquet(DataRoot(scratch).fs, str(scratch / "manifests" / "spectra.parquet"))
    assert (manifest["status"] == "ok").all()
    # The shard tasks went through the external scheduler (its task history is not empty).
    with Client(dask_cluster, timeout=60) as client:
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
    assert prefixes


def _hide(mirror: Path, fraction: float) -> tuple[list[int], list[Path]]:
    """Remove about `fraction` of the spectra (and their catalog rows) and light curves."""
    truth = pd.read_parquet(mirror / "truth" / "spectra.parquet").sort_values("obsid")
    hidden = truth.iloc[:: int(1 / fraction)]
    for path in hidden["path"]:
        (mirror / path).unlink()
    catalog = mirror / CATALOG
    frame = pd.read_csv(
        io.BytesIO(gzip.decompress(catalog.read_bytes())), dtype=str, keep_default_na=False
    )
    kept = frame[~frame["obsid"].astype("int64").isin(hidden["obsid"])]
    catalog.write_bytes(gzip.compress(kept.to_csv(index=False).encode()))
    llc = sorted((mirror / "kepler").glob("**/*_llc.fits"))[:: int(1 / fraction)]
    for path in llc:
        path.unlink()
    return hidden["obsid"].tolist(), llc


def test_new_inputs_are_processed_alone_and_match_a_full_build(
    full_mirror: Path, scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(full_mirror, mirror)
    hidden, hidden_llc = _hide(mirror, 0.1)
    root = tmp_path / "root"
    _settings(monkeypatch, root, mirror)
    assert all(_run(*UPSTREAM, "spectra", "lightcurves"))
    first = read_parquet(DataRoot(root).fs, str(root / "manifests" / "spectra.parquet"))

    shutil.copytree(full_mirror, mirror, dirs_exist_ok=True)  # the new release arrives
    assert all(_run(*UPSTREAM, "spectra", "lightcurves"))
    state = json.loads((root / "state" / "spectra.json").read_text())
    assert state["summary"]["processed"] == len(hidden)
    after = read_parquet(DataRoot(root).fs, str(root / "manifests" / "spectra.parquet"))
    assert after.set_index("key").loc[first["key"], "row"].tolist() == first["row"].tolist()
    lc_state = json.loads((root / "state" / "lightcurves.json").read_text())
    assert 0 < lc_state["summary"]["processed"] <= len(hidden_llc)
    _assert_same_stores(root, scratch)

    # A new recipe redoes every spectrum in a fresh store.
    monkeypatch.setenv("DESA_SPECTRA__MASK_BAD_PIXELS_BEFORE_FIT", "true")
    assert all(_run("spectra"))
    state = json.loads((root / "state" / "spectra.json").read_text())
    assert state["summary"]["processed"] == state["summary"]["objects"] == len(after)
    store = xr.open_zarr(root / "spectra.zarr")
    assert store.attrs["mask_bad_pixels_before_fit"] is True and store.sizes["obs"] == len(after)


def test_sigkill_during_spectra_then_rerun_equals_uninterrupted(
    full_mirror: Path, scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    _settings(
        monkeypatch,
        root,
        full_mirror,
        DESA_SPECTRA__CHUNK_ROWS="1",
        DESA_SPECTRA__SHARD_ROWS="1",
        DESA_DASK__N_WORKERS="1",
    )
    assert all(_run(*UPSTREAM, "lightcurves"))
    manifest = root / "manifests" / "spectra.parquet"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "desa"), "run", "spectra"],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline, killed_at = time.monotonic() + 240, None
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists():
            statuses = pd.read_parquet(manifest)["status"]
            if (statuses == "ok").sum() >= 2:
                os.killpg(proc.pid, signal.SIGKILL)
                killed_at = int((statuses == "ok").sum())
                break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_at is not None, "the stage finished before it could be killed"
    assert (pd.read_parquet(manifest)["status"] == "pending").any()
    assert not (root / "state" / "spectra.json").exists()
    assert all(_run("spectra"))
    _assert_same_stores(root, scratch)
