"""Fetch rate of the downloader against a loopback archive (no network, no prefect).

The mirror is served by ``bench.archive_server.ArchiveServer`` on 127.0.0.1, so the numbers
measure the client side (request handling, streaming, verification, atomic publish) plus a
local HTTP server, not an archive's bandwidth.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from bench.archive_server import ArchiveServer
from storage.download import Downloader, DownloadRequest


def fetch_rate(mirror_root: Path, n_files: int, concurrency: int) -> dict[str, float | int]:
    """Download the first ``n_files`` files of ``mirror_root`` (sorted walk) through a loopback
    ArchiveServer into a temporary folder; files/s and MB/s (10^6 bytes) over the whole fetch."""
    root = Path(mirror_root)
    rels = list(islice(_files(root), n_files))
    if not rels:
        raise ValueError(f"{root}: no files to fetch")
    with ArchiveServer(root) as server, tempfile.TemporaryDirectory(prefix="desa-fetch-") as tmp:
        requests = [DownloadRequest(key=r, url=server.url_for(r), dest=f"{tmp}/{r}") for r in rels]
        with Downloader(LocalFileSystem(), concurrency=concurrency) as downloader:
            start = time.perf_counter()
            records = downloader.fetch(requests)
            seconds = time.perf_counter() - start
    ok = [r for r in records if r.status == "ok"]
    total_bytes = sum(r.size for r in ok)
    return {
        "files": len(ok),
        "failed": len(records) - len(ok),
        "bytes": total_bytes,
        "concurrency": concurrency,
        "seconds": seconds,
        "files_per_s": len(ok) / seconds,
        "mb_per_s": total_bytes / 1e6 / seconds,
    }


def _files(root: Path) -> Iterator[str]:
    """Paths (relative, posix) of the mirror's files in a stable order, skipping dot-files."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                yield (Path(folder) / name).relative_to(root).as_posix()
