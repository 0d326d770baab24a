"""Content fingerprints: what a cache key is made of."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import fsspec

if TYPE_CHECKING:
    import pandas as pd

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(fs: fsspec.AbstractFileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_bytes(text.encode())


def fingerprint_frame(df: pd.DataFrame) -> str:
    """Hash of a table's columns, dtypes and values (row order matters)."""
    import pandas as pd  # here: a cache key made of file and JSON hashes needs no pandas

    digest = hashlib.sha256()
    digest.update(json.dumps([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()
