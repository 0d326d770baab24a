"""One pipeline run at a time per data root.

Every top-level run (a rebuild, or a stage run started by hand, by a trigger or from the UI)
takes `state/pipeline.lock` in the data root; the stage runs inside a rebuild do not. The lock
sits on top of Prefect's concurrency limit on `rebuild/desa` and of the per-stage locks: it
also keeps a hand-started stage run away from a running rebuild, whether it talks to a server
or to the CLI's ephemeral API. A run started from the CLI is refused at once with a clear
message; a deployment run waits for its turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from storage import layout
from storage.layout import DataRoot
from storage.lock import LockHeld, StageLock


class PipelineBusy(RuntimeError):
    """Another run holds the data root's pipeline."""


def lock_path(root: DataRoot) -> str:
    return root.path(layout.PIPELINE_LOCK)


@contextmanager
def pipeline_turn(
    root: DataRoot,
    owner: str,
    *,
    wait_s: float = 0.0,
    poll_s: float = 2.0,
    log: Callable[[str], None] = print,
) -> Iterator[None]:
    """Hold the data root's pipeline for the block, waiting up to ``wait_s`` for it."""
    lock = StageLock(root.fs, lock_path(root), owner=owner)
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            lock.__enter__()
            break
        except LockHeld as held:
            if time.monotonic() >= deadline:
                raise PipelineBusy(
                    f"{owner} cannot start: the pipeline of {root.url} is busy ({held.holding}); "
                    "run it again when that run has finished (`desa status`, or the Prefect UI)"
                ) from None
            if not told:
                log(f"{owner}: waiting for the pipeline ({held.holding})")
                told = True
            time.sleep(poll_s)
    try:
        yield
    finally:
        lock.__exit__(None, None, None)
