"""The catalogs stage: rebuild each catalog whose source changed, record every source's
version in ``sources.lock.json``, and quarantine the catalogs that fail in the manifest."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from catalogs.build import BuiltCatalog
from catalogs.specs import CatalogSpec
from storage import layout
from storage.errors import BadInputError
from storage.layout import DataRoot
from storage.manifest import (
    ManifestRecord,
    check_failure_fraction,
    relative_to_root,
    to_frame,
    write_manifest,
)
from storage.publish import atomic_write_bytes
from storage.state import StageResult, StageState
from storage.tables import read_parquet_metadata

KEPLER_TREE_SOURCE = "source:kepler-tree"  # the stamp of the Kepler archive tree

# Builds one catalog from its source URL (None: the spec's own source, e.g. VizieR).
Builder = Callable[[CatalogSpec, str | None], BuiltCatalog]


def source_key(spec: CatalogSpec) -> str:
    return f"source:{spec.name}"


def write_sources_lock(
    root: DataRoot,
    paths: Mapping[str, str],
    sources: Mapping[str, str],
    archives: Mapping[str, Mapping[str, Any]],
) -> str:
    """`sources.lock.json`: the version of every source the data root was built from;
    ``archives`` holds the LAMOST and Kepler archive entries (base URL, release). Sources
    under the data root (the demo mirror) are written relative to it."""
    catalogs = {
        name: {
            key: meta.get(key)
            for key in ("source", "version_stamp", "sha256", "rows", "retrieved_at", "citation")
        }
        | {"stamp": sources.get(f"source:{name}")}
        for name, path in sorted(paths.items())
        if (meta := read_parquet_metadata(root.fs, path))
    }
    lock = root.portable(
        {
            "lamost": dict(archives["lamost"]),
            "kepler": {**archives["kepler"], "stamp": sources.get(KEPLER_TREE_SOURCE)},
            "catalogs": catalogs,
        }
    )
    path = root.path(layout.SOURCES_LOCK)
    atomic_write_bytes(root.fs, path, json.dumps(lock, indent=2, sort_keys=True).encode())
    return path


def refresh_catalogs(
    root: DataRoot,
    specs: Sequence[CatalogSpec],
    urls: Mapping[str, str | None],
    build: Builder,
    sources: Mapping[str, str],
    archives: Mapping[str, Mapping[str, Any]],
    *,
    previous: StageState | None,
    force: bool,
    max_failure_fraction: float,
) -> StageResult:
    """Rebuild every catalog of ``specs`` whose source stamp (``sources``) changed since
    ``previous``; keep the others."""
    outputs, paths, records, rows = {}, {}, [], []
    for spec in specs:
        path = root.of(layout.catalog(spec.name))
        unchanged = (
            previous is not None
            and not force
            and previous.inputs.get(source_key(spec)) == sources[source_key(spec)]
            and spec.name in previous.outputs
            and root.fs.exists(path)
        )
        if unchanged:
            outputs[spec.name], paths[spec.name] = previous.outputs[spec.name], path
            records.append(ManifestRecord(spec.name, "ok", "unchanged source", path))
            rows.append({"catalog": spec.name, "status": "unchanged", "rows": None, "reason": ""})
            continue
        url = urls[spec.name]
        try:
            built = build(spec, url)
        except BadInputError as error:
            records.append(ManifestRecord(spec.name, "failed", str(error), extra={"url": url}))
            rows.append({"catalog": spec.name, "status": "failed", "rows": 0, "reason": str(error)})
            continue
        outputs[spec.name], paths[spec.name] = built.fingerprint, built.path
        records.append(
            ManifestRecord(
                spec.name,
                "ok",
                built.rejected_reason,
                built.path,
                built.rows,
                built.provenance["sha256"],
                extra={"url": url},
            )
        )
        rows.append(
            {"catalog": spec.name, "status": "built", "rows": built.rows, "reason": ""}
            | {"rejected": built.rejected, "path": built.path}
        )
    paths["sources_lock"] = write_sources_lock(root, paths, sources, archives)
    # The archive tree, as an output, makes fetch-lightcurves list the targets again when
    # it changes, even with every catalog unchanged.
    outputs[layout.KEPLER_TREE.output] = sources[KEPLER_TREE_SOURCE]
    manifest = write_manifest(
        root.fs, root.path(layout.CATALOG_MANIFEST), relative_to_root(to_frame(records), root)
    )
    check_failure_fraction(manifest, max_failure_fraction, "catalogs")
    summary = {
        "catalogs": len(rows),
        "built": sum(r["status"] == "built" for r in rows),
        "unchanged": sum(r["status"] == "unchanged" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
    }
    return StageResult(outputs, paths, summary, rows)
