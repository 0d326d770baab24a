"""Each stage's last flow run on the Prefect server the CLI points at, for `desa status`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterId, FlowFilterName
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_CLIENT_MAX_RETRIES,
    PREFECT_UI_URL,
    temporary_settings,
)

WINDOW = 200  # newest runs read; a stage whose last run is older shows none
TIMEOUT_S = 10.0  # a quick look: no minute of retries against a server that is down


@dataclass(frozen=True)
class LastRun:
    state: str
    when: str  # start time, or expected start time of a run not started yet (UTC, ISO)
    url: str  # the run in the Prefect UI


def ui_url() -> str:
    """The Prefect UI's address: PREFECT_UI_URL, else the API's without ``/api``."""
    return PREFECT_UI_URL.value() or str(PREFECT_API_URL.value()).removesuffix("/api")


def last_flow_runs(names: Sequence[str]) -> dict[str, LastRun]:
    """The newest flow run of each flow named in ``names`` that has one.

    Two requests for all stages: the flows by name, then their runs newest first. Raises
    `httpx.HTTPError` when the server cannot be reached or refuses.
    """
    with (
        temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}),
        get_client(sync_client=True, httpx_settings={"timeout": TIMEOUT_S}) as client,
    ):
        flows = client.read_flows(flow_filter=FlowFilter(name=FlowFilterName(any_=list(names))))
        name_of = {flow.id: flow.name for flow in flows}
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(id=FlowFilterId(any_=list(name_of))),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=WINDOW,
        )
    base, last = ui_url(), {}
    for run in runs:
        name = name_of[run.flow_id]
        when = run.start_time or run.expected_start_time
        if name not in last:
            last[name] = LastRun(
                run.state_name or "-",
                when.astimezone(UTC).isoformat(timespec="seconds") if when else "-",
                f"{base}/runs/flow-run/{run.id}",
            )
    return last
