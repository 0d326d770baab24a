"""A stage killed anywhere, then rerun, ends exactly as an uninterrupted run; two runs at once;
no process left behind.

Kill matrix: a `desa run <stage>` process is SIGKILLed by its own failpoint
(`DESA_FAILPOINT=<stage>:<point>`, flows/failpoint.py) at ``early`` (just after the stage took
its lock), ``mid`` (after its first published file, or for the Dask stages after the first
shard's outcomes were recorded) or ``publish`` (its body returned, its state record not yet
written), on a data root where that stage never ran and every other stage is built. Then
`desa run <stage>` again must leave the stage's state record (cache key, content fingerprints),
every manifest's key/status/reason, the Zarr stores byte for byte and the set of files under the
data root as the uninterrupted build left them: no temporary or half-written file remains; and
each killed run shows in Prefect as Crashed (set by the run that found its lock), none as
running.

Cases: every stage of the demo profile (18) killed at ``early``, then ``mid``, then
``publish``, each run taking up what the killed one left, before the run that finishes: 54
kills. (For a stage that publishes one file, ``mid`` falls right after that file, before its
state record.)

Cost: every run is a real `desa run`/`desa rebuild` (the CLI's own entry point) in a process
of its own, forked from a server process that imported the pipeline once (multiprocessing's
forkserver), against one Prefect API server and one Dask cluster that the module starts: a
fresh interpreter would import torch, Prefect and the stages and start an ephemeral API per run
(~25 s each on the 2-core machine). The stage and its locks behave as in any `desa run`.

Two at once: two `desa rebuild` and two `desa run <stage> --force` started together: one runs,
the other stops at once with the one-line busy message (exit 1); the outputs equal the clean
build. (A rebuild requested while `desa serve` runs one queues behind it:
tests/flows/test_served_stack.py.)

No process survives the module: every process it started carries a marker in its
environment, and none is left after the module's fixture stopped them.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import forkserver, resource_tracker
from pathlib import Path

import httpx
import pandas as pd
import pytest

from flows.local_api import api_server_command
from flows.stages import stage_named, stages_for
from storage import layout
from tests.support.processes import MARK, survivors

pytestmark = pytest.mark.slow(seconds=150)  # on the 2-core machine

# A small sky and one-epoch models: the matrix checks what survives a kill, not the science.
DEMO = {
    "DESA_SKY__N_STARS": "40",
    "DESA_SKY__SEED": "11",
    "DESA_SKY__MAX_QUARTERS": "2",
    "DESA_SKY__WORKERS": "1",  # the same sky for any value; no process pool to start
    "DESA_FETCH__BATCH_SIZE": "10",  # several batches: a kill can fall between them
    "DESA_SPECTRA__CHUNK_ROWS": "8",
    "DESA_SPECTRA__SHARD_ROWS": "16",  # three shards
    "DESA_LIGHTCURVES__CHUNK_ROWS": "8",
    "DESA_LIGHTCURVES__SHARD_ROWS": "16",
    "DESA_EVALUATE__BINARY_WITHOUT_RUWE": "false",  # half the models to train and score
    "DESA_TRAINING__ACCELERATOR": "cpu",
    "DESA_TRAINING__DETERMINISTIC": "true",
    **{
        f"DESA_TRAINING__{model}__MAX_EPOCHS": "1"
        for model in ("SPECTRA", "LIGHTCURVES", "DUALFORMER", "BASELINES", "FINETUNE")
    },
}
# Imported once by the forkserver, so that each run starts with them loaded.
PRELOAD = [
    "flows.entry",
    "flows.cli",
    "flows.pipeline",
    "catalogs.crossmatch",
    "catalogs.labels.tables",
    "desa.sky.mirror",
    "desa.preprocess.runs",
    "desa.training.stages",
    "desa.products.embeddings",
    "desa.products.umap_maps",
    "desa.evaluate.run",
    "desa.report.build",
    __name__,
]
STAGES = [stage.name for stage in stages_for("demo")]
POINTS = ("early", "mid", "publish")
# Publishes before the Dask stages' first shard outcomes: an empty row manifest, allocations.
MID_AFTER = {"spectra": 3, "lightcurves": 3}
KILLED = -signal.SIGKILL  # multiprocessing's exit code of a process ended by SIGKILL


def _desa_main(argv: list[str], env: dict[str, str], log: str) -> None:
    """A `desa` command in this (forked) process, its output appended to ``log``."""
    os.environ.clear()
    os.environ.update(env)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    sys.argv = ["desa", *argv]
    from flows.entry import main

    main()


@dataclass
class World:
    folder: Path
    root: Path  # the data root every run uses
    reference: Path  # a copy of the root as the uninterrupted build left it
    env: dict[str, str]

    def flow_runs(self, *states: str, flow: str | None = None) -> list[dict]:
        """The module's Prefect flow runs (of the flow named ``flow``, in ``states``)."""
        body: dict = {"flow_runs": {"state": {"type": {"any_": list(states)}}}} if states else {}
        if flow:
            body["flows"] = {"name": {"any_": [flow]}}
        url = f"{self.env['PREFECT_API_URL']}/flow_runs/filter"
        response = httpx.post(url, json=body | {"limit": 200}, timeout=30)
        response.raise_for_status()
        return response.json()

    def start(self, *argv: str, **extra: str) -> tuple[multiprocessing.Process, Path]:
        log = self.folder / "logs" / f"{uuid.uuid4().hex[:8]}-{'-'.join(argv)}.log"
        context = multiprocessing.get_context("forkserver")
        process = context.Process(target=_desa_main, args=(list(argv), self.env | extra, str(log)))
        process.start()
        return process, log

    def desa(self, *argv: str, **extra: str) -> tuple[int, str]:
        process, log = self.start(*argv, **extra)
        process.join(300)
        assert process.exitcode is not None, f"desa {' '.join(argv)} still running after 300 s"
        return process.exitcode, log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_api(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A Prefect API server for every run of the module (no ephemeral one per run)."""
    port = _free_port()
    log = (folder / "prefect-api.log").open("ab")
    server = subprocess.Popen(
        api_server_command(port),
        env=env | {"PREFECT_UI_ENABLED": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while True:
        assert server.poll() is None, (folder / "prefect-api.log").read_text()
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the Prefect API did not start in 180 s"
        time.sleep(0.5)


def _stop_forkserver() -> None:
    # multiprocessing keeps one forkserver per process; stopping it (a private method, also
    # used by CPython's own tests) ends it now instead of when pytest exits.
    forkserver._forkserver._stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("faults")
    (folder / "logs").mkdir()
    mark = uuid.uuid4().hex
    # Started unmarked: multiprocessing's resource tracker serves this pytest process until
    # it exits, whoever started it.
    resource_tracker.ensure_running()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DESA_", "PREFECT_API"))}
    # COLUMNS: the CLI's console, made when the forkserver imports it, prints a line unbroken.
    base |= {MARK: mark, "PREFECT_HOME": str(folder / "prefect"), "COLUMNS": "1000"}
    server, api_url = _start_api(folder, base)
    cluster = None
    try:
        with pytest.MonkeyPatch.context() as patch:
            # Read when the forkserver and the Dask workers start (Prefect reads its settings
            # when it is imported).
            for name, value in (base | {"PREFECT_API_URL": api_url}).items():
                patch.setenv(name, value)
            from distributed import LocalCluster

            cluster = LocalCluster(
                n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            _stop_forkserver()
            multiprocessing.set_forkserver_preload(PRELOAD)
            multiprocessing.get_context("forkserver").Process(target=int).start()
        root = folder / "root"
        env = dict(os.environ) | base | DEMO
        env |= {
            "PREFECT_API_URL": api_url,
            "DESA_DATA_ROOT": str(root),
            "DESA_DASK_ADDRESS": cluster.scheduler_address,
        }
        world = World(folder, root, folder / "reference", env)
        code, log = world.desa("rebuild")
        assert code == 0, log[-3000:]
        shutil.copytree(root, world.reference, symlinks=True)
        yield world
    finally:
        _stop_forkserver()
        if cluster is not None:
            cluster.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        left = survivors(mark)
    assert not left, f"processes started by the fault tests outlived them: {left}"


def _restore(world: World) -> None:
    shutil.rmtree(world.root)
    shutil.copytree(world.reference, world.root, symlinks=True)


def _as_never_run(world: World, stage: str) -> None:
    """The built root, with ``stage``'s state record and outputs removed."""
    _restore(world)
    state = world.root / "state" / f"{stage}.json"
    # Recorded relative to the root (an absolute path of an older record stays absolute).
    doomed = [world.root / p for p in json.loads(state.read_text())["paths"].values()]
    assert doomed and all(path.exists() for path in doomed), doomed
    # Its folders too (`raw/lamost/` of fetch-spectra): what it wrote besides its products.
    doomed += [
        world.root / place.split(" (")[0]
        for place in stage_named(stage).writes
        if not any(c in place for c in "<*{")
    ]
    for path in [state, *doomed]:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _assert_as_uninterrupted(world: World, stage: str) -> None:
    root, reference = world.root, world.reference
    left = sorted(p for p in _files(root) if ".tmp-" in p or p.endswith(".partial"))
    assert not left, f"temporary files left under the data root: {left}"
    # Lock files included: a killed holder's lock file is gone once the rerun released it.
    assert _files(root) == _files(reference), (
        sorted(_files(root) - _files(reference)),
        sorted(_files(reference) - _files(root)),
    )
    state, expected = (
        json.loads((folder / "state" / f"{stage}.json").read_text()) for folder in (root, reference)
    )
    for field in ("key", "outputs", "paths"):
        assert state[field] == expected[field], field
    for manifest in sorted((reference / "manifests").glob("*.parquet")):
        columns = ["key", "status", "reason"]
        rerun, clean = (
            pd.read_parquet(folder / "manifests" / manifest.name, columns=columns)
            .sort_values("key")
            .reset_index(drop=True)
            for folder in (root, reference)
        )
        pd.testing.assert_frame_equal(rerun, clean, obj=manifest.name)
    stores = sorted(p for p in _files(reference) if ".zarr/" in p)
    changed = [p for p in stores if (root / p).read_bytes() != (reference / p).read_bytes()]
    assert not changed, f"Zarr files that differ from the uninterrupted build: {changed}"


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_killed_then_rerun_ends_as_if_never_killed(world: World, stage: str) -> None:
    """Killed at each point in turn, each run picking up what the killed one left, before
    the run that finishes."""
    _as_never_run(world, stage)
    for point in POINTS:
        failpoint = f"{stage}:{point}"
        if point == "mid" and stage in MID_AFTER:
            failpoint += f":{MID_AFTER[stage]}"
        code, log = world.desa("run", stage, DESA_FAILPOINT=failpoint)
        assert code == KILLED, f"not killed at {failpoint} (exit {code}):\n{log[-3000:]}"
        assert not (world.root / "state" / f"{stage}.json").exists()  # the record comes last

    code, log = world.desa("run", stage)
    assert code == 0, log[-3000:]
    _assert_as_uninterrupted(world, stage)
    # Each killed run was found dead by the run after it and shows as Crashed, not running.
    crashed = world.flow_runs("CRASHED", flow=stage)
    assert len(crashed) == len(POINTS), [(r["name"], r["state_name"]) for r in crashed]
    assert all("died while running" in r["state"]["message"] for r in crashed), crashed
    assert world.flow_runs("RUNNING", "PENDING") == []


def _pipeline_held(world: World) -> bool:
    """Whether a process holds the data root's pipeline lock (its kernel lock)."""
    path = world.root / layout.PIPELINE_LOCK
    if not path.exists():
        return False
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _together(world: World, *argv: str) -> list[tuple[int, str]]:
    """Two runs of one command, the second started once the first holds the pipeline (so
    they overlap however fast the machine starts processes)."""
    first = world.start(*argv)
    deadline = time.monotonic() + 120
    while not _pipeline_held(world) and first[0].is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first[0].is_alive(), "the first run ended before it was seen holding the pipeline"
    started = [first, world.start(*argv)]
    for process, _ in started:
        process.join(300)
    return [(process.exitcode, log.read_text(errors="replace")) for process, log in started]


def _one_ran_one_refused(outcomes: list[tuple[int, str]]) -> None:
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 1], outcomes
    refused = next(log for code, log in outcomes if code == 1)
    last = refused.strip().splitlines()[-1]  # the CLI's own line, after Prefect's run log
    assert "cannot start" in last and "is busy" in last, refused[-3000:]


def test_two_rebuilds_at_once_one_runs_the_other_stops(world: World) -> None:
    _as_never_run(world, "catalogs")
    _one_ran_one_refused(_together(world, "rebuild", "--until", "catalogs"))
    _assert_as_uninterrupted(world, "catalogs")


def test_two_runs_of_one_stage_at_once_one_runs_the_other_stops(world: World) -> None:
    _restore(world)
    _one_ran_one_refused(_together(world, "run", "catalogs", "--force"))
    _assert_as_uninterrupted(world, "catalogs")
