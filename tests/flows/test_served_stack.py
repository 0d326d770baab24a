"""The served system, live: docker-compose.yml's topology run natively on this machine.

PostgreSQL (Debian's, started by scripts/test-postgres.sh), `prefect server start` on it with
basic auth, `desa serve`, a `dask scheduler` with one `dask worker`, a process worker for the
`gpu` work pool and a static HTTP server for the report. Through the API the tests drive one
scenario, in file order, on a small demo sky: a rebuild (preprocessing on the Dask scheduler,
training on the `gpu` pool), a release published into the mirror and found by
`watch-releases/desa` (whose two events request two rebuilds at once), a stage rerun from the
API, the UI in Chromium, and a clean stop. Every process of the stack is stopped at the end,
whatever happened.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page

from flows.stages import downstream_of, stages_for
from storage import layout
from storage.layout import DataRoot
from storage.manifest import read_manifest
from storage.state import read_state
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.slow(seconds=360)  # on the 2-core machine

AUTH = "desa-test:served-stack-secret"
LAMOST_TOKEN = "lamost-served-5ecret-2718"
BIN = Path(sys.executable).parent
GPU_STAGES = {s.name for s in stages_for("demo") if s.gpu}
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
SERVED = {f"{s.name}/desa" for s in stages_for("demo")} | {"rebuild/desa", "watch-releases/desa"}
# A small sky and one-epoch models: the scenario checks the plumbing, not the science.
DEMO = {
    "DESA_SKY__N_STARS": "40",
    "DESA_SKY__SEED": "11",
    "DESA_SKY__MAX_QUARTERS": "2",
    "DESA_TRAINING__ACCELERATOR": "cpu",
    **{
        f"DESA_TRAINING__{model}__MAX_EPOCHS": "2"
        for model in ("SPECTRA", "LIGHTCURVES", "DUALFORMER", "BASELINES", "FINETUNE")
    },
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    folder: Path
    api_url: str
    data_root: Path
    dask_address: str
    report_url: str
    postgres_port: str
    client_env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        """A process in its own session, so that stopping it stops its children too."""
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        self.commands[name] = (command, env)
        return process

    def kill(self, name: str) -> None:
        """SIGKILL the process and everything in its group (a container stopped hard)."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    def restart(self, name: str) -> subprocess.Popen:
        return self.start(name, *self.commands[name])

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def desa(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "desa"), *args],
            env=self.client_env | {"COLUMNS": "300"},  # wide tables: no cut cell text
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _stop(process: subprocess.Popen, wait_s: float = 30) -> int | None:
    """SIGTERM to the process group, then SIGKILL to whatever is left of it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    return process.returncode


def _wait_for(check: Callable[[], Any], what: str, timeout: float, stack: Stack) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in stack.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited ({process.returncode}):\n{stack.log(name)}")
        try:
            result = check()
        except (httpx.HTTPError, OSError):
            result = None
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _api(stack: Stack, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
    headers = {"Authorization": "Basic " + _basic(AUTH)} if auth else {}
    response = httpx.request(
        method, f"{stack.api_url}{path}", json=body, headers=headers, timeout=30
    )
    response.raise_for_status()
    return response.json() if response.content else None


def _basic(auth: str) -> str:
    return base64.b64encode(auth.encode()).decode()


def _deployment(stack: Stack, name: str) -> dict:
    return _api(stack, "GET", f"/deployments/name/{name}")


def _run_deployment(stack: Stack, name: str, parameters: dict | None = None) -> str:
    deployment = _deployment(stack, name)
    run = _api(
        stack,
        "POST",
        f"/deployments/{deployment['id']}/create_flow_run",
        {"parameters": parameters or {}},
    )
    return run["id"]


def _flow_run(stack: Stack, run_id: str) -> dict:
    return _api(stack, "GET", f"/flow_runs/{run_id}")


def _wait_run(stack: Stack, run_id: str, timeout: float = 900) -> dict:
    def done() -> dict | None:
        run = _flow_run(stack, run_id)
        return run if run["state_type"] in TERMINAL else None

    run = _wait_for(done, f"flow run {run_id}", timeout, stack)
    assert run["state_type"] == "COMPLETED", (run["state"], stack.log("desa-serve")[-4000:])
    return run


def _flow_runs(stack: Stack, **flow_run_filter: Any) -> list[dict]:
    body = {"flow_runs": flow_run_filter, "sort": "START_TIME_ASC", "limit": 200}
    return _api(stack, "POST", "/flow_runs/filter", body)


def _children(stack: Stack, run_id: str) -> list[dict]:
    """The flow runs started inside ``run_id`` (subflows and run_deployment calls)."""
    tasks = _api(
        stack, "POST", "/task_runs/filter", {"task_runs": {"flow_run_id": {"any_": [run_id]}}}
    )
    ids = [t["id"] for t in tasks]
    return _flow_runs(stack, parent_task_run_id={"any_": ids}) if ids else []


def _flow_names(stack: Stack) -> dict[str, str]:
    flows = _api(stack, "POST", "/flows/filter", {"limit": 200})
    return {f["id"]: f["name"] for f in flows}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # /tmp, not pytest's 0700 temporary folders: the postgres user must reach the cluster.
    folder = Path(tempfile.mkdtemp(prefix="desa-stack-"))
    folder.chmod(0o755)
    port = {name: str(_free_port()) for name in ("postgres", "prefect", "dask", "report")}
    api_url = f"http://127.0.0.1:{port['prefect']}/api"
    data_root = folder / "data"
    (data_root / "report").mkdir(parents=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DESA_"))} | {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DESA_REAL_DATA": "/nonexistent",
    }
    client_env = (
        base
        | DEMO
        | {
            "PREFECT_HOME": str(folder / "client-home"),
            "PREFECT_API_URL": api_url,
            "PREFECT_API_AUTH_STRING": AUTH,
            "LAMOST_TOKEN": LAMOST_TOKEN,
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "DESA_DATA_ROOT": str(data_root),
            "DESA_DASK_ADDRESS": f"tcp://127.0.0.1:{port['dask']}",
            "DESA_SERVE__REPORT_URL": f"http://127.0.0.1:{port['report']}",
            "DESA_TRAINING__WORK_POOL": "gpu",
            "DESA_SCHEDULE__WATCH_INTERVAL": "",  # the tests run the watch themselves
        }
    )
    stack = Stack(
        folder,
        api_url,
        data_root,
        client_env["DESA_DASK_ADDRESS"],
        client_env["DESA_SERVE__REPORT_URL"],
        port["postgres"],
        client_env,
    )
    postgres = folder / "postgres"
    script = REPO_ROOT / "scripts" / "test-postgres.sh"
    subprocess.run([str(script), "start", str(postgres), port["postgres"]], check=True)
    try:
        server_env = base | {
            "PREFECT_HOME": str(folder / "server-home"),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": (
                f"postgresql+asyncpg://postgres@127.0.0.1:{port['postgres']}/prefect"
            ),
            "PREFECT_SERVER_API_AUTH_STRING": AUTH,
            "PREFECT_UI_API_URL": api_url,
            # A queued rebuild is offered its slot again after this long (default 30 s).
            "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "3",
        }
        stack.start(
            "prefect-server",
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                port["prefect"],
            ],
            server_env,
        )
        stack.start(
            "dask-scheduler",
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                port["dask"],
                "--no-dashboard",
            ],
            base,
        )
        # The worker runs Prefect tasks: it reports them to the same server.
        stack.start(
            "dask-worker",
            [str(BIN / "dask"), "worker", stack.dask_address, "--nthreads", "1", "--no-dashboard"],
            client_env,
        )
        stack.start(
            "report-http",
            [
                sys.executable,
                "-m",
                "http.server",
                port["report"],
                "--bind",
                "127.0.0.1",
                "--directory",
                str(data_root / "report"),
            ],
            base,
        )
        _wait_for(
            lambda: httpx.get(f"{api_url}/health", timeout=5).status_code == 200,
            "the Prefect server",
            180,
            stack,
        )
        stack.start("desa-serve", [str(BIN / "desa"), "serve"], client_env)
        stack.start(
            "gpu-worker",
            [
                str(BIN / "prefect"),
                "worker",
                "start",
                "--pool",
                "gpu",
                "--type",
                "process",
                "--name",
                "gpu-test-worker",
            ],
            client_env,
        )
        # `desa serve` registers its deployments one after the other.
        _wait_for(lambda: _served(stack) >= SERVED, "desa serve's deployments", 180, stack)
        yield stack
    finally:
        for process in reversed(stack.processes.values()):
            _stop(process)
        subprocess.run([str(script), "stop", str(postgres)], check=False)
        # The processes' logs stay with the test outputs, for a person to read.
        outputs = Path(os.environ.get("DESA_TEST_OUTPUTS", REPO_ROOT / ".test-outputs"))
        logs = outputs / "served-stack"
        logs.mkdir(parents=True, exist_ok=True)
        for log in folder.glob("*.log"):
            shutil.copy(log, logs / log.name)
        shutil.rmtree(folder, ignore_errors=True)
        leftovers = subprocess.run(
            ["pgrep", "-f", str(folder)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert not leftovers, f"processes of the stack outlived it: {leftovers}"


def _served(stack: Stack) -> set[str]:
    return set(_deployments(stack))


def _deployments(stack: Stack) -> dict[str, dict]:
    deployments = _api(stack, "POST", "/deployments/filter", {"limit": 200})
    flows = _flow_names(stack)
    return {f"{flows[d['flow_id']]}/{d['name']}": d for d in deployments}


def test_every_stage_rebuild_and_watch_are_served_as_desa_deployments(stack: Stack) -> None:
    names = _deployments(stack)
    assert set(names) == SERVED
    for name, deployment in names.items():
        stage = name.split("/")[0]
        assert deployment["description"], name
        on_pool = deployment["work_pool_name"]
        assert on_pool == ("gpu" if stage in GPU_STAGES else None), (name, on_pool)
    assert "Reads: catalogs (lamost_lrs_stellar)" in names["crossmatch/desa"]["description"]
    assert "Writes: crossmatch.parquet" in names["crossmatch/desa"]["description"]
    rebuild = names["rebuild/desa"]
    (schedule,) = rebuild["schedules"]
    assert schedule["schedule"]["cron"] == "0 4 * * 1" and schedule["active"]
    assert schedule["schedule"]["timezone"] == "UTC"
    assert rebuild["global_concurrency_limit"]["limit"] == 1
    assert rebuild["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    assert names["watch-releases/desa"]["schedules"] == []  # switched off by the empty setting
    assert set(rebuild["parameter_openapi_schema"]["properties"]) == {"force", "until"}
    assert {"force", "downstream"} <= set(
        names["crossmatch/desa"]["parameter_openapi_schema"]["properties"]
    )
    automations = _api(stack, "POST", "/automations/filter", {})
    expects = {tuple(a["trigger"]["expect"]) for a in automations}
    assert {("desa.release.detected",), ("desa.catalog.updated",)} <= expects


def test_a_request_without_the_auth_string_is_refused(stack: Stack) -> None:
    refused = httpx.post(f"{stack.api_url}/deployments/filter", json={}, timeout=10)
    assert refused.status_code == 401
    assert httpx.get(f"{stack.api_url}/health", timeout=10).status_code == 200
    assert _api(stack, "POST", "/deployments/filter", {})


def test_a_rebuild_runs_preprocessing_on_dask_and_training_on_the_gpu_pool(stack: Stack) -> None:
    from distributed import Client

    run = _wait_run(stack, _run_deployment(stack, "rebuild/desa"), timeout=1200)
    children = _children(stack, run["id"])
    flows = _flow_names(stack)
    ran = {flows[child["flow_id"]]: child for child in children}
    assert set(ran) == {s.name for s in stages_for("demo")}
    assert all(child["state_type"] == "COMPLETED" for child in children)
    for stage, child in ran.items():
        expected_pool = "gpu" if stage in GPU_STAGES else None
        assert child["work_pool_name"] == expected_pool, (stage, child["work_pool_name"])
    worker = stack.log("gpu-worker")
    for stage in GPU_STAGES:
        assert ran[stage]["name"] in worker, f"the gpu worker did not run {stage}"
    with Client(stack.dask_address, timeout=30) as dask:
        prefixes = dask.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert {"spectra_shard", "lightcurve_shard"} <= set(prefixes), prefixes
    root = DataRoot(stack.data_root)
    assert all(read_state(root.fs, root.state_path(s.name)) for s in stages_for("demo"))
    assert (stack.data_root / "report" / "index.html").is_file()
    served = httpx.get(f"{stack.report_url}/index.html", timeout=10)
    assert served.status_code == 200 and "DESA" in served.text


def test_serve_stops_cleanly_on_sigterm_and_a_restart_serves_again(stack: Stack) -> None:
    serve = stack.processes.pop("desa-serve")
    os.killpg(serve.pid, signal.SIGTERM)
    assert serve.wait(60) == 0, stack.log("desa-serve")[-3000:]
    assert "graceful shutdown" in stack.log("desa-serve").lower()
    assert _deployment(stack, "rebuild/desa")["paused"]  # while nobody serves it
    # Back without the work pool: from now on the training stages run inside `desa serve`.
    stack.client_env["DESA_TRAINING__WORK_POOL"] = ""
    stack.start("desa-serve", [str(BIN / "desa"), "serve"], stack.client_env)

    def served_again() -> bool:
        in_process = _deployment(stack, "train-spectra/desa")["work_pool_name"] is None
        return in_process and not _deployment(stack, "rebuild/desa")["paused"]

    _wait_for(served_again, "desa serve to serve again", 120, stack)


def _rows(root: DataRoot, name: str) -> int:
    return len(read_manifest(root.fs, root.path(layout.manifest(name))))


def test_a_published_release_is_found_and_only_new_data_are_processed(stack: Stack) -> None:
    root = DataRoot(stack.data_root)
    manifests = ("fetch-spectra", "spectra", "fetch-lightcurves", "lightcurves")
    before = {name: _rows(root, name) for name in manifests}
    published = stack.desa("demo-sky", "--release", "dr9")
    assert published.returncode == 0, published.stderr
    truth = _truth_counts(stack.data_root)

    watch = _wait_run(stack, _run_deployment(stack, "watch-releases/desa"))

    def triggered() -> list[dict] | None:
        runs = _rebuilds_since(stack, watch["start_time"])
        return runs if runs and all(r["state_type"] in TERMINAL for r in runs) else None

    rebuilds = _wait_for(triggered, "the triggered rebuilds", 1200, stack)
    # One rebuild per release event (LAMOST dr9, the Kepler tree), requested at once: the
    # concurrency limit queues the second behind the first, which did the work.
    assert len(rebuilds) == 2 and all(r["state_type"] == "COMPLETED" for r in rebuilds)
    assert all(r["created_by"]["type"] == "AUTOMATION" for r in rebuilds)
    first, second = sorted(rebuilds, key=lambda r: r["start_time"])
    assert _at(first["end_time"]) <= _at(second["start_time"]), (first, second)

    after = {name: _rows(root, name) for name in manifests}
    assert after["fetch-spectra"] - before["fetch-spectra"] == truth["new_spectra"]
    assert after["spectra"] - before["spectra"] == truth["new_spectra"]
    assert after["lightcurves"] - before["lightcurves"] == truth["new_stars"]
    assert after["fetch-lightcurves"] - before["fetch-lightcurves"] == truth["new_files"]
    # Processed: exactly the new rows; the old ones were kept.
    assert (
        read_state(root.fs, root.state_path("spectra")).summary["processed"]
        == (truth["new_spectra"])
    )
    assert (
        read_state(root.fs, root.state_path("lightcurves")).summary["processed"]
        == (truth["new_stars"])
    )
    catalogs = read_state(root.fs, root.state_path("catalogs")).summary
    assert catalogs["built"] == 2 and catalogs["unchanged"] == catalogs["catalogs"] - 2
    lock = json.loads((stack.data_root / "sources.lock.json").read_text())
    assert (lock["lamost"]["dr"], lock["lamost"]["version"]) == ("dr9", "v2.0")

    # Announced once: the next watch finds the data root built from what the sources offer.
    again = _wait_run(stack, _run_deployment(stack, "watch-releases/desa"))
    time.sleep(5)
    assert _rebuilds_since(stack, again["start_time"]) == []


def _rebuilds_since(stack: Stack, moment: str) -> list[dict]:
    """Runs of rebuild/desa created after ``moment`` (not the schedule's future runs)."""
    rebuild = _deployment(stack, "rebuild/desa")["id"]
    runs = _flow_runs(stack, deployment_id={"any_": [rebuild]})
    return [r for r in runs if _at(r["created"]) > _at(moment)]


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def _truth_counts(data_root: Path) -> dict[str, int]:
    """What the release added, from the mirror's truth tables."""
    import pandas as pd

    truth = data_root / "mirror" / "truth"
    spectra = pd.read_parquet(truth / "spectra.parquet")
    stars = pd.read_parquet(truth / "stars.parquet")
    files = pd.read_parquet(truth / "lightcurves.parquet")
    new_stars = stars[(stars["release"] == "dr9") & stars["is_kepler_target"]]
    return {
        "new_spectra": int((spectra["release"] == "dr9").sum()),
        "new_stars": len(new_stars),
        "new_files": int((files["release"] == "dr9").sum()),
    }


def test_a_stage_run_from_the_api_reruns_it_and_only_what_depends_on_it(stack: Stack) -> None:
    root = DataRoot(stack.data_root)
    stages = [s.name for s in stages_for("demo")]
    finished = {name: read_state(root.fs, root.state_path(name)).finished_at for name in stages}
    run_id = _run_deployment(stack, "crossmatch/desa", {"force": True, "downstream": True})
    run = _wait_run(stack, run_id)
    assert _flow_names(stack)[run["flow_id"]] == "crossmatch"
    now = {name: read_state(root.fs, root.state_path(name)).finished_at for name in stages}
    assert now["crossmatch"] > finished["crossmatch"]
    # The same matches: every stage downstream was checked, found up to date and skipped;
    # nothing upstream was touched.
    assert {name for name in stages if now[name] != finished[name]} == {"crossmatch"}
    (table,) = _api(
        stack,
        "POST",
        "/artifacts/filter",
        {
            "artifacts": {
                "flow_run_id": {"any_": [run_id]},
                "key": {"any_": ["crossmatch-downstream-stages"]},
            }
        },
    )
    checked = {row["stage"]: row["outcome"] for row in json.loads(table["data"])}
    assert checked == {s.name: "up to date" for s in downstream_of("crossmatch", "demo")}


def test_status_shows_each_stage_last_flow_run(stack: Stack) -> None:
    result = stack.desa("status", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "not reachable" not in result.stdout
    for stage in stages_for("demo"):
        row = next(line for line in result.stdout.splitlines() if f" {stage.name} " in line)
        link = re.search(re.escape(stack.ui_url) + r"/runs/flow-run/([0-9a-f-]{36})", row)
        assert "Completed" in row and link, row
        # The link is the newest run of that stage (crossmatch: the one run from the API).
        run = _flow_run(stack, link.group(1))
        assert _flow_names(stack)[run["flow_id"]] == stage.name


def _health(stack: Stack) -> bool:
    return httpx.get(f"{stack.api_url}/health", timeout=5).status_code == 200


def test_a_rebuild_killed_with_the_server_and_serve_shows_crashed_and_the_next_finishes(
    stack: Stack,
) -> None:
    """While a served rebuild runs, a stage run from the CLI is refused. SIGKILL the Prefect
    server and `desa serve` (with the run it is executing) mid-rebuild; restart both: the dead
    runs show as Crashed and the next rebuild finishes the work."""
    killed = _run_deployment(stack, "rebuild/desa", {"force": True})
    lock = stack.data_root / layout.PIPELINE_LOCK
    _wait_for(lambda: killed in lock.read_text(), "the rebuild to hold the pipeline", 300, stack)
    # A run started by hand meanwhile is refused with one line, not queued or run beside it.
    beside = stack.desa("run", "catalogs", "--force")
    assert beside.returncode == 1, (beside.stdout, beside.stderr)
    assert "cannot start" in beside.stdout and "is busy" in beside.stdout, beside.stdout

    def training() -> dict | None:
        names = _flow_names(stack)
        children = _children(stack, killed)
        return next(
            (
                c
                for c in children
                if names[c["flow_id"]] == "train-spectra" and c["state_type"] == "RUNNING"
            ),
            None,
        )

    inside = _wait_for(training, "the forced rebuild to reach train-spectra", 600, stack)
    stack.kill("desa-serve")
    stack.kill("prefect-server")
    stack.restart("prefect-server")
    _wait_for(lambda: _health(stack), "the Prefect server to restart", 180, stack)
    stack.restart("desa-serve")

    def crashed() -> list[dict] | None:
        runs = [_flow_run(stack, killed), _flow_run(stack, inside["id"])]
        return runs if all(r["state_type"] == "CRASHED" for r in runs) else None

    runs = _wait_for(crashed, "the killed runs to show as Crashed", 180, stack)
    for run in runs:
        assert "died while running; found by desa serve" in run["state"]["message"], run["state"]
    running = _flow_runs(stack, state={"type": {"any_": ["RUNNING"]}})
    assert running == [], [r["name"] for r in running]
    _wait_for(lambda: not _deployment(stack, "rebuild/desa")["paused"], "serve again", 120, stack)

    _wait_run(stack, _run_deployment(stack, "rebuild/desa"), timeout=900)
    status = stack.desa("status", timeout=120)
    assert status.returncode == 0, status.stderr
    for stage in stages_for("demo"):
        row = next(line for line in status.stdout.splitlines() if f" {stage.name} " in line)
        assert "up to date" in row, row


def test_the_ui_shows_runs_artifacts_and_the_schedule(
    stack: Stack, new_page: Callable[..., Page], screenshots: Path
) -> None:
    page = new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    errors: list[str] = []

    # Chromium asks every site for /favicon.ico on its own, and Prefect's server has none;
    # Prefect's UI (3.9.1) asks its own server for /ico/undefined.svg on a crashed run's page
    # (an icon named after something it left undefined), which its server does not have.
    not_ours = ("/favicon.ico", "/ico/undefined.svg")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location["url"].endswith(not_ours):
            errors.append(f"{message.text} ({message.location['url']})")

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The UI keeps the basic-auth string in local storage once a user has typed it.
    page.add_init_script(f"localStorage.setItem('prefect-password', btoa('{AUTH}'))")

    page.goto(f"{stack.ui_url}/runs")
    for name in ("rebuild", "spectra", "train-spectra", "report"):  # with its stage subflows
        page.get_by_text(name, exact=True).first.wait_for()
    completed = page.get_by_text("Completed", exact=True)
    completed.first.wait_for()
    assert completed.count() >= len(stages_for("demo"))
    page.screenshot(path=screenshots / "ui-runs.png", full_page=True)

    (killed,) = _flow_runs(
        stack,
        state={"type": {"any_": ["CRASHED"]}},
        parent_task_run_id={"is_null_": True},  # the rebuild, not its stage runs
    )
    page.goto(f"{stack.ui_url}/runs/flow-run/{killed['id']}")
    page.get_by_text("Crashed", exact=True).first.wait_for()  # not shown as running
    page.screenshot(path=screenshots / "ui-crashed-run.png", full_page=True)

    rebuild = _deployment(stack, "rebuild/desa")
    page.goto(f"{stack.ui_url}/deployments/deployment/{rebuild['id']}")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=screenshots / "ui-rebuild-deployment.png", full_page=True)
    page.get_by_text(re.compile(r"0 4 \* \* 1|Monday")).first.wait_for()

    artifacts = _api(
        stack,
        "POST",
        "/artifacts/filter",
        {"artifacts": {"key": {"any_": ["report-key-figures", "catalogs-table"]}}},
    )
    by_key = {a["key"]: a for a in artifacts}
    page.goto(f"{stack.ui_url}/artifacts/artifact/{by_key['catalogs-table']['id']}")
    page.locator("table").first.wait_for()
    assert page.get_by_text("mcquillan2014").count() > 0
    page.screenshot(path=screenshots / "ui-catalogs-table.png", full_page=True)

    page.goto(f"{stack.ui_url}/artifacts/artifact/{by_key['report-key-figures']['id']}")
    image = page.locator("img").first
    image.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", image.element_handle())
    link = page.get_by_text("Open the full report")
    assert link.get_attribute("href") == f"{stack.report_url}/index.html"
    page.screenshot(path=screenshots / "ui-key-figures.png", full_page=True)
    assert errors == [], errors


def test_no_secret_is_in_logs_outputs_or_the_database(stack: Stack) -> None:
    """The Prefect auth string and the LAMOST token, after builds and the release scenario."""
    pg_dump = [_postgres_bin("pg_dump"), "-h", "127.0.0.1", "-p", stack.postgres_port]
    dump = subprocess.run(
        [*pg_dump, "-U", "postgres", "prefect"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "watch-releases" in dump  # the dump holds the runs
    for secret in (AUTH.partition(":")[2], LAMOST_TOKEN):
        logs = {name: stack.log(name) for name in stack.processes}
        assert [name for name, text in logs.items() if secret in text] == []
        # Every file of the stack: data root, Prefect homes, logs (the database: its dump).
        written = [
            path
            for path in stack.folder.rglob("*")
            if path.relative_to(stack.folder).parts[0] != "postgres"
            and path.is_file()
            and secret.encode() in path.read_bytes()
        ]
        assert written == []
        assert secret not in dump


def _postgres_bin(name: str) -> str:
    return str(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))[-1])
