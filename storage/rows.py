"""Row allocation for stores that grow: which object lives in which row, and what to (re)do.

A row manifest has one row per object: ``key``, ``row`` (its row in the store, fixed for
life), ``input`` (fingerprint of what it was made from) and ``status`` ('pending' until its
data are written, then 'ok' or 'failed' with a reason; 'stale' while its object is not in
the current catalogs) and ``reader`` (which decoder read its
file(s), e.g. 'lean' or 'astropy'; '' until processed). Allocations are written before the
data and statuses after, so a run killed anywhere is finished by the next one: pending rows
are redone in place, nothing is appended twice.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

ROW_COLUMNS = ["key", "row", "input", "status", "reason", "reader"]


def empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "row" else "object") for c in ROW_COLUMNS}
    )


def allocate(manifest: pd.DataFrame, wanted: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Give every wanted object a row and say which objects need work.

    ``wanted`` has columns key and input. New keys get the next rows in key order; keys whose
    input changed, or that were left pending by an interrupted run, are redone in their row.
    Returns the updated manifest (work marked 'pending') and the keys to process.
    """
    manifest = (
        manifest.set_index("key", drop=False)
        if len(manifest)
        else empty().set_index("key", drop=False)
    )
    if "reader" not in manifest:  # a manifest written before the column existed
        manifest = manifest.assign(reader="")
    wanted = wanted.drop_duplicates("key").set_index("key", drop=False)
    known = wanted.index.intersection(manifest.index)
    changed = known[
        manifest.loc[known, "input"].to_numpy() != wanted.loc[known, "input"].to_numpy()
    ]
    pending = manifest.index[manifest["status"] == "pending"].intersection(wanted.index)
    new = sorted(wanted.index.difference(manifest.index))
    start = len(manifest)
    added = pd.DataFrame(
        {
            "key": new,
            "row": range(start, start + len(new)),
            "input": wanted.loc[new, "input"].to_numpy() if new else [],
            "status": "pending",
            "reason": "",
            "reader": "",
        }
    )
    redo = changed.union(pending)
    manifest.loc[redo, "input"] = wanted.loc[redo, "input"]
    manifest.loc[redo, ["status", "reason", "reader"]] = ["pending", "", ""]
    updated = pd.concat([manifest[ROW_COLUMNS], added], ignore_index=True)
    updated = updated.sort_values("row", kind="stable").reset_index(drop=True)
    return updated, sorted(redo) + new


def by_shard(rows: Iterable[int], shard_rows: int) -> dict[int, list[int]]:
    """Rows grouped by the shard (block of ``shard_rows`` rows) that owns them."""
    groups: dict[int, list[int]] = {}
    for row in sorted(rows):
        groups.setdefault(row // shard_rows, []).append(row)
    return groups


def runs(rows: list[int]) -> list[slice]:
    """Sorted rows as contiguous slices, for region writes."""
    out: list[slice] = []
    for row in rows:
        if out and out[-1].stop == row:
            out[-1] = slice(out[-1].start, row + 1)
        else:
            out.append(slice(row, row + 1))
    return out


def record(manifest: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Write the outcome (key, status, reason and, when given, reader) of processed objects
    into the manifest."""
    merged = manifest.set_index("key")
    if "reader" not in merged:
        merged = merged.assign(reader="")
    outcome = results.set_index("key")
    columns = [c for c in ("status", "reason", "reader") if c in outcome]
    merged.loc[outcome.index, columns] = outcome[columns]
    return merged.reset_index()[ROW_COLUMNS]


def mark_stale(manifest: pd.DataFrame, current: Iterable[str], why: str) -> pd.DataFrame:
    """Objects the current catalogs no longer list: their 'ok' rows become 'stale' (``why``)
    and stay in the store, so that nothing downstream reads them; an object listed again is
    'ok' again without being redone (its row and input are unchanged)."""
    listed = manifest["key"].isin(set(current))
    out = manifest.copy()
    gone = (out["status"] == "ok") & ~listed
    back = (out["status"] == "stale") & listed
    out.loc[gone, ["status", "reason"]] = ["stale", why]
    out.loc[back, ["status", "reason"]] = ["ok", ""]
    return out
