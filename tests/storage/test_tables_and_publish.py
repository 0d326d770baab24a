from pathlib import Path

import fsspec
import pandas as pd
import pytest

from storage import layout
from storage.fingerprint import fingerprint_frame, fingerprint_json, sha256_bytes, sha256_file
from storage.layout import DataRoot
from storage.publish import atomic_write_bytes, publishing
from storage.tables import read_parquet, read_parquet_metadata, write_parquet

FS = fsspec.filesystem("file")


def test_parquet_roundtrip_keeps_values_and_provenance(tmp_path: Path) -> None:
    df = pd.DataFrame({"kic": [1, 2], "gaia_source_id": ["2050248955672927744", "7"]})
    path = str(tmp_path / "t.parquet")
    write_parquet(df, FS, path, metadata={"source": "x", "rows": 2})
    pd.testing.assert_frame_equal(read_parquet(FS, path), df)
    assert read_parquet_metadata(FS, path) == {"rows": 2, "source": "x"}


def test_failed_publish_leaves_old_output_and_no_temp_files(tmp_path: Path) -> None:
    dest = str(tmp_path / "out.bin")
    atomic_write_bytes(FS, dest, b"old")

    def reject(_: str) -> None:
        raise ValueError("invalid")

    with pytest.raises(ValueError), publishing(FS, dest, validate=reject) as tmp:
        Path(tmp).write_bytes(b"new but invalid")
    assert Path(dest).read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_crash_inside_publish_is_invisible(tmp_path: Path) -> None:
    dest = tmp_path / "never.bin"
    with pytest.raises(RuntimeError), publishing(FS, str(dest)) as tmp:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError("killed")
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_fingerprints_change_with_content_only() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0]})
    assert fingerprint_frame(a) == fingerprint_frame(a.copy())
    assert fingerprint_frame(a) != fingerprint_frame(pd.DataFrame({"x": [1.0, 2.5]}))
    assert fingerprint_json({"a": 1, "b": 2}) == fingerprint_json({"b": 2, "a": 1})
    assert fingerprint_json({"a": 1}) != fingerprint_json({"a": 2})


def test_sha256_file_matches_bytes(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc" * 1000)
    assert sha256_file(FS, str(tmp_path / "f")) == sha256_bytes(b"abc" * 1000)


def test_data_root_layout_for_local_and_memory_urls(tmp_path: Path) -> None:
    root = DataRoot(tmp_path)
    assert root.is_local
    assert root.of(layout.catalog("berger2020")) == f"{tmp_path}/catalogs/berger2020.parquet"
    assert root.local_path("raw", "x") == tmp_path / "raw" / "x"
    memory = DataRoot("memory://bucket/desa")
    assert not memory.is_local
    assert memory.state_path("catalogs") == "/bucket/desa/state/catalogs.json"
    with pytest.raises(ValueError, match="not on the local filesystem"):
        memory.local_path("x")


def test_parquet_on_a_non_local_root() -> None:
    root = DataRoot("memory://tables-test")
    df = pd.DataFrame({"a": [1, 2, 3]})
    write_parquet(df, root.fs, root.of(layout.catalog("a")), metadata={"k": "v"})
    pd.testing.assert_frame_equal(read_parquet(root.fs, root.of(layout.catalog("a"))), df)
    assert read_parquet_metadata(root.fs, root.of(layout.catalog("a"))) == {"k": "v"}
