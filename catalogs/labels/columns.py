"""Column look-ups that survive a missing catalog or a missing column (all-missing instead)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

# The missing-value dtype of each kind of label column.
DTYPES = {"float": "float64", "bool": "boolean", "text": "object", "int": "Int64"}


def lookup(
    table: pd.DataFrame | None,
    keys: pd.Series | np.ndarray,
    column: str,
    kind: str,
    *,
    key: str = "kic",
) -> pd.Series:
    """``table[column]`` for each key (first row per key), all-missing when either is absent."""
    keys = pd.Series(np.asarray(keys, dtype=np.int64))
    if table is None or column not in table.columns or key not in table.columns:
        return empty(len(keys), kind)
    by_key = table.drop_duplicates(key).set_index(key)[column]
    values = keys.map(by_key)
    if kind == "text":
        return values.astype(object).where(values.notna(), None)
    return values.astype(DTYPES[kind])


def empty(n: int, kind: str) -> pd.Series:
    """``n`` missing values of this kind."""
    if kind == "text":
        return pd.Series([None] * n, dtype=object)
    return pd.Series(np.nan if kind == "float" else pd.NA, index=range(n), dtype=DTYPES[kind])


def keys_of(tables: Mapping[str, pd.DataFrame | None], names: tuple[str, ...]) -> np.ndarray:
    """Sorted distinct KICs found in any of these tables."""
    present = [tables[n]["kic"] for n in names if tables.get(n) is not None]
    if not present:
        return np.array([], dtype=np.int64)
    return np.unique(pd.concat(present).to_numpy(dtype=np.int64))
