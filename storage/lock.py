"""A lock file so two runs of one stage (or two pipelines) never write the same outputs.

On a local (or NFS-mounted) data root the lock is a kernel lock (`fcntl.flock`) on the file:
the kernel releases it when its holder exits, however it exits, so a lock left by a killed
process is taken over because its holder is gone, never by guessing from its age, its host
name or a pid that may have been reused. The file's JSON (owner, pid, host, since) only says
who holds it. Object stores have no such lock: there a lock is taken over only when its
holder ran on this host and its pid is gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from types import TracebackType

import fsspec
from fsspec.implementations.local import LocalFileSystem


class LockHeld(RuntimeError):
    """Another run holds the lock; the message says who, since when and what to do, on one line."""

    def __init__(self, path: str, holder: dict, *, checkable: bool) -> None:
        self.path = path
        self.holder = holder
        self.holding = (
            f"{holder.get('owner') or 'a run'} (pid {holder.get('pid')} on "
            f"{holder.get('host')}) has held it since {holder.get('since')}"
        )
        if checkable:
            advice = "wait for that run to finish"
        else:  # an object store's lock of another host: only a person can tell it is gone
            advice = f"wait for that run to finish, or delete {path} if it is gone"
        super().__init__(f"{path} is locked: {self.holding}; {advice}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StageLock:
    """Exclusive lock on a path, released on exit (or by the kernel when its process dies)."""

    def __init__(self, fs: fsspec.AbstractFileSystem, path: str, owner: str = "") -> None:
        self.fs = fs
        self.path = path
        self.info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "owner": owner,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._fd: int | None = None

    def _holder(self) -> dict:
        try:
            with self.fs.open(self.path, "r") as handle:
                return json.load(handle)
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _take_local(self) -> bool:
        """Take the kernel lock of the file at our path; False while another process holds it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)  # the holder removed the file as we opened it: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(self.info).encode())
        self._fd = fd
        return True

    def _take_remote(self) -> bool:
        """Exists-then-write (object stores have no O_EXCL); a lock of a dead pid on this host
        is removed first."""
        holder = self._holder()
        if holder:
            same_host = holder.get("host") == socket.gethostname()
            if not (same_host and not _pid_alive(int(holder.get("pid", -1)))):
                return False
            self.fs.rm(self.path)
        elif self.fs.exists(self.path):
            return False  # being written by its holder
        with self.fs.open(self.path, "wb") as handle:
            handle.write(json.dumps(self.info).encode())
        return True

    def __enter__(self) -> StageLock:
        self.fs.makedirs(self.path.rpartition("/")[0], exist_ok=True)
        local = isinstance(self.fs, LocalFileSystem)
        if (self._take_local if local else self._take_remote)():
            return self
        holder = self._holder()
        checkable = local or holder.get("host") == socket.gethostname()
        raise LockHeld(self.path, holder, checkable=checkable)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.fs.exists(self.path):
            self.fs.rm(self.path)  # before the kernel lock goes, so no one locks a removed file
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
