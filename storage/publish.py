"""Atomic publish: write under a temporary name, validate, then make visible by rename."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

# Called with the destination after each publish made by this process (flows/failpoint.py).
after_publish: list[Callable[[str], None]] = []


def temp_path_for(dest: str) -> str:
    """A hidden sibling of ``dest``; readers that list a folder skip dot-files."""
    head, _, name = dest.rpartition("/")
    return f"{head}/.{name}.tmp-{uuid.uuid4().hex[:12]}"


def clear_stale_temps(fs: fsspec.AbstractFileSystem, dest: str) -> None:
    """Remove temporaries of ``dest`` that a killed writer left; its stage lock, held by the
    caller, keeps any live writer of ``dest`` away."""
    head, _, name = dest.rpartition("/")
    for stale in fs.glob(f"{head}/.{name}.tmp-*"):
        fs.rm(stale, recursive=True)


def _rename(fs: fsspec.AbstractFileSystem, src: str, dest: str) -> None:
    if isinstance(fs, LocalFileSystem):
        os.replace(src, dest)  # atomic on POSIX, replaces an older version in one step
    else:
        fs.mv(src, dest)


def publish_file(local_tmp: Path, fs: fsspec.AbstractFileSystem, dest: str) -> None:
    """Move a finished local file to ``dest`` in ``fs`` without a half-written window."""
    fs.makedirs(dest.rpartition("/")[0], exist_ok=True)
    if isinstance(fs, LocalFileSystem):
        os.replace(local_tmp, dest)
    else:
        tmp = temp_path_for(dest)
        fs.put_file(str(local_tmp), tmp)
        _rename(fs, tmp, dest)
        local_tmp.unlink(missing_ok=True)
    _published(dest)


def atomic_write_bytes(fs: fsspec.AbstractFileSystem, dest: str, data: bytes) -> None:
    with publishing(fs, dest) as tmp, fs.open(tmp, "wb") as handle:
        handle.write(data)


@contextmanager
def publishing(
    fs: fsspec.AbstractFileSystem, dest: str, validate: Callable[[str], None] | None = None
) -> Iterator[str]:
    """Yield a temporary path; on success validate it and rename it onto ``dest``.

    On any error (in the body or in ``validate``) the temporary output is removed and
    ``dest`` is left as it was.
    """
    fs.makedirs(dest.rpartition("/")[0], exist_ok=True)
    clear_stale_temps(fs, dest)
    tmp = temp_path_for(dest)
    try:
        yield tmp
        if validate is not None:
            validate(tmp)
        if fs.isdir(dest) and fs.isdir(tmp):
            fs.rm(dest, recursive=True)
        _rename(fs, tmp, dest)
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp, recursive=True)
        raise
    _published(dest)


def _published(dest: str) -> None:
    for hook in after_publish:
        hook(dest)
