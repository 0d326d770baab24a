"""A SIGKILLed command leaves no ephemeral Prefect API server behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

COMMAND = """
import time
from flows.env import apply_prefect_defaults
apply_prefect_defaults()
from flows.local_api import die_with_this_process
die_with_this_process()
from prefect import flow
from prefect.server.api.server import SubprocessASGIServer

@flow
def one() -> int:
    return 1

one()
print(SubprocessASGIServer._instances[None].server_process.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is gone too
        return handle.read().split()[2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_the_ephemeral_server_of_a_killed_command_ends_with_it(tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("PREFECT_API_URL", None)
    command = subprocess.Popen(
        [sys.executable, "-c", COMMAND], stdout=subprocess.PIPE, text=True, env=env
    )
    server = None
    try:
        server = int(command.stdout.readline())
        assert _alive(server)
        command.send_signal(signal.SIGKILL)
        command.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server), f"ephemeral API server {server} outlived its command"
    finally:
        command.kill()
        command.wait()
        if server is not None and _alive(server):
            os.kill(server, signal.SIGKILL)
