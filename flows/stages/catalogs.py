"""Stage `catalogs`: every catalog fetched and normalised to Parquet, one task per catalog."""

from __future__ import annotations

from catalogs.build import BuiltCatalog, build_catalog, source_fingerprint, source_url
from catalogs.refresh import KEPLER_TREE_SOURCE, refresh_catalogs, source_key
from catalogs.specs import SPECS, CatalogSpec, LamostCatalogSource
from flows.clients import downloader, lamost_client, mast_client
from flows.settings import Settings
from flows.stage import StageContext, StageDef
from flows.stages.lazy_task import lazy_task
from storage import layout
from storage.state import StageResult

NAME = "catalogs"


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
        source_key(spec): source_fingerprint(spec, _url(spec, settings), settings.fetch.timeout_s)
        for spec in active_specs(settings)
    }
    return stamps | {KEPLER_TREE_SOURCE: mast_client(settings).tree_stamp()}


def _sources(ctx: StageContext) -> dict[str, str]:
    return current_sources(ctx.settings)


@lazy_task(name="build-catalog", retries=1, retry_delay_seconds=5)
def build_catalog_task(spec: CatalogSpec, ctx: StageContext, url: str | None) -> BuiltCatalog:
    # The LAMOST token goes to LAMOST only, never to other catalog hosts.
    lamost = isinstance(spec.source, LamostCatalogSource)
    secrets = lamost_client(ctx.settings).secret_params() if lamost else None
    return build_catalog(spec, ctx.root, url, downloader(ctx.settings, secret_params=secrets))


def _archives(settings: Settings) -> dict[str, dict[str, str]]:
    archive = settings.archive
    return {
        "lamost": {
            "base_url": archive.lamost_base_url,
            "dr": archive.lamost_dr,
            "version": archive.lamost_version,
        },
        "kepler": {"base_url": archive.mast_base_url, "data_release": "DR25"},
    }


def _body(ctx: StageContext) -> StageResult:
    settings = ctx.settings
    specs = active_specs(settings)
    return refresh_catalogs(
        ctx.root,
        specs,
        {spec.name: _url(spec, settings) for spec in specs},
        lambda spec, url: build_catalog_task(spec, ctx, url),
        ctx.inputs,
        _archives(settings),
        previous=ctx.previous,
        force=ctx.force,
        max_failure_fraction=settings.catalogs.max_failure_fraction,
    )


STAGE = StageDef(
    name=NAME,
    version="4",  # a catalog whose rows all fail, or with path-like names, is refused
    writes=(
        layout.catalog("<name>").relpath,
        layout.rejected_rows("<name>"),
        layout.CATALOG_MANIFEST,
        layout.SOURCES_LOCK,
    ),
    reads=(),
    # The failure fraction is a policy, not part of what the stage produces: not in the key.
    config=lambda s: {"catalogs": sorted(spec.name for spec in active_specs(s))},
    body=_body,
    external_inputs=_sources,
    description="Fetch every catalog and normalise it to Parquet with provenance.",
)
