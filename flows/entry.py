"""The `desa` command (and `python -m flows`): Prefect defaults first, then the CLI.

A bad configuration (an unknown or invalid setting, a PREFECT_HOME that cannot be made) stops
every command at once with one line, before Prefect starts.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError
from pydantic_settings import SettingsError

from flows.env import PrefectHomeError, apply_prefect_defaults
from flows.setting_names import UnknownSetting
from flows.settings import Settings


def main() -> None:
    try:
        # Prefect reads its settings once, when it is imported; the CLI's modules import it.
        apply_prefect_defaults()
        Settings()
    except (PrefectHomeError, UnknownSetting, SettingsError) as error:
        sys.exit(f"desa: {error}")
    except ValidationError as error:
        sys.exit(f"desa: {invalid_settings(error)}")
    from flows.cli import app

    app()


def invalid_settings(error: ValidationError) -> str:
    """Every invalid setting of ``error`` on one line: where, what is wrong, the value."""
    problems = [
        f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {str(e['input'])[:60]!r})"
        for e in error.errors()
    ]
    return "invalid settings: " + "; ".join(problems)
