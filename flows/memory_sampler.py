"""Peak resident memory (RSS) of a process and its descendants, sampled from a thread.

`TreeSampler` reads, every ``interval_s``, the RSS of the process it watches and of each of
its descendants (psutil), and keeps the peaks: of the watched process per stage (the stage
it is told it is in, `set_stage`), of each Dask worker (the pids ``worker_pids`` names at the
time), of the ephemeral Prefect API server (the uvicorn process serving `prefect.server`),
and of the whole tree (the sum over its processes at one instant; pages two processes share
count twice, as in any sum of RSS).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psutil

OUTSIDE = "(outside the stages)"
PREFECT_API = "prefect-api"
DASK_WORKER = "dask-worker"
OTHER = "other"


def process_role(process: psutil.Process, workers: set[int]) -> str:
    """What a descendant is: a Dask worker, the Prefect API server, or something else (then
    the start of its command line, to tell what grows)."""
    if process.pid in workers:
        return DASK_WORKER
    command = process.cmdline()
    if "uvicorn" in command and any("prefect.server" in part for part in command):
        return PREFECT_API
    return f"{OTHER}: {' '.join(command[1:])[:120]}"  # its arguments, without the interpreter


class TreeSampler:
    """Samples a process tree's RSS until stopped; `peaks` gives the maxima in MB."""

    def __init__(
        self,
        pid: int,
        interval_s: float = 0.2,
        worker_pids: Callable[[], set[int]] = set,
    ) -> None:
        self._root = psutil.Process(pid)
        self._interval_s = interval_s
        self._worker_pids = worker_pids
        self._stage = OUTSIDE
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self.samples = 0
        self.stages: dict[str, int] = {}  # the watched process's peak in each stage
        self.tree_by_stage: dict[str, int] = {}  # the whole tree's peak in each stage
        self.workers: dict[int, int] = {}  # Dask worker pid -> peak
        self.others: dict[str, int] = {}  # role -> peak of any one such process
        self.other_total = 0  # peak of the sum over the other processes

    def set_stage(self, stage: str | None) -> None:
        """The stage the watched process is in from now on (None: between stages)."""
        self._stage = stage or OUTSIDE

    def start(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def sample(self) -> None:
        """One reading of every process of the tree."""
        stage = self._stage
        own = self._root.memory_info().rss
        total = own
        other_total = 0
        workers = self._worker_pids()
        for process in self._root.children(recursive=True):
            try:
                rss = process.memory_info().rss
                role = process_role(process, workers)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue  # ended between the listing and the reading
            total += rss
            if role == DASK_WORKER:
                self.workers[process.pid] = max(self.workers.get(process.pid, 0), rss)
            else:
                self.others[role] = max(self.others.get(role, 0), rss)
                other_total += rss if role != PREFECT_API else 0
        self.other_total = max(self.other_total, other_total)
        self.stages[stage] = max(self.stages.get(stage, 0), own)
        self.tree_by_stage[stage] = max(self.tree_by_stage.get(stage, 0), total)
        self.samples += 1

    def peaks(self) -> dict[str, Any]:
        """The peaks in MB: the watched process (overall and per stage), each Dask worker, the
        Prefect API server, the whole tree (overall and per stage)."""
        mb = 1e-6
        return {
            "samples": self.samples,
            "rebuild_process_mb": max(self.stages.values(), default=0) * mb,
            "tree_mb": max(self.tree_by_stage.values(), default=0) * mb,
            "dask_workers_mb": {str(pid): peak * mb for pid, peak in self.workers.items()},
            "prefect_api_mb": self.others.get(PREFECT_API, 0) * mb,
            "other_processes_mb": self.other_total * mb,
            "each_other_process_mb": {
                role.removeprefix(f"{OTHER}: "): peak * mb
                for role, peak in self.others.items()
                if role.startswith(OTHER)
            },
            "stages": [
                {
                    "stage": stage,
                    "rebuild_process_mb": peak * mb,
                    "tree_mb": self.tree_by_stage[stage] * mb,
                }
                for stage, peak in self.stages.items()
            ],
        }
