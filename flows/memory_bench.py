"""`desa bench memory`: peak memory of a demo rebuild at N and F·N stars (issue 12 item 10).

For each size a fresh rebuild runs as `desa bench rebuild` runs it (`flows.rebuild_bench`: a
fresh process, data root and Prefect home, one training epoch per loop), here as
`python -m flows.memory_bench REPORT`, in which a `TreeSampler` thread reads every 0.2 s the
RSS of the rebuild process (the peak filed under the stage flow running at the time), of each
Dask worker (the worker processes of the clusters the rebuild starts, by their nannies' pids),
of the ephemeral Prefect API server and of the whole process tree. Memory stays bounded when
each peak at F·N is less than 1.5 times its peak at N.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

from flows.memory_sampler import TreeSampler
from flows.rebuild_bench import bench_environment, timed_rebuild, wall_time

SAMPLE_INTERVAL_S = 0.2
GROWTH_GOAL = 1.5  # issue 12 item 10: each peak at F·N below 1.5 times the one at N
# measure -> what it is (the ratios with a goal)
BOUNDED = {
    "tree_mb": "the whole rebuild (sum over its process tree)",
    "rebuild_process_mb": "the rebuild process",
    "dask_worker_mb": "the largest Dask worker",
}
DEFINITIONS = (
    "RSS sampled every 0.2 s (psutil) in the rebuild process; tree: the sum over the rebuild "
    "process and all its descendants at one instant (shared pages count once per process); "
    "a stage's row: the peaks while its flow ran; Dask worker: the largest of the workers "
    "(a worker still starting counts among the other processes)."
)


def _cluster_workers() -> Any:
    """A function giving the pids of the worker processes of every Dask cluster the rebuild
    has started so far (watched through `SharedCluster.address`)."""
    from flows.dask import SharedCluster

    clusters: list[Any] = []
    address = SharedCluster.address

    def watched_address(self: SharedCluster, *args: Any) -> str:
        scheduler = address(self, *args)
        if self._cluster not in clusters:
            clusters.append(self._cluster)
        return scheduler

    SharedCluster.address = watched_address  # type: ignore[method-assign]

    def worker_pids() -> set[int]:
        nannies = [nanny for cluster in clusters for nanny in list(cluster.workers.values())]
        return {pid for nanny in nannies if (pid := getattr(nanny, "pid", None))}

    return worker_pids


def sampled_rebuild(report: Path, args: list[str]) -> None:
    """`desa rebuild` in this process with its memory sampled; the peaks, stage walls and
    the process's own maximum RSS (getrusage) to ``report`` (JSON)."""
    sampler = TreeSampler(os.getpid(), SAMPLE_INTERVAL_S, _cluster_workers()).start()
    try:
        timed = timed_rebuild(args, on_stage=sampler.set_stage)
    finally:
        sampler.stop()
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # Linux: KiB
    report.write_text(json.dumps({**timed, **sampler.peaks(), "max_rss_mb": max_rss_mb}))


def memory_at(n_stars: int, work_dir: Path) -> dict[str, Any]:
    """A fresh sampled rebuild of ``n_stars``: its peaks and wall time."""
    root = work_dir / f"root-{n_stars}"
    env = bench_environment(root, work_dir / f"prefect-{n_stars}", n_stars)
    report = work_dir / f"memory-{n_stars}.json"
    command = [sys.executable, "-m", "flows.memory_bench", str(report)]
    rebuild_s = wall_time(command, env, work_dir)
    run = json.loads(report.read_text())
    if not run["dask_workers_mb"]:
        raise RuntimeError(f"{report}: the sampler found no Dask worker in the rebuild's tree")
    largest = max(run["dask_workers_mb"].values())
    return {"n_stars": n_stars, "rebuild_s": rebuild_s, **run, "dask_worker_mb": largest}


def growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, float]:
    """Each peak at the large size over the same peak at the small one."""
    measures = [*BOUNDED, "prefect_api_mb"]
    ratios = {name: large[name] / small[name] for name in measures}
    small_stages = {s["stage"]: s for s in small["stages"]}
    for stage in large["stages"]:
        if (before := small_stages.get(stage["stage"])) is not None:
            ratio = stage["rebuild_process_mb"] / before["rebuild_process_mb"]
            ratios[f"stage:{stage['stage']}"] = ratio
    return ratios


def goal_checks(ratios: dict[str, float]) -> list[dict[str, Any]]:
    """Each bounded peak's growth against the goal (< 1.5x)."""
    return [
        {
            "measure": name,
            "what": what,
            "ratio": ratios[name],
            "goal": f"< {GROWTH_GOAL:g}x",
            "met": ratios[name] < GROWTH_GOAL,
        }
        for name, what in BOUNDED.items()
    ]


def memory_benchmark(n: int = 300, factor: int = 10) -> dict[str, Any]:
    """Sampled rebuilds at N and factor·N stars, the growth of each peak, the goals."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="desa-bench-memory-") as tmp:
        small, large = (memory_at(size, Path(tmp)) for size in (n, n * factor))
        ratios = growth(small, large)
    return {
        "n": n,
        "factor": factor,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "definitions": DEFINITIONS,
        "runs": [small, large],
        "ratios": ratios,
        "goals": goal_checks(ratios),
    }


def memory_tables(result: dict[str, Any]) -> list[Any]:
    """The result as rich tables: peaks per stage at both sizes side by side, then goals."""
    from rich.table import Table

    small, large = result["runs"]
    n, m = small["n_stars"], large["n_stars"]
    ratios = result["ratios"]
    stages = Table(
        "peak RSS (MB)",
        f"rebuild process, {n}",
        f"rebuild process, {m}",
        "ratio",
        f"tree, {n}",
        f"tree, {m}",
        title=f"rebuild of {n} stars: {small['rebuild_s']:.0f} s, "
        f"of {m}: {large['rebuild_s']:.0f} s",
    )
    small_stages = {s["stage"]: s for s in small["stages"]}
    for stage in large["stages"]:
        before = small_stages.get(stage["stage"], {})
        stages.add_row(
            stage["stage"],
            f"{before.get('rebuild_process_mb', float('nan')):.0f}",
            f"{stage['rebuild_process_mb']:.0f}",
            f"{ratios.get('stage:' + stage['stage'], float('nan')):.2f}x",
            f"{before.get('tree_mb', float('nan')):.0f}",
            f"{stage['tree_mb']:.0f}",
        )
    totals = Table("peak RSS (MB)", str(n), str(m), "ratio")
    for name, label in [*BOUNDED.items(), ("prefect_api_mb", "the Prefect API server")]:
        totals.add_row(label, f"{small[name]:.0f}", f"{large[name]:.0f}", f"{ratios[name]:.2f}x")
    others = small["other_processes_mb"], large["other_processes_mb"]
    totals.add_row("other processes (sum)", *(f"{mb:.0f}" for mb in others), "")
    for run in (small, large):
        workers = ", ".join(f"{mb:.0f}" for mb in run["dask_workers_mb"].values())
        totals.add_row(f"each Dask worker, {run['n_stars']} stars", workers, "", "")
    goals = Table("measure", "growth", "goal", "met", caption=result["definitions"])
    for check in result["goals"]:
        met = "[green]pass[/]" if check["met"] else "[red]fail[/]"
        goals.add_row(check["what"], f"{check['ratio']:.2f}x", check["goal"], met)
    return [stages, totals, goals]


if __name__ == "__main__":
    report_path, *rebuild_args = sys.argv[1:]
    sampled_rebuild(Path(report_path), rebuild_args)
