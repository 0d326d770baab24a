"""`desa bench rebuild`: a demo rebuild's fixed costs against its work, at N and 4N stars.

For each size a full `desa rebuild` runs in a fresh process (`python -m flows.rebuild_bench
rebuild`, which runs the CLI command in that process with each stage's flow call timed) on a
fresh data root, with a fresh Prefect home and the demo profile's training loops cut to one
epoch. Per stage:

- wall: the stage's subflow call as the rebuild makes it (Prefect creating and finishing the
  run, the task runner and any Dask cluster start, the stage body, its artifacts);
- work: the body alone, the `duration_s` of the stage's state record (what `execute` times:
  the stage's own code, including the imports and JIT compiles it makes on first use);
- start-up: wall - work.

The rest of the rebuild process (interpreter, CLI imports, the ephemeral Prefect API, the
rebuild flow) is the row `(outside the stages)`. Then: the Dask clusters the rebuild started,
the first UMAP fit of a fresh process with numba's cache warm against a second fit in that
process, the no-op rebuild, and `desa --help` and `desa status` on the built root (each CLI
wall time the median of three runs of `python -m flows`, what the `desa` script runs).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# Each loop the demo profile trains (flows/settings.py _PROFILE_DEFAULTS["demo"]["training"]).
TRAINING_LOOPS = ("spectra", "lightcurves", "dualformer", "baselines", "finetune")
SIZES = (1, 4)  # N and 4N stars
CLI_REPEATS = 3
# issue 13 items 3 and 5: (measure, goal, how the value compares with it)
GOALS: dict[str, tuple[float, str]] = {
    "dask_clusters_per_rebuild": (1, "=="),
    "umap_first_fit_ratio": (3.0, "<="),
    "noop_rebuild_s": (2.0, "<="),
    "help_s": (0.5, "<="),
    "status_s": (1.5, "<="),
}
DEFINITIONS = (
    "wall: the stage's flow call inside the rebuild; work: the stage body (duration_s of its "
    "state record); start-up: wall - work (Prefect run bookkeeping, task runner and Dask "
    "cluster start, artifacts). CLI times: median of 3 runs of `python -m flows`."
)
_REPO = Path(__file__).resolve().parents[1]


def bench_environment(
    data_root: Path, prefect_home: Path, n_stars: int, base: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The caller's environment without its DESA_* settings or Prefect server: a demo sky of
    ``n_stars`` built under ``data_root``, one training epoch per loop, CPU, a fresh Prefect
    home (and so a fresh ephemeral API). NUMBA_CACHE_DIR / XDG_CACHE_HOME stay the caller's:
    the warm UMAP cache is the user's."""
    env = {k: v for k, v in base.items() if not k.startswith("DESA_") and k != "PREFECT_API_URL"}
    path = [str(_REPO), *filter(None, [base.get("PYTHONPATH")])]
    env |= {
        "PYTHONPATH": os.pathsep.join(path),
        "PREFECT_HOME": str(prefect_home),
        "DESA_PROFILE": "demo",
        "DESA_DATA_ROOT": str(data_root),
        "DESA_SKY__N_STARS": str(n_stars),
        "DESA_TRAINING__ACCELERATOR": "cpu",
    }
    env |= {f"DESA_TRAINING__{loop.upper()}__MAX_EPOCHS": "1" for loop in TRAINING_LOOPS}
    return env


def desa_command(*args: str) -> list[str]:
    """The `desa` command as this interpreter runs it (the entry point of `python -m flows`)."""
    return [sys.executable, "-m", "flows", *args]


