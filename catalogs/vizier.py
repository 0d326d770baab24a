"""Fetch one VizieR table with every column and every row, and store it as a VizieR TSV file.

astroquery's defaults silently truncate (``row_limit=50``, a default column subset), so the
client is always built with ``columns=["**"]`` (all columns plus VizieR's computed ``_RA``/``_DE``)
and ``row_limit=-1`` (no limit). The catalog's VizieR ``updated`` (else ``created``) date is the
version stamp used to notice a new release. The file written is what
``read_published(path, "vizier_tsv")`` reads, so a fetched table and a mirror copy share one reader.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
from astropy.table import Table
from astroquery.vizier import Vizier
from fsspec.implementations.local import LocalFileSystem

from catalogs.errors import CatalogFetchError, CatalogReadError
from catalogs.readers import read_published, table_to_frame
from storage.publish import atomic_write_bytes

ALL_COLUMNS = ["**"]
NO_ROW_LIMIT = -1


@dataclass(frozen=True)
class VizierResult:
    """Where the table was written (a path in its filesystem), the catalog's VizieR version
    stamp and the row count."""

    path: str
    version_stamp: str | None
    rows: int


def fetch_vizier(
    catalog_id: str,
    table: str | None,
    dest: str | Path,
    *,
    fs: fsspec.AbstractFileSystem | None = None,
    vizier: Callable[..., Any] | None = None,
    timeout_s: float = 600.0,
) -> VizierResult:
    """Download VizieR table ``catalog_id/table`` to ``dest`` in ``fs`` (default: the local
    filesystem) as VizieR TSV, written atomically.

    ``table=None`` asks for a catalog that holds a single table. ``vizier`` is the client
    factory, called like astroquery's ``Vizier(columns=..., row_limit=..., catalog=...,
    timeout=...)``; tests pass a fake, the default is astroquery's ``Vizier``. Raises
    ``CatalogFetchError`` when VizieR returns no rows or not the table asked for.
    """
    factory = Vizier if vizier is None else vizier
    client = factory(
        columns=ALL_COLUMNS, row_limit=NO_ROW_LIMIT, catalog=catalog_id, timeout=timeout_s
    )
    wanted = catalog_id if table is None else f"{catalog_id}/{table}"
    chosen = _pick_table(client.get_catalogs(wanted), catalog_id, table)
    version_stamp = _version_stamp(client.get_catalog_metadata(catalog=catalog_id))
    comments = [
        f"VizieR table {wanted}, all columns (**) and all rows, fetched with astroquery",
        f"catalog_id={catalog_id}",
        f"table={table or ''}",
        f"version_stamp={version_stamp or ''}",
        f"fetched_at={datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"rows={len(chosen)}",
    ]
    write_vizier_tsv(chosen, dest, comments=comments, fs=fs)
    return VizierResult(path=str(dest), version_stamp=version_stamp, rows=len(chosen))


def vizier_version_stamp(
    catalog_id: str, *, vizier: Callable[..., Any] | None = None, timeout_s: float = 60.0
) -> str | None:
    """The catalog's VizieR version stamp alone (a cheap query, for change detection)."""
    factory = Vizier if vizier is None else vizier
    client = factory(catalog=catalog_id, timeout=timeout_s)
    return _version_stamp(client.get_catalog_metadata(catalog=catalog_id))


def write_vizier_tsv(
    table: Table,
    dest: str | Path,
    *,
    comments: list[str],
    fs: fsspec.AbstractFileSystem | None = None,
) -> None:
    """Write ``table`` as VizieR ASU-TSV ('#' comments, header, units, dashes, rows) to
    ``dest`` in ``fs`` (default: the local filesystem).

    The file appears at ``dest`` only once complete and readable back with the same row count.
    """
    frame = table_to_frame(table)
    names = [str(name) for name in frame.columns]
    units = [str(table[name].unit or "") for name in names]
    # A tab or newline inside a text value would shift or split the row.
    for name in names:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(
                lambda value: (
                    value.replace("\t", " ").replace("\n", " ") if isinstance(value, str) else value
                )
            )
    head = [*(f"#{line}" for line in comments), "\t".join(names), "\t".join(units)]
    head.append("\t".join("-" * max(len(name), 1) for name in names))
    # pandas writes floats with repr, so no digits are lost on the way to text.
    rows = frame.to_csv(sep="\t", header=False, index=False, na_rep="", lineterminator="\n")
    data = ("\n".join(head) + "\n" + rows).encode("utf-8")
    # The reader needs a local file; the check runs before anything reaches ``dest``.
    with tempfile.TemporaryDirectory(prefix="desa-vizier-") as tmp:
        local = Path(tmp, "table.tsv")
        local.write_bytes(data)
        written = len(read_published(local, "vizier_tsv"))
    if written != len(frame):
        raise CatalogReadError(str(dest), f"wrote {written} rows, expected {len(frame)}")
    atomic_write_bytes(fs or LocalFileSystem(), str(dest), data)


def _pick_table(tables: Any, catalog_id: str, table: str | None) -> Table:
    keys = list(tables.keys())
    if table is None:
        if len(keys) != 1:
            raise CatalogFetchError(
                f"VizieR {catalog_id}: expected a single table, got {keys or 'none'}; name one"
            )
        chosen = tables[keys[0]]
    else:
        wanted = f"{catalog_id}/{table}"
        if wanted not in keys:
            raise CatalogFetchError(f"VizieR {catalog_id}: no table {wanted!r} in {keys}")
        chosen = tables[wanted]
    if len(chosen) == 0:
        raise CatalogFetchError(f"VizieR {catalog_id}: table {table or keys[0]!r} has no rows")
    return chosen


def _version_stamp(metadata: Table) -> str | None:
    """VizieR's 'updated' date of the catalog, else its 'created' date, else None."""
    if len(metadata) == 0:
        return None
    row = metadata[0]
    for name in ("updated", "created"):
        value = row[name] if name in metadata.colnames else None
        if value is not None and not np.ma.is_masked(value) and str(value).strip():
            return str(value).strip()
    return None
