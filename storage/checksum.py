"""Byte checksums of published outputs, kept in state records and checked by `desa verify`.

A file's checksum is its sha256; a folder's (a Zarr store) is the sha256 of the sorted list of
its files' relative names and sha256s. Files are read in chunks, never whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

import fsspec

from storage.fingerprint import sha256_file
from storage.layout import DataRoot

# storage.publish.temp_path_for: a hidden sibling named .<name>.tmp-<12 hex digits>, left
# behind only by a write that was interrupted; not part of what was published.
_TEMP_NAME = re.compile(r"^\..+\.tmp-[0-9a-f]{12}$")


def folder_files(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    """The files under ``folder`` in name order, without interrupted writes' temporaries."""
    folder = folder.rstrip("/")
    return sorted(
        path
        for path in fs.find(folder, withdirs=False)
        if not any(_TEMP_NAME.match(part) for part in path[len(folder) :].split("/"))
    )


def checksum(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """sha256 of a file; for a folder, sha256 of its files' relative names and sha256s."""
    if not fs.isdir(path):
        return sha256_file(fs, path)
    digest = hashlib.sha256()
    start = len(path.rstrip("/")) + 1
    for name in folder_files(fs, path):
        digest.update(f"{name[start:]}\0{sha256_file(fs, name)}\n".encode())
    return digest.hexdigest()


def output_checksums(root: DataRoot, paths: Mapping[str, str]) -> dict[str, str]:
    """The checksum of each recorded path (relative to the root, or full) that exists."""
    found = {name: root.resolve(path) for name, path in paths.items()}
    return {name: checksum(root.fs, path) for name, path in found.items() if root.fs.exists(path)}
