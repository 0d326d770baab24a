"""A full disk while downloading, while writing a Zarr region and while publishing a file:
a clear error that says the disk is full and where, nothing half-written visible, and the
same work completes once space is freed. On a real size-limited disk (tmpfs)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import fsspec
import numpy as np
import pytest
import xarray as xr

from bench.archive_server import ArchiveServer
from storage import zarr_store
from storage.download import Downloader, DownloadRequest
from storage.errors import DiskFull
from storage.publish import atomic_write_bytes
from tests.support.disk import fill, small_disk

FS = fsspec.filesystem("file")
MB = 1 << 20


@pytest.fixture
def disk(tmp_path: Path):
    with small_disk(tmp_path / "disk", size_mb=16) as folder:
        yield folder


def _visible(folder: Path) -> list[str]:
    """What a reader listing the folder sees (temporary files are dot-files, and gone)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("transport", ["http", "file"])
def test_a_full_disk_while_downloading_stops_the_fetch_and_names_the_disk(
    disk: Path, tmp_path: Path, transport: str
) -> None:
    sources = tmp_path / "archive"
    sources.mkdir()
    for n in range(4):
        (sources / f"f{n}.bin").write_bytes(os.urandom(MB))
    with ArchiveServer(sources) as server:
        base = server.url if transport == "http" else sources.as_uri()
        _full_then_freed(
            disk,
            [
                DownloadRequest(f"f{n}", f"{base}/f{n}.bin", str(disk / "raw" / f"f{n}"))
                for n in range(4)
            ],
        )


def _full_then_freed(disk: Path, requests: list[DownloadRequest]) -> None:
    filler = fill(disk, leave_bytes=MB // 2)
    with pytest.raises(DiskFull) as full:
        Downloader(FS, concurrency=1).fetch(requests)
    message = str(full.value)
    assert message.startswith("downloading f0: the disk holding ")
    assert str(disk / "raw" / "f0") in message and "is full (" in message
    assert full.value.errno == errno.ENOSPC
    assert _visible(disk) == ["filler.bin"]  # no partial download, no temporary file
    filler.unlink()
    records = Downloader(FS, concurrency=1).fetch(requests)
    assert [r.status for r in records] == ["ok"] * 4


def test_a_full_disk_while_writing_a_zarr_region_keeps_the_store_whole(disk: Path) -> None:
    url = str(disk / "store.zarr")
    template = xr.Dataset({"flux": (("obs", "pixel"), np.zeros((0, 4096), "f4"))})
    zarr_store.create(url, template, "obs", chunk_rows=64, attrs={})
    zarr_store.resize(url, "obs", 256)
    rng = np.random.default_rng(0)
    part = xr.Dataset({"flux": (("obs", "pixel"), rng.normal(size=(256, 4096)).astype("f4"))})
    filler = fill(disk, leave_bytes=MB)
    with pytest.raises(OSError) as full:
        zarr_store.write_region(url, part, "obs", 0)
    assert full.value.errno == errno.ENOSPC  # the stage turns it into DiskFull (flows.stage)
    filler.unlink()
    zarr_store.write_region(url, part, "obs", 0)  # the rerun rewrites the same rows
    stored = zarr_store.read_array(url, "flux")
    np.testing.assert_array_equal(stored, part["flux"].to_numpy())


def test_a_full_disk_while_publishing_leaves_the_old_version(disk: Path) -> None:
    dest = str(disk / "models" / "train-spectra.ckpt")
    atomic_write_bytes(FS, dest, b"old model")
    filler = fill(disk, leave_bytes=MB)
    with pytest.raises(OSError) as full:
        atomic_write_bytes(FS, dest, os.urandom(3 * MB))
    assert full.value.errno == errno.ENOSPC
    assert Path(dest).read_bytes() == b"old model"
    assert _visible(disk) == ["filler.bin", "models/train-spectra.ckpt"]
    assert [p.name for p in (disk / "models").iterdir()] == ["train-spectra.ckpt"]
    filler.unlink()
    new = os.urandom(3 * MB)
    atomic_write_bytes(FS, dest, new)
    assert Path(dest).read_bytes() == new
