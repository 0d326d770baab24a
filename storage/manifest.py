"""Per-object manifests: one row per file or object, with status and reason.

Paths and URLs under the data root are written relative to it (``relative_to_root``), so a
copied root reads its own files; readers turn them back with ``DataRoot.resolve``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import fsspec

from storage.layout import DataRoot
from storage.tables import read_parquet, write_parquet

# pandas is imported where a manifest is built: a download record, and `desa status` through
# the stages that make manifests, need none.
if TYPE_CHECKING:
    import pandas as pd

Status = Literal["ok", "failed", "absent"]
COLUMNS = ["key", "status", "reason", "path", "size", "sha256", "attempts", "updated_at"]
LOCATIONS = ("path", "url")  # the columns that name a file or where it came from


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ManifestRecord:
    """What happened to one object. ``extra`` holds stage-specific columns (e.g. url, kic)."""

    key: str
    status: Status
    reason: str = ""
    path: str = ""
    size: int = 0
    sha256: str = ""
    attempts: int = 0
    updated_at: str = field(default_factory=_now)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        return {**row.pop("extra"), **row}


class TooManyFailures(RuntimeError):
    """More objects failed than the configured fraction allows."""


def to_frame(records: Iterable[ManifestRecord | dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    rows = [r.as_dict() if isinstance(r, ManifestRecord) else dict(r) for r in records]
    df = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in df:
            df[column] = pd.Series(dtype="int64" if column in ("size", "attempts") else "object")
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + extra]


def read_manifest(fs: fsspec.AbstractFileSystem, path: str) -> pd.DataFrame:
    if not fs.exists(path):
        return to_frame([])
    return read_parquet(fs, path)


def relative_to_root(df: pd.DataFrame, root: DataRoot) -> pd.DataFrame:
    """``df`` with the paths and URLs of its ``LOCATIONS`` that lie under ``root`` written
    relative to it (others, such as an archive's https URLs, as they are)."""
    df = df.copy()
    for column in LOCATIONS:
        if column in df:
            df[column] = [v if not isinstance(v, str) else root.relative(v) for v in df[column]]
    return df


def merge_manifests(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``new`` replace rows of ``old`` with the same key; order is by key."""
    import pandas as pd

    if old.empty:
        merged = new
    elif new.empty:
        merged = old
    else:
        merged = pd.concat([old[~old["key"].isin(new["key"])], new], ignore_index=True)
    return merged.sort_values("key", kind="stable").reset_index(drop=True)


def write_manifest(
    fs: fsspec.AbstractFileSystem,
    path: str,
    records: Iterable[ManifestRecord | dict[str, Any]] | pd.DataFrame,
) -> pd.DataFrame:
    import pandas as pd

    df = records if isinstance(records, pd.DataFrame) else to_frame(records)
    write_parquet(df, fs, path)
    return df


def failure_fraction(df: pd.DataFrame) -> float:
    """Failed objects over objects attempted ('absent' ones were never there to fetch)."""
    considered = df[df["status"] != "absent"]
    return float((considered["status"] == "failed").mean()) if len(considered) else 0.0


def check_failure_fraction(df: pd.DataFrame, max_fraction: float, what: str) -> None:
    fraction = failure_fraction(df)
    if fraction > max_fraction:
        failed = df[df["status"] == "failed"]
        pairs = zip(failed["key"], failed["reason"], strict=True)
        examples = "; ".join(f"{k}: {r}" for k, r in pairs)[:600]
        raise TooManyFailures(
            f"{what}: {len(failed)} of {len(df)} failed ({fraction:.1%} > {max_fraction:.1%} "
            f"allowed). First failures: {examples}"
        )
