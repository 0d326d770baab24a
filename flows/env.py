"""Prefect defaults for local runs, applied before prefect is imported.

Only variables the user has not set are filled in: a PREFECT_HOME the user owns, analytics off
(offline runs otherwise log telemetry errors, research/stack.md §3), a generous ephemeral-server
start-up timeout for loaded 2-core machines. PREFECT_API_URL is never set here, so runs use the
ephemeral API unless the user points them at a server.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path


def default_prefect_home() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "desa" / "prefect"


def apply_prefect_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    if "PREFECT_HOME" not in environ:
        home = default_prefect_home()
        home.mkdir(parents=True, exist_ok=True)  # prefect creates only the last level
        environ["PREFECT_HOME"] = str(home)
    environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "true")
