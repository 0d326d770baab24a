"""One pipeline run at a time per data root.

Every top-level run (a rebuild, or a stage run started by hand, by a trigger or from the UI)
takes `state/pipeline.lock` in the data root; the stage runs inside a rebuild do not. The lock
sits on top of Prefect's concurrency limit on `rebuild/desa` and of the per-stage locks: it
also keeps a hand-started stage run away from a running rebuild, whether it talks to a server
or to the CLI's ephemeral API. A run started from the CLI is refused at once with a clear
message; a deployment run waits for its turn.

A run records its Prefect flow run in the lock. Whoever next takes a lock that a killed
holder left behind sets that flow run (and whatever was unfinished inside it) to Crashed, so
that the UI never shows a dead run as running (flows/crashed_runs.py).
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


def _busy(root: DataRoot, owner: str, held: LockHeld) -> PipelineBusy:
    return PipelineBusy(
        f"{owner} cannot start: the pipeline of {root.url} is busy ({held.holding}); "
        "run it again when that run has finished (`desa status`, or the Prefect UI)"
    )


def check_pipeline_free(root: DataRoot, owner: str) -> None:
    """Raise `PipelineBusy` when a live run holds the pipeline; change nothing."""
    try:
        StageLock(root.fs, lock_path(root)).check_free()
    except LockHeld as held:
        raise _busy(root, owner, held) from None


@contextmanager
def pipeline_turn(
    root: DataRoot,
    owner: str,
    *,
    run_id: str = "",
    wait_s: float = 0.0,
    poll_s: float = 2.0,
    log: Callable[[str], None] = print,
) -> Iterator[None]:
    """Hold the data root's pipeline for the block, waiting up to ``wait_s`` for it.

    ``run_id``: the Prefect flow run taking it. A killed holder's flow run is set to Crashed.
    """
    lock = StageLock(root.fs, lock_path(root), owner=owner, run_id=run_id)
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            lock.__enter__()
            break
        except LockHeld as held:
            if time.monotonic() >= deadline:
                raise _busy(root, owner, held) from None
            if not told:
                log(f"{owner}: waiting for the pipeline ({held.holding})")
                told = True
            time.sleep(poll_s)
    try:
        if lock.taken_over_from:
            _report_killed_holder(lock.taken_over_from, owner, log)
        yield
    finally:
        lock.__exit__(None, None, None)


def _report_killed_holder(holder: dict, owner: str, log: Callable[[str], None]) -> None:
    who = f"{holder.get('owner') or 'a run'} (pid {holder.get('pid')} on {holder.get('host')})"
    log(f"{owner}: the pipeline's last holder, {who}, was killed; its work is redone as needed")
    if holder.get("run_id"):
        from flows.crashed_runs import mark_crashed

        message = (
            f"its process (pid {holder.get('pid')} on {holder.get('host')}) died while running; "
            f"found by {owner}"
        )
        try:
            marked = mark_crashed(holder["run_id"], message)
        except Exception as error:  # the API is down: say which run to look at, then go on
            log(f"{owner}: could not set flow run {holder['run_id']} to Crashed: {error}")
            return
        if marked:
            log(f"{owner}: set to Crashed in Prefect: {', '.join(marked)}")
