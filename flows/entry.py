"""The `desa` command (and `python -m flows`): Prefect defaults first, then the CLI."""

from __future__ import annotations

from flows.env import apply_prefect_defaults


def main() -> None:
    # Prefect reads its settings once, when it is imported; the CLI's modules import it.
    apply_prefect_defaults()
    from flows.cli import app

    app()
