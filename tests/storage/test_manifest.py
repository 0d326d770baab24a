from pathlib import Path

import fsspec
import pytest

from storage.manifest import (
    COLUMNS,
    ManifestRecord,
    TooManyFailures,
    check_failure_fraction,
    failure_fraction,
    merge_manifests,
    read_manifest,
    to_frame,
    write_manifest,
)

FS = fsspec.filesystem("file")


def test_missing_manifest_reads_as_empty_with_columns(tmp_path: Path) -> None:
    df = read_manifest(FS, str(tmp_path / "none.parquet"))
    assert df.empty and list(df.columns) == COLUMNS


def test_records_roundtrip_with_extra_columns(tmp_path: Path) -> None:
    path = str(tmp_path / "m.parquet")
    records = [
        ManifestRecord("a", "ok", path="raw/a", size=10, sha256="x", attempts=1),
        ManifestRecord("b", "failed", "HTTP 500 after 4 attempts", extra={"url": "http://h/b"}),
    ]
    write_manifest(FS, path, records)
    df = read_manifest(FS, path)
    assert list(df["key"]) == ["a", "b"]
    assert df.loc[1, "reason"] == "HTTP 500 after 4 attempts"
    assert df.loc[1, "url"] == "http://h/b"


def test_merge_prefers_new_rows_by_key() -> None:
    old = to_frame([ManifestRecord("a", "failed", "timeout"), ManifestRecord("b", "ok")])
    new = to_frame([ManifestRecord("a", "ok"), ManifestRecord("c", "ok")])
    merged = merge_manifests(old, new)
    assert list(merged["key"]) == ["a", "b", "c"]
    assert list(merged["status"]) == ["ok", "ok", "ok"]


def test_failure_fraction_ignores_absent_objects() -> None:
    df = to_frame(
        [
            ManifestRecord("a", "ok"),
            ManifestRecord("b", "failed", "corrupt gzip"),
            ManifestRecord("c", "absent", "quarter not observed"),
        ]
    )
    assert failure_fraction(df) == pytest.approx(0.5)
    check_failure_fraction(df, 0.5, "fetch")
    with pytest.raises(TooManyFailures, match="b: corrupt gzip"):
        check_failure_fraction(df, 0.49, "fetch")
