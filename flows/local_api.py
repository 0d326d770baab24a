"""The ephemeral Prefect API of a command dies with the command.

Without a configured server (PREFECT_API_URL unset) Prefect starts an API server as a child
process (uvicorn serving `prefect.server.api.server:create_app`) and stops it from an exit
handler. A command killed with SIGKILL never runs that handler and leaves the server behind
(about 250 MB each). `die_with_this_process` registers, before Prefect first asks for its
server, one whose process the kernel sends SIGTERM when this process dies (Linux
`prctl(PR_SET_PDEATHSIG)`). Prefect looks its server up by port in a class-level registry,
key None for "any free port"; its own test harness registers its server there the same way.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Runs in the child between fork and exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def api_server_command(port: int) -> list[str]:
    """The command Prefect runs its ephemeral API server with (uvicorn, its app factory)."""
    import prefect

    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def die_with_this_process() -> None:
    """Make the ephemeral API server Prefect may start in this process end with it."""
    if os.environ.get("PREFECT_API_URL") or not sys.platform.startswith("linux"):
        return
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    if None in SubprocessASGIServer._instances:
        return  # already registered, or already started by Prefect

    class ServerDyingWithUs(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # The command and environment Prefect's own ephemeral server runs with.
            env = {
                **os.environ,
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
                **get_current_settings().to_environment_variables(exclude_unset=True),
            }
            parent = os.getpid()
            return subprocess.Popen(
                api_server_command(self.port),
                env=env,
                preexec_fn=lambda: _die_with_parent(parent),
            )

    ServerDyingWithUs()  # registers itself under the key None
