"""A lock file so two runs of one stage (or two pipelines) never write the same outputs.

On a local (or NFS-mounted) data root the lock is a kernel lock (`fcntl.flock`) on the file:
the kernel releases it when its holder exits, however it exits, so a lock left by a killed
process is taken over because its holder is gone, never by guessing from its age, its host
name or a pid that may have been reused. The file's JSON (owner, pid, host, since) only says
who holds it, and is removed on release: a file found under a lock just taken was left by a
killed holder, and `taken_over_from` says who that was. Object stores have no such lock: there
a lock is taken over only when its holder ran on this host and its pid is gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import UTC, datetime
from types import TracebackType

import fsspec
from fsspec.implementations.local import LocalFileSystem

_PROBE_RETRIES = 5  # `check_free` holds a lock for microseconds; real holders for minutes


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


def _flock(fd: int, kind: int) -> bool:
    """Take a kernel lock without waiting for a holder; a probe's instant lock is retried."""
    for attempt in range(_PROBE_RETRIES + 1):
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt < _PROBE_RETRIES:
                time.sleep(0.01)
    return False


def _gone_from_this_host(holder: dict) -> bool:
    return holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", -1)))


def _record(content: bytes) -> dict:
    try:
        record = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}  # killed before it wrote its record
    return record if isinstance(record, dict) else {}


class StageLock:
    """Exclusive lock on a path, released on exit (or by the kernel when its process dies)."""

    def __init__(
        self, fs: fsspec.AbstractFileSystem, path: str, owner: str = "", run_id: str = ""
    ) -> None:
        self.fs = fs
        self.path = path
        self.info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "owner": owner,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if run_id:  # the Prefect flow run holding it, so that a successor can report it crashed
            self.info["run_id"] = run_id
        self.taken_over_from: dict = {}  # what a killed holder left in the file, once taken
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
            if not _flock(fd, fcntl.LOCK_EX):
                os.close(fd)
                return False
            try:
                same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)  # the holder removed the file as we opened it: lock the new one
        self.taken_over_from = _record(os.read(fd, 1 << 16))
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(self.info).encode())
        self._fd = fd
        return True

    def _take_remote(self) -> bool:
        """Exists-then-write (object stores have no O_EXCL); a lock of a dead pid on this host
        is removed first."""
        holder = self._holder()
        if holder:
            if not _gone_from_this_host(holder):
                return False
            self.fs.rm(self.path)
            self.taken_over_from = holder
        elif self.fs.exists(self.path):
            return False  # being written by its holder
        with self.fs.open(self.path, "wb") as handle:
            handle.write(json.dumps(self.info).encode())
        return True

    def check_free(self) -> None:
        """Raise `LockHeld` when a live holder has the lock; otherwise change nothing (a killed
        holder's record stays for whoever takes the lock)."""
        if isinstance(self.fs, LocalFileSystem):
            try:
                fd = os.open(self.path, os.O_RDWR)
            except FileNotFoundError:
                return
            # A shared lock: two probes never refuse each other.
            free = _flock(fd, fcntl.LOCK_SH)
            os.close(fd)  # closing releases the probe's lock too
            if not free:
                raise LockHeld(self.path, self._holder(), checkable=True)
            return
        holder = self._holder()
        if holder and not _gone_from_this_host(holder):
            raise LockHeld(self.path, holder, checkable=holder.get("host") == socket.gethostname())

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
