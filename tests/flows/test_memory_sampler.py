"""`TreeSampler`: peaks filed under the stage running, Dask workers and the Prefect API server
told apart among the descendants, on a real tree of processes that hold known memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.memory_sampler import OUTSIDE, TreeSampler

MB = 10**6
# Holds argv[1] MB (pages written, so resident); with argv[2], starts a copy of itself holding
# that many MB and a stand-in for Prefect's API server (its command line: that of
# flows.local_api.api_server_command); prints the pids of the processes it holds ready, then
# waits to be killed.
HOLDER = """
import os, subprocess, sys, time
block = bytearray(b"\\x01") * (int(sys.argv[1]) * 10**6)
pids = [str(os.getpid())]
if len(sys.argv) > 2:
    command = [sys.executable, __file__, sys.argv[2]]
    pids += subprocess.Popen(command, stdout=subprocess.PIPE, text=True).stdout.readline().split()
    api = ["-m", "uvicorn", "--factory", "prefect.server.api.server:create_app"]
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    pids.append(str(subprocess.Popen([*sleep, *api]).pid))
print(" ".join(pids), flush=True)
time.sleep(60)
"""


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[list[int]]:
    """[a process holding 20 MB, its child holding 60 MB, its fake Prefect API server], apart
    from this process (whose own descendants, such as the ephemeral API of earlier tests, must
    not count); all ended after the test."""
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen(
        [sys.executable, script, "20", "60"], stdout=subprocess.PIPE, text=True
    )
    pids = [int(pid) for pid in holder.stdout.readline().split()]
    try:
        yield pids
    finally:
        for pid in pids[1:]:
            os.kill(pid, signal.SIGKILL)
        holder.kill()
        holder.wait()


def test_workers_the_api_server_and_other_processes_are_told_apart(tree: list[int]) -> None:
    root, child, _ = tree
    sampler = TreeSampler(root, worker_pids=lambda: {child})
    sampler.sample()
    peaks = sampler.peaks()
    # the watched process, and its child found among its descendants and named a worker by pid
    assert 20 < peaks["rebuild_process_mb"] < 60
    assert list(peaks["dask_workers_mb"]) == [str(child)]
    assert 60 < peaks["dask_workers_mb"][str(child)] < 60 + 40
    assert 0 < peaks["prefect_api_mb"] < 60
    assert peaks["tree_mb"] > peaks["rebuild_process_mb"] + 60


def test_the_peak_of_the_watched_process_is_filed_under_the_stage_running() -> None:
    sampler = TreeSampler(os.getpid())
    sampler.sample()
    sampler.set_stage("umap")
    block = bytearray(b"\x01") * (150 * MB)
    sampler.sample()
    del block  # a large block is unmapped when freed: the resident size falls again
    sampler.set_stage("evaluate")
    sampler.sample()
    sampler.set_stage(None)
    sampler.sample()
    stages = {s["stage"]: s["rebuild_process_mb"] for s in sampler.peaks()["stages"]}
    assert list(stages) == [OUTSIDE, "umap", "evaluate"]
    assert stages["umap"] > stages["evaluate"] + 100
    assert stages["umap"] > stages[OUTSIDE] + 100
    assert sampler.peaks()["rebuild_process_mb"] == stages["umap"]


def test_the_thread_samples_until_stopped() -> None:
    sampler = TreeSampler(os.getpid(), interval_s=0.05).start()
    time.sleep(0.5)
    sampler.stop()
    count = sampler.samples
    assert count >= 5
    time.sleep(0.2)
    assert sampler.samples == count
