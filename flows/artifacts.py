"""Prefect artifacts that summarise a stage run for the UI."""

from __future__ import annotations

import re

from flows.stage import Outcome


def artifact_key(stage: str, suffix: str) -> str:
    """Artifact keys allow lower-case letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]", "-", f"{stage}-{suffix}".lower())


def publish_stage_artifacts(stage: str, outcome: Outcome) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    state = outcome.state
    status = "ran" if outcome.ran else "skipped (up to date)"
    lines = [
        f"### {stage}: {status}",
        f"- reason: {outcome.reason}",
        f"- cache key: `{state.key[:16]}`",
        f"- finished: {state.finished_at} ({state.duration_s:.1f} s)",
        *(f"- {name}: `{path}`" for name, path in sorted(state.paths.items())),
        *(f"- {name}: {value}" for name, value in sorted(state.summary.items())),
    ]
    create_markdown_artifact("\n".join(lines), key=artifact_key(stage, "summary"))
    if outcome.rows:
        create_table_artifact(
            outcome.rows, key=artifact_key(stage, "table"), description=f"{stage}: {status}"
        )
