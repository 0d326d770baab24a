"""A lock file so two runs of one stage never write the same outputs."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from types import TracebackType

import fsspec
from fsspec.implementations.local import LocalFileSystem


class LockHeld(RuntimeError):
    """Another run holds the lock; the message says who, since when and what to do, on one line."""

    def __init__(self, path: str, holder: dict) -> None:
        self.path = path
        self.holder = holder
        self.holding = (
            f"{holder.get('owner') or 'a run'} (pid {holder.get('pid')} on "
            f"{holder.get('host')}) has held it since {holder.get('since')}"
        )
        if holder.get("host") == socket.gethostname():
            advice = "wait for that run to finish"
        else:  # its process cannot be checked from here, so only a person can tell it is gone
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
    """Exclusive lock on a path; a lock left by a dead process on this host is taken over."""

    def __init__(self, fs: fsspec.AbstractFileSystem, path: str, owner: str = "") -> None:
        self.fs = fs
        self.path = path
        self.info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "owner": owner,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def _holder(self) -> dict:
        try:
            with self.fs.open(self.path, "r") as handle:
                return json.load(handle)
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _stale(self, holder: dict) -> bool:
        same_host = holder.get("host") == socket.gethostname()
        return same_host and not _pid_alive(int(holder.get("pid", -1)))

    def _create_exclusive(self) -> bool:
        payload = json.dumps(self.info).encode()
        if isinstance(self.fs, LocalFileSystem):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            return True
        # Object stores have no O_EXCL; exists-then-write is the best they offer.
        if self.fs.exists(self.path):
            return False
        with self.fs.open(self.path, "wb") as handle:
            handle.write(payload)
        return True

    def __enter__(self) -> StageLock:
        self.fs.makedirs(self.path.rpartition("/")[0], exist_ok=True)
        holder: dict = {}
        for _ in range(3):  # the holder may release (or die) between our two looks
            if self._create_exclusive():
                return self
            holder = self._holder()
            if not holder or self._stale(holder):
                if holder:
                    self.fs.rm(self.path)
                continue
            break
        raise LockHeld(self.path, holder)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.fs.exists(self.path):
            self.fs.rm(self.path)
