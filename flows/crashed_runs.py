"""Setting a dead run to Crashed in Prefect.

Prefect learns that a flow run ended from the run's own process. A process killed outright
(SIGKILL, the OOM killer, a container or a server going away with it) says nothing, and its run
would show as running forever. The pipeline lock tells us when that happened: its kernel lock
went with the process, and the record it left names the flow run (flows/turn.py).
"""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed

from flows.local_api import die_with_this_process


def _with_descendants(client: SyncPrefectClient, run: FlowRun) -> list[FlowRun]:
    """``run`` and every flow run started inside it (stage subflows), at any depth."""
    runs, parents = [run], [run.id]
    while parents:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=parents)
            )
        )
        runs += children
        parents = [child.id for child in children]
    return runs


def mark_crashed(run_id: str, message: str) -> list[str]:
    """Set the flow run ``run_id``, the unfinished flow runs inside it and their unfinished task
    runs to Crashed with ``message``; the names of the flow runs set. A run that already ended
    (it reported its end before it died) is left as it is."""
    # `desa verify` may start the ephemeral API only for this: it ends with the command.
    die_with_this_process()
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(run_id))
        except ObjectNotFound:
            return []  # recorded against another Prefect server or database
        unfinished = [r for r in _with_descendants(client, run) if not _ended(r.state)]
        if not unfinished:
            return []
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                flow_run_id=TaskRunFilterFlowRunId(any_=[r.id for r in unfinished])
            )
        )
        for task in (t for t in tasks if not _ended(t.state)):
            client.set_task_run_state(task.id, Crashed(message=message), force=True)
        for flow_run in unfinished:
            client.set_flow_run_state(flow_run.id, Crashed(message=message), force=True)
        return [flow_run.name for flow_run in unfinished]


def _ended(state: State | None) -> bool:
    return state is not None and state.is_final()
