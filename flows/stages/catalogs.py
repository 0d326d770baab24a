"""Stage `catalogs`: every catalog fetched and normalised to Parquet, one task per catalog."""

from __future__ import annotations

import json

from prefect import task
from prefect.cache_policies import NO_CACHE

from catalogs.build import BuiltCatalog, build_catalog, source_fingerprint, source_url
from catalogs.specs import SPECS, CatalogSpec, LamostCatalogSource
from flows.clients import downloader, lamost_client, mast_client
from flows.settings import Settings
from flows.stage import StageContext, StageDef
from storage import layout
from storage.errors import BadInputError
from storage.manifest import ManifestRecord, check_failure_fraction, write_manifest
from storage.publish import atomic_write_bytes
from storage.state import StageResult
from storage.tables import read_parquet_metadata

NAME = "catalogs"
KEPLER_TREE = "source:kepler-tree"


def active_specs(settings: Settings) -> list[CatalogSpec]:
    """The demo sky mirrors the catalogs that have a mirror path; real runs need a source."""
    if settings.archive.catalog_mirror_url is not None:
        return [s for s in SPECS.values() if s.mirror_path is not None]
    return [s for s in SPECS.values() if s.source is not None]


def _url(spec: CatalogSpec, settings: Settings) -> str | None:
    lamost = lamost_client(settings)
    return source_url(spec, settings.archive.catalog_mirror_url, lamost.release_catalog_url)


def current_sources(settings: Settings) -> dict[str, str]:
    """A stamp of every source as it is now: each catalog (its file, or its VizieR `updated`
    date; LAMOST's own follows the release) and the Kepler archive tree."""
    stamps = {
        f"source:{spec.name}": source_fingerprint(
            spec, _url(spec, settings), settings.fetch.timeout_s
        )
        for spec in active_specs(settings)
    }
    return stamps | {KEPLER_TREE: mast_client(settings).tree_stamp()}


def _sources(ctx: StageContext) -> dict[str, str]:
    return current_sources(ctx.settings)


@task(name="build-catalog", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def build_catalog_task(spec: CatalogSpec, ctx: StageContext, url: str | None) -> BuiltCatalog:
    # The LAMOST token goes to LAMOST only, never to other catalog hosts.
    lamost = isinstance(spec.source, LamostCatalogSource)
    secrets = lamost_client(ctx.settings).secret_params() if lamost else None
    return build_catalog(spec, ctx.root, url, downloader(ctx.settings, secret_params=secrets))


def _write_sources_lock(ctx: StageContext, paths: dict[str, str]) -> str:
    """`sources.lock.json`: the version of every source the data root was built from."""
    archive = ctx.settings.archive
    catalogs = {
        name: {
            key: meta.get(key)
            for key in ("source", "version_stamp", "sha256", "rows", "retrieved_at", "citation")
        }
        | {"stamp": ctx.inputs.get(f"source:{name}")}
        for name, path in sorted(paths.items())
        if (meta := read_parquet_metadata(ctx.root.fs, path))
    }
    lock = {
        "lamost": {
            "base_url": archive.lamost_base_url,
            "dr": archive.lamost_dr,
            "version": archive.lamost_version,
        },
        "kepler": {
            "base_url": archive.mast_base_url,
            "data_release": "DR25",
            "stamp": ctx.inputs.get(KEPLER_TREE),
        },
        "catalogs": catalogs,
    }
    path = ctx.root.path(layout.SOURCES_LOCK)
    atomic_write_bytes(ctx.root.fs, path, json.dumps(lock, indent=2, sort_keys=True).encode())
    return path


def _body(ctx: StageContext) -> StageResult:
    previous, sources = ctx.previous, ctx.inputs
    outputs, paths, records, rows = {}, {}, [], []
    for spec in active_specs(ctx.settings):
        source_key = f"source:{spec.name}"
        path = ctx.root.of(layout.catalog(spec.name))
        unchanged = (
            previous is not None
            and not ctx.force
            and previous.inputs.get(source_key) == sources[source_key]
            and spec.name in previous.outputs
            and ctx.root.fs.exists(path)
        )
        if unchanged:
            outputs[spec.name], paths[spec.name] = previous.outputs[spec.name], path
            records.append(ManifestRecord(spec.name, "ok", "unchanged source", path))
            rows.append({"catalog": spec.name, "status": "unchanged", "rows": None, "reason": ""})
            continue
        url = _url(spec, ctx.settings)
        try:
            built = build_catalog_task(spec, ctx, url)
        except BadInputError as error:
            records.append(ManifestRecord(spec.name, "failed", str(error), extra={"url": url}))
            rows.append({"catalog": spec.name, "status": "failed", "rows": 0, "reason": str(error)})
            continue
        outputs[spec.name], paths[spec.name] = built.fingerprint, built.path
        records.append(
            ManifestRecord(
                spec.name,
                "ok",
                f"{built.rejected} rows rejected" if built.rejected else "",
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
    paths["sources_lock"] = _write_sources_lock(ctx, paths)
    # The archive tree, as an output, makes fetch-lightcurves list the targets again when
    # it changes, even with every catalog unchanged.
    outputs["kepler_tree"] = sources[KEPLER_TREE]
    manifest = write_manifest(ctx.root.fs, ctx.root.path(layout.manifest(NAME)), records)
    check_failure_fraction(manifest, ctx.settings.catalogs.max_failure_fraction, NAME)
    built_count = sum(r["status"] == "built" for r in rows)
    summary = {
        "catalogs": len(rows),
        "built": built_count,
        "unchanged": sum(r["status"] == "unchanged" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
    }
    return StageResult(outputs, paths, summary, rows)


STAGE = StageDef(
    name=NAME,
    version="3",
    writes=(
        "catalogs/<name>.parquet",
        "catalogs/rejected/",
        "manifests/catalogs.parquet",
        "sources.lock.json",
    ),
    reads=(),
    # The failure fraction is a policy, not part of what the stage produces: not in the key.
    config=lambda s: {"catalogs": sorted(spec.name for spec in active_specs(s))},
    body=_body,
    external_inputs=_sources,
    description="Fetch every catalog and normalise it to Parquet with provenance.",
)
