"""Errors for bad input (each names the file or object and the problem) and a full disk."""

from __future__ import annotations

import errno
import shutil
from os import PathLike
from pathlib import Path


class BadInputError(ValueError):
    """A malformed input file or row; the message names the file and the problem."""

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DiskFull(OSError):
    """No space left on the disk the pipeline writes to (ENOSPC): says where, how full it
    is, and what to do. Nothing half-written is published: every write goes to a temporary
    name first (storage.publish), and row outcomes are recorded after their data."""

    def __init__(self, where: str, during: str) -> None:
        self.where = where
        super().__init__(
            errno.ENOSPC,
            f"{during}: the disk holding {where} is full{_usage(where)}; free space there "
            "and run again (what was published is intact; the rerun completes the rest)",
            where,
        )

    def __str__(self) -> str:
        return self.strerror or ""


def _usage(where: str) -> str:
    folder = Path(where)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return ""
    return f" ({usage.free / 1e6:.1f} MB free of {usage.total / 1e6:.1f} MB)"


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno == errno.ENOSPC