def wall_time(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> float:
    """Seconds ``command`` takes; a failure raises with the end of its output."""
    start = time.perf_counter()
    done = subprocess.run(command, env=dict(env), cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")
    return seconds


def median_wall(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, repeats: int = CLI_REPEATS
) -> float:
    return statistics.median(wall_time(command, env, cwd) for _ in range(repeats))


# The two measurements that run inside a fresh process (`python -m flows.rebuild_bench ...`).


def timed_flows(
    flows: dict[str, Callable[..., Any]],
    walls: dict[str, float],
    on_stage: Callable[[str | None], None] | None = None,
) -> None:
    """Replace each flow of ``flows`` by one that records its call's wall time in ``walls``
    and tells ``on_stage`` the stage it enters, then None when it leaves."""
    tell = on_stage or (lambda _stage: None)

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            tell(name)
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                walls[name] = time.perf_counter() - start
                tell(None)

        return run

    for name, call in list(flows.items()):
        flows[name] = timed(name, call)


def timed_rebuild(
    args: Sequence[str] = (), on_stage: Callable[[str | None], None] | None = None
) -> dict[str, Any]:
    """`desa rebuild` in this process, each stage flow timed (``on_stage`` told as each starts
    and ends); the stage wall times and the Dask clusters started."""
    from flows.env import apply_prefect_defaults

    apply_prefect_defaults()  # as the `desa` entry point does, before prefect is imported
    from flows import cli, pipeline
    from flows.dask import SharedCluster

    walls: dict[str, float] = {}
    timed_flows(pipeline.STAGE_FLOWS, walls, on_stage)
    clusters_before = SharedCluster.started
    cli.app(["rebuild", *args], standalone_mode=False)
    return {"stage_walls": walls, "dask_clusters": SharedCluster.started - clusters_before}


def timed_umap_fit(report: Path) -> None:
    """Import UMAP, fit it on the built root's DESA star embeddings, fit again; seconds of
    each to ``report`` (JSON)."""
    from desa.products.embeddings import read_embeddings
    from desa.products.umap_import import import_umap
    from desa.products.umap_maps import UmapSettings, fit_reducer
    from flows.settings import Settings
    from storage import layout
    from storage.layout import DataRoot

    settings = Settings()
    _, values, _ = read_embeddings(DataRoot(settings.data_root).url_of(layout.EMBEDDINGS), "stars")
    points = values["desa"] if "desa" in values else next(iter(values.values()))
    products = settings.products
    umap_settings = UmapSettings(
        products.umap_neighbors, products.umap_min_dist, products.umap_fit_max, products.seed
    )
    start = time.perf_counter()
    import_umap()
    times = {"import_s": time.perf_counter() - start, "points": len(points)}
    for label in ("first_fit_s", "warm_fit_s"):
        start = time.perf_counter()
        fit_reducer(points, umap_settings)
        times[label] = time.perf_counter() - start
    report.write_text(json.dumps(times))


# What the parent makes of them.


def stage_split(walls: Mapping[str, float], work: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each timed stage's wall, work and start-up (wall - work) seconds, in the order run."""
    return [
        {"stage": name, "wall_s": wall, "work_s": work[name], "startup_s": wall - work[name]}
        for name, wall in walls.items()
    ]


def stage_durations(data_root: Path, stages: Sequence[str]) -> dict[str, float]:
    """The `duration_s` of each stage's state record under ``data_root``."""
    from storage.layout import DataRoot
    from storage.state import read_state

    root = DataRoot(str(data_root))
    durations = {}
    for stage in stages:
        state = read_state(root.fs, root.state_path(stage))
        if state is None:
            raise RuntimeError(f"{root.state_path(stage)} missing after the rebuild")
        durations[stage] = state.duration_s
    return durations


def goal_checks(measures: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each goal with its measured value and whether it is met."""
    checks = []
    for name, (goal, relation) in GOALS.items():
        value = measures[name]
        met = value == goal if relation == "==" else value <= goal
        checks.append({"measure": name, "value": value, "goal": f"{relation} {goal:g}", "met": met})
    return checks


def _python_module(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows.rebuild_bench", *args]


def rebuild_at(
    n_stars: int, work_dir: Path, until: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """A fresh rebuild of ``n_stars`` (up to ``until``) and the no-op rebuild after it; the
    measures and the environment they ran in."""
    root = work_dir / f"root-{n_stars}"
    env = bench_environment(root, work_dir / f"prefect-{n_stars}", n_stars)
    args = ["--until", until] if until else []
    report = work_dir / f"rebuild-{n_stars}.json"
    process_s = wall_time(_python_module("rebuild", str(report), *args), env, work_dir)
    timed = json.loads(report.read_text())
    walls = timed["stage_walls"]
    run = {
        "n_stars": n_stars,
        "rebuild_s": process_s,
        "outside_stages_s": process_s - sum(walls.values()),
        "stages": stage_split(walls, stage_durations(root, list(walls))),
        "dask_clusters": timed["dask_clusters"],
        "noop_rebuild_s": wall_time(desa_command("rebuild", *args), env, work_dir),
    }
    return run, env


def rebuild_benchmark(n: int = 100) -> dict[str, Any]:
    """Rebuilds at N and 4N stars, the UMAP fits, the no-op rebuild and CLI times, with goals."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="desa-bench-rebuild-") as tmp:
        folder = Path(tmp)
        runs, envs = zip(*(rebuild_at(n * multiple, folder) for multiple in SIZES), strict=True)
        env = envs[-1]  # the largest sky's
        umap_report = folder / "umap.json"
        # Twice: the first fresh process finishes warming the cache if the stage left gaps.
        for _ in range(2):
            wall_time(_python_module("umap", str(umap_report)), env, folder)
        umap = json.loads(umap_report.read_text())
        help_s = median_wall(desa_command("--help"), env, folder)
        status_s = median_wall(desa_command("status"), env, folder)
    measures = {
        "dask_clusters_per_rebuild": max(run["dask_clusters"] for run in runs),
        "umap_first_fit_ratio": umap["first_fit_s"] / umap["warm_fit_s"],
        "noop_rebuild_s": max(run["noop_rebuild_s"] for run in runs),
        "help_s": help_s,
        "status_s": status_s,
    }
    return {
        "n": n,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "definitions": DEFINITIONS,
        "runs": list(runs),
        "umap": umap,
        "measures": measures,
        "goals": goal_checks(measures),
    }


def rebuild_tables(result: Mapping[str, Any]) -> list[Any]:
    """The result as rich tables: stages per size, then the goals."""
    from rich.table import Table

    tables = []
    for run in result["runs"]:
        table = Table(
            "stage",
            "wall (s)",
            "start-up (s)",
            "work (s)",
            title=f"rebuild of {run['n_stars']} stars: {run['rebuild_s']:.1f} s, "
            f"{run['dask_clusters']} Dask cluster(s) started",
        )
        for stage in run["stages"]:
            table.add_row(
                stage["stage"],
                f"{stage['wall_s']:.2f}",
                f"{stage['startup_s']:.2f}",
                f"{stage['work_s']:.2f}",
            )
        table.add_row("(outside the stages)", f"{run['outside_stages_s']:.2f}", "", "")
        tables.append(table)
    umap = result["umap"]
    fits = Table("UMAP, fresh process, warm numba cache", "seconds")
    fits.add_row("import umap", f"{umap['import_s']:.2f}")
    fits.add_row(f"first fit ({umap['points']} stars)", f"{umap['first_fit_s']:.2f}")
    fits.add_row("second fit, same process", f"{umap['warm_fit_s']:.2f}")
    with_import = (umap["import_s"] + umap["first_fit_s"]) / umap["warm_fit_s"]
    fits.add_row("(import + first fit) / second fit", f"{with_import:.2f}x")
    tables.append(fits)
    goals = Table("measure", "value", "goal", "met", caption=result["definitions"])
    for check in result["goals"]:
        value = check["value"]
        met = "[green]pass[/]" if check["met"] else "[red]fail[/]"
        goals.add_row(check["measure"], f"{value:.3g}", check["goal"], met)
    tables.append(goals)
    return tables


if __name__ == "__main__":
    what, report_path, *rest = sys.argv[1:]
    if what == "rebuild":
        Path(report_path).write_text(json.dumps(timed_rebuild(rest)))
    else:
        timed_umap_fit(Path(report_path))
