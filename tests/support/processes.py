"""Processes a test started, found again by a marker in their environment: a child that
outlives its parent is reparented, but keeps the environment it was started with."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

MARK = "TEST_PROCESS_MARK"  # name of the marker variable


def marked(value: str) -> list[int]:
    """Live processes (other than this one) whose environment holds ``MARK=value``."""
    found = []
    needle = f"{MARK}={value}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def survivors(value: str, wait_s: float = 20) -> dict[int, str]:
    """The marked processes still alive after ``wait_s`` (pid: command line), then killed."""
    deadline = time.monotonic() + wait_s
    while (left := marked(value)) and time.monotonic() < deadline:
        time.sleep(0.5)
    found = {pid: command(pid) for pid in left}
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return found
