"""Prefect defaults for local runs, applied before prefect is imported.

Only variables the user has not set are filled in: a PREFECT_HOME the user owns, analytics off
(offline runs otherwise log telemetry errors, research/stack.md §3), a generous ephemeral-server
start-up timeout for loaded 2-core machines. PREFECT_API_URL is never set here, so runs use the
ephemeral API unless the user points them at a server.

PREFECT_HOME is created whoever chose it: Prefect makes only its last level, and with a missing
parent its ephemeral server retries "unable to open database file" for minutes before failing.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path


class PrefectHomeError(RuntimeError):
    """PREFECT_HOME names a folder that cannot be made."""


def default_prefect_home() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "desa" / "prefect"


def apply_prefect_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    if not environ.get("PREFECT_HOME"):
        environ["PREFECT_HOME"] = str(default_prefect_home())
    _make_home(Path(environ["PREFECT_HOME"]).expanduser())
    environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "true")


def _make_home(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PrefectHomeError(
            f"PREFECT_HOME={home} cannot be created ({error.strerror}): point PREFECT_HOME at "
            f"a folder you can write, or unset it to use {default_prefect_home()}"
        ) from None
