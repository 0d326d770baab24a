"""Parquet I/O with atomic publish and JSON provenance in the file metadata."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import fsspec

from storage.publish import publishing

# pyarrow and pandas are imported by the functions that read or write a table: a module that
# only may write one (a stage's definition, read by `desa status`) does not pay for them.
if TYPE_CHECKING:
    import pandas as pd

_META_KEY = b"desa"


def write_parquet(
    df: pd.DataFrame,
    fs: fsspec.AbstractFileSystem,
    path: str,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write ``df`` to ``path`` atomically; ``metadata`` goes into the schema as JSON."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata is not None:
        merged = dict(table.schema.metadata or {})
        merged[_META_KEY] = json.dumps(metadata, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(merged)
    with publishing(fs, path, validate=lambda tmp: pq.read_metadata(tmp, filesystem=fs)) as tmp:
        pq.write_table(table, tmp, filesystem=fs)


def read_parquet(fs: fsspec.AbstractFileSystem, path: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    return pq.read_table(path, filesystem=fs).to_pandas()


def read_parquet_metadata(fs: fsspec.AbstractFileSystem, path: str) -> dict[str, Any]:
    """The provenance written by ``write_parquet`` (empty when there is none)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path, filesystem=fs)
    raw = (schema.metadata or {}).get(_META_KEY)
    return json.loads(raw) if raw else {}
