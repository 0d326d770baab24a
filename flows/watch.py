"""`watch-releases`: has a source published something the data root was not built from?

Each source is asked for what it offers now (the newest LAMOST release the archive lists, a
stamp of the Kepler archive tree, every catalog's stamp) and compared with `sources.lock.json`,
which the catalogs stage writes. Each change becomes a Prefect event that deployment triggers
act on (flows/serve.py): `desa.release.detected` for a survey release (a rebuild follows) and
`desa.catalog.updated` for a catalog (the catalogs stage and what depends on it). A change that
was announced is recorded in `state/releases.json`, so the same release never triggers twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event

from catalogs.refresh import KEPLER_TREE_SOURCE
from desa.surveys.lamost_client import Release, newest_release
from flows.clients import lamost_client, resolve_release
from flows.settings import Settings
from flows.stages.catalogs import current_sources
from storage import layout
from storage.layout import DataRoot
from storage.publish import atomic_write_bytes

RELEASE = "desa.release.detected"
CATALOG = "desa.catalog.updated"


@dataclass(frozen=True)
class SourceChange:
    event: str  # RELEASE or CATALOG
    source: str  # lamost, kepler, or a catalog's name
    old: str | None
    new: str
    followed: bool = True  # False: a LAMOST release that a pinned `lamost_dr` does not follow

    def resource(self) -> dict[str, str]:
        kind = "source" if self.event == RELEASE else "catalog"
        return {
            "prefect.resource.id": f"desa.{kind}.{self.source}",
            "prefect.resource.name": self.source,
        }


def _read_json(root: DataRoot, path: str) -> dict[str, Any] | None:
    if not root.fs.exists(path):
        return None
    with root.fs.open(path, "r") as handle:
        return json.load(handle)


def seen_path(root: DataRoot) -> str:
    return root.path(layout.RELEASES)


def detect_changes(settings: Settings) -> list[SourceChange]:
    """Every source that differs from what the data root was built from ([] before a build).

    When a followed survey release changed, the catalogs are left out: the rebuild it triggers
    brings every catalog up to date.
    """
    root = DataRoot(settings.data_root)
    lock = _read_json(root, root.path(layout.SOURCES_LOCK))
    if lock is None:
        return []
    built = Release.parse(lock["lamost"]["dr"], lock["lamost"]["version"])
    offered = lamost_client(settings).releases(timeout_s=settings.fetch.timeout_s)
    newest = newest_release(offered, settings.archive.lamost_version)
    releases = []
    if newest is not None and newest > built:
        follows = settings.archive.lamost_dr == "latest"
        releases.append(SourceChange(RELEASE, "lamost", str(built), str(newest), follows))
    stamps = current_sources(resolve_release(settings))
    if stamps[KEPLER_TREE_SOURCE] != lock["kepler"].get("stamp"):
        releases.append(
            SourceChange(RELEASE, "kepler", lock["kepler"].get("stamp"), stamps[KEPLER_TREE_SOURCE])
        )
    if any(change.followed for change in releases):
        return releases
    catalogs = [
        SourceChange(CATALOG, name, entry.get("stamp"), stamps[f"source:{name}"])
        for name, entry in sorted(lock["catalogs"].items())
        if stamps.get(f"source:{name}", entry.get("stamp")) != entry.get("stamp")
    ]
    return releases + catalogs


def to_announce(changes: list[SourceChange], seen: dict[str, str]) -> list[SourceChange]:
    """The changes to announce: followed, and not announced before with the same value."""
    return [c for c in changes if c.followed and seen.get(c.source) != c.new]


@flow(
    name="watch-releases",
    description="Compare every source with sources.lock.json; announce new releases as events.",
    log_prints=True,
)
def watch_releases() -> list[dict[str, Any]]:
    """Detect, announce (once) and record new releases and catalog updates."""
    log = get_run_logger()
    settings = Settings()
    root = DataRoot(settings.data_root)
    changes = detect_changes(settings)
    seen = _read_json(root, seen_path(root)) or {}
    announce = to_announce(changes, seen)
    for change in announce:
        emit_event(
            event=change.event,
            resource=change.resource(),
            payload={"source": change.source, "old": change.old, "new": change.new},
        )
        seen[change.source] = change.new
        log.info(f"{change.event}: {change.source} {change.old} -> {change.new}")
    if announce:
        atomic_write_bytes(root.fs, seen_path(root), json.dumps(seen, indent=2).encode())
    rows = [
        asdict(change)
        | {"status": _status(change, announce), "checked_at": datetime.now(UTC).isoformat()}
        for change in changes
    ]
    create_table_artifact(
        rows or [{"status": "every source is as built"}],
        key="watch-releases",
        description="Sources compared with sources.lock.json",
    )
    return rows


def _status(change: SourceChange, announced: list[SourceChange]) -> str:
    if not change.followed:
        return "newer release available; lamost_dr is pinned (set DESA_ARCHIVE__LAMOST_DR=latest)"
    return "announced" if change in announced else "announced before"
