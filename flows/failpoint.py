"""Failpoints: a stage run that kills its own process at a chosen point, for the fault tests.

`DESA_FAILPOINT=<stage>:<point>` makes the process running ``<stage>`` send itself SIGKILL
(nothing runs after it: no `finally`, no exit handler, no lock released but by the kernel) at:

- ``early``: just after the stage took its lock, before its body starts;
- ``mid`` (or ``mid:<n>``): right after its body published its first (``n``-th) file in this
  process through storage/publish.py: part of its work is on disk, the rest is not;
- ``publish``: after its body returned, before its state record is written.

Unset (always, outside tests/flows/test_faults.py) it costs one environment lookup per stage.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from storage import publish

VARIABLE = "DESA_FAILPOINT"


def _point(stage: str) -> str | None:
    name, _, point = os.environ.get(VARIABLE, "").partition(":")
    return point if name == stage else None


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def reach(stage: str, point: str) -> None:
    """Die here when the failpoint names this stage and point."""
    if _point(stage) == point:
        _die()


@contextmanager
def mid_way(stage: str) -> Iterator[None]:
    """Around the stage's body: die after its n-th publish when the failpoint is ``mid``."""
    point = _point(stage) or ""
    if point.partition(":")[0] != "mid":
        yield
        return
    after = int(point.partition(":")[2] or 1)
    published: list[str] = []

    def count(dest: str) -> None:
        published.append(dest)
        if len(published) >= after:
            _die()

    publish.after_publish.append(count)
    try:
        yield
    finally:
        publish.after_publish.remove(count)
