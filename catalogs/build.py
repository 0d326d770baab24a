"""Fetch one catalog from its source and publish it as normalised Parquet with provenance."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import requests

from catalogs.errors import CatalogFetchError, CatalogReadError, CatalogSourceError
from catalogs.specs import CatalogSpec, LamostCatalogSource, UrlSource, VizierSource
from storage import layout
from storage.download import Downloader, DownloadRequest
from storage.fingerprint import fingerprint_frame, fingerprint_json, sha256_file
from storage.layout import DataRoot
from storage.tables import write_parquet


@dataclass(frozen=True)
class BuiltCatalog:
    name: str
    path: str
    rows: int
    rejected: int
    fingerprint: str  # of the normalised table's content
    provenance: dict[str, Any]
    # For the manifest: how many rows were left out, where they are and the first reason.
    rejected_reason: str = ""


def source_url(
    spec: CatalogSpec, mirror_url: str | None, lamost_catalog_url: Callable[[str], str]
) -> str | None:
    """Where the catalog file is downloaded from; None for VizieR (fetched by astroquery).

    LAMOST's own catalogs follow the configured release, so they come from the LAMOST client
    (which a demo points at its mirror) rather than from a fixed mirror path.
    """
    if isinstance(spec.source, LamostCatalogSource):
        return lamost_catalog_url(spec.source.kind)
    if mirror_url is not None:
        if spec.mirror_path is None:
            raise ValueError(f"{spec.name} has no mirror path")
        return f"{mirror_url.rstrip('/')}/{spec.mirror_path}"
    if isinstance(spec.source, UrlSource):
        return spec.source.url
    return None


def source_fingerprint(spec: CatalogSpec, url: str | None, timeout_s: float = 30.0) -> str:
    """A cheap stamp that changes when the source changes, taken without downloading it.

    Local files are hashed; HTTP sources give ETag/Last-Modified/Content-Length; VizieR gives
    the catalog's `updated` date (research/data_sources.md §5).
    """
    if url is None:
        from catalogs.vizier import vizier_version_stamp  # astroquery: only for VizieR

        assert isinstance(spec.source, VizierSource)
        stamp = vizier_version_stamp(spec.source.catalog_id, timeout_s=timeout_s)
        return fingerprint_json({"vizier": spec.source.catalog_id, "version": stamp})
    if url.startswith("file://") or "://" not in url:
        fs, path = fsspec.core.url_to_fs(url)
        return sha256_file(fs, path) if fs.exists(path) else "missing"
    response = requests.head(url, timeout=timeout_s, allow_redirects=True)
    headers = {k: response.headers.get(k, "") for k in ("ETag", "Last-Modified", "Content-Length")}
    return fingerprint_json({"status": response.status_code, **headers})


@contextmanager
def _local_copy(fs: fsspec.AbstractFileSystem, path: str, is_local: bool) -> Iterator[Path]:
    if is_local:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp, path.rpartition("/")[2])
        fs.get_file(path, str(local))
        yield local


def build_catalog(
    spec: CatalogSpec, root: DataRoot, url: str | None, downloader: Downloader
) -> BuiltCatalog:
    """Download (or query), parse, normalise and publish one catalog.

    Raises ``CatalogSourceError`` (a bad-input error naming the catalog, the URL asked and
    the problem) when the source cannot be fetched or answers with something other than its
    table: a web page, another table, missing columns. The published Parquet is then left
    untouched.
    """
    # Imported here: astroquery and astropy's table readers cost a second, and `desa status`
    # imports this module only to stamp the sources.
    from catalogs.normalize import read_catalog
    from catalogs.vizier import fetch_vizier

    retrieved_at = datetime.now(UTC).isoformat(timespec="seconds")
    version_stamp = ""
    asked = url or f"vizier:{spec.source.catalog_id}/{spec.source.table or ''}"
    if url is None:
        assert isinstance(spec.source, VizierSource)
        raw_path = root.path(layout.RAW_CATALOGS, f"{spec.name}.tsv")
        try:
            result = fetch_vizier(spec.source.catalog_id, spec.source.table, raw_path, fs=root.fs)
        except CatalogFetchError as error:
            raise CatalogSourceError(spec.name, asked, str(error)) from error
        version_stamp = result.version_stamp
    else:
        raw_path = root.path(layout.RAW_CATALOGS, url.rpartition("/")[2].split("?")[0] or spec.name)
        # A changed source replaces the raw copy: never resume from an older version.
        if root.fs.exists(raw_path):
            root.fs.rm(raw_path)
        (record,) = downloader.fetch([DownloadRequest(key=spec.name, url=url, dest=raw_path)])
        if record.status != "ok":
            raise CatalogSourceError(spec.name, url, f"download failed: {record.reason}")
    with _local_copy(root.fs, raw_path, root.is_local) as local:
        try:
            normalised = read_catalog(local, spec)
        except CatalogReadError as error:
            problem = f"{error.problem} (raw copy: {raw_path})"
            raise CatalogSourceError(spec.name, asked, problem) from error
    table, rejected = normalised.table, normalised.rejected
    provenance = {
        "catalog": spec.name,
        "citation": spec.citation,
        "source": root.relative(url) if url else f"vizier:{spec.source.catalog_id}",
        "version_stamp": version_stamp,
        "retrieved_at": retrieved_at,
        "sha256": sha256_file(root.fs, raw_path),
        "rows": len(table),
        "rejected": len(rejected),
        "content_fingerprint": fingerprint_frame(table),
    }
    write_parquet(table, root.fs, root.of(layout.catalog(spec.name)), metadata=provenance)
    rejected_path = root.path("catalogs", "rejected", f"{spec.name}.parquet")
    rejected_reason = ""
    if len(rejected):
        write_parquet(rejected, root.fs, rejected_path, metadata={"catalog": spec.name})
        first = rejected.iloc[0]
        rejected_reason = (
            f"{len(rejected)} rows of {root.relative(raw_path)} rejected "
            f"(in {root.relative(rejected_path)}); "
            f"first: row {first['row']}: {first['reason']}"
        )
    elif root.fs.exists(rejected_path):
        root.fs.rm(rejected_path)
    return BuiltCatalog(
        spec.name,
        root.of(layout.catalog(spec.name)),
        len(table),
        len(rejected),
        provenance["content_fingerprint"],
        provenance,
        rejected_reason,
    )
