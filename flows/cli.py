"""The `desa` command line: run stages, rebuild, status, the demo sky and benchmarks.

Each command imports what it needs when it runs, so that `desa --help` answers at once and
`desa status` does not import Prefect or torch (tests/flows/test_cli_imports.py).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from flows.settings import Settings
    from flows.stage import Freshness
    from storage.layout import DataRoot

app = typer.Typer(
    help="DESA pipeline: survey data to DESA embeddings of stars.", no_args_is_help=True
)
bench_app = typer.Typer(help="Benchmarks that print measured ratios side by side.")
app.add_typer(bench_app, name="bench")
report_app = typer.Typer(help="Print what the evaluate stage measured.", no_args_is_help=True)
app.add_typer(report_app, name="report")
console = Console()


@app.callback()
def main(
    data_root: Annotated[
        str | None, typer.Option(help="Data root (local path or fsspec URL).")
    ] = None,
    profile: Annotated[str | None, typer.Option(help="Settings profile: demo or paper.")] = None,
) -> None:
    # Options become environment settings so Prefect flows (which read Settings()) see them.
    if data_root is not None:
        os.environ["DESA_DATA_ROOT"] = data_root
    if profile is not None:
        os.environ["DESA_PROFILE"] = profile


def _progress_bars(command: Callable[..., None]) -> Callable[..., None]:
    """Draw the stages' progress bars while ``command`` runs, when stdout is a terminal."""

    @functools.wraps(command)  # typer reads the options from the wrapped signature
    def with_bars(*args: object, **kwargs: object) -> None:
        from flows.progress import terminal_progress

        with terminal_progress(console):
            command(*args, **kwargs)

    return with_bars


@app.command()
@_progress_bars
def run(
    stage: Annotated[str, typer.Argument(help="Stage name, e.g. catalogs.")],
    force: Annotated[bool, typer.Option("--force", help="Rerun even when up to date.")] = False,
) -> None:
    """Run one stage (skipped when its cache key is unchanged, unless --force)."""
    from flows.stages import stage_named

    stage_named(stage)
    with _refused_when_busy(f"desa run {stage}"):
        _pipeline().STAGE_FLOWS[stage](force=force)


@app.command()
@_progress_bars
def rebuild(
    force: Annotated[bool, typer.Option("--force", help="Rerun every stage.")] = False,
    until: Annotated[str | None, typer.Option(help="Stop after this stage, e.g. labels.")] = None,
) -> None:
    """Run every stage of the profile in order; unchanged stages are skipped."""
    from flows.clients import load_settings
    from storage import layout
    from storage.layout import DataRoot

    settings = load_settings()
    root = DataRoot(settings.data_root)
    # Busy first: while another run rewrites the stages, their records say nothing yet.
    with _refused_when_busy("desa rebuild"):
        if not force and all(f.fresh for f in _plan(settings, root, until)):
            # Nothing to do: say so without starting a Prefect run (and its API server).
            console.print("rebuild: every stage is up to date; nothing to run (see `desa status`)")
        else:
            results = _pipeline().rebuild(force=force, until=until)
            ran = [r["stage"] for r in results if r["ran"]]
            console.print(f"rebuild done: {len(ran)} stage(s) ran: {', '.join(ran) or 'none'}")
    for page in (layout.REPORT, layout.EXPLORER):
        if root.fs.exists(root.of(page)):
            console.print(f"report: {root.url_of(page)}")


def _pipeline() -> ModuleType:
    """`flows.pipeline`, with the ephemeral Prefect API server this command may start bound
    to the command's life (flows/local_api.py)."""
    from flows import pipeline
    from flows.local_api import die_with_this_process

    die_with_this_process()
    return pipeline


@contextmanager
def _refused_when_busy(command: str) -> Iterator[None]:
    """Another run holding the pipeline, or a full disk, is one clear line, not a traceback.

    The pipeline is looked at before the flow starts: refused inside it, Prefect would log
    the refusal with a traceback first (the flow takes the lock itself, for served runs).
    """
    from flows.clients import load_settings
    from flows.turn import PipelineBusy, check_pipeline_free
    from storage.errors import DiskFull
    from storage.layout import DataRoot
    from storage.lock import LockHeld

    try:
        check_pipeline_free(DataRoot(load_settings().data_root), command)
        yield
    except (PipelineBusy, LockHeld, DiskFull) as busy:
        console.print(f"[red]{escape(str(busy))}[/]")
        raise typer.Exit(1) from None


def _short_paths(paths: dict[str, str], root: DataRoot) -> str:
    relative = sorted(p.removeprefix(root.root + "/") for p in paths.values())
    if len(relative) <= 3:
        return "\n".join(relative)
    folders = sorted({p.rpartition("/")[0] or "." for p in relative})
    return f"{len(relative)} files in " + ", ".join(f"{f}/" for f in folders)


def _plan(settings: Settings, root: DataRoot, until: str | None = None) -> list[Freshness]:
    from flows.stage import StageContext, plan
    from flows.stages import stages_for

    return plan(stages_for(settings.profile, until), StageContext(settings, root))


def _api_url_may_be_set() -> bool:
    """Whether PREFECT_API_URL may name a server, decided without importing Prefect (a second
    of `desa status`): set in the environment, by the active profile of the profiles file, or
    perhaps by one of the other files Prefect 3 reads settings from (./.env, ./prefect.toml,
    ./pyproject.toml); in doubt, Prefect itself then says what it is (at no cost once this
    process has imported Prefect, whose settings may then have been changed in-process)."""
    if "prefect" in sys.modules:
        return True
    if os.environ.get("PREFECT_API_URL") or os.environ.get("PREFECT_PROFILE"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    if profiles.expanduser().is_file():
        try:
            saved = tomllib.loads(profiles.expanduser().read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return True
        # Prefect's own default profile, "ephemeral", sets no API URL.
        active = saved.get("profiles", {}).get(saved.get("active", "ephemeral"), {})
        if "PREFECT_API_URL" in active:
            return True
    files = {".env": "PREFECT_API_URL", "prefect.toml": "api", "pyproject.toml": "tool.prefect"}
    return any(Path(f).is_file() and text in Path(f).read_text() for f, text in files.items())


def _server_runs(stages: list[str]) -> dict | None:
    """Each stage's last flow run when PREFECT_API_URL names a server; None without one
    (nothing asked: no client, no ephemeral server) or when it cannot be reached."""
    if not _api_url_may_be_set():
        return None
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return None
    import httpx

    from flows.last_runs import last_flow_runs

    try:
        return last_flow_runs(stages)
    except httpx.HTTPError as error:
        message = f"Prefect server {PREFECT_API_URL.value()} not reachable ({error})"
        console.print(f"[yellow]{escape(message)}; showing the local state only[/]")
        return None


@app.command()
def status() -> None:
    """Each stage's cache key, whether it is up to date (and why not), last run and outputs;
    with PREFECT_API_URL set, its last flow run on that server too, with a link to it."""
    from flows.clients import load_settings
    from storage.layout import DataRoot

    settings = load_settings()
    root = DataRoot(settings.data_root)
    freshness_of = _plan(settings, root)
    runs = _server_runs([f.stage for f in freshness_of])
    table = Table(
        "stage", "cache key", "state", "last run", "outputs", title=f"data root {root.url}"
    )
    if runs is not None:
        table.add_column("flow run")
        table.add_column("link", overflow="fold")  # whole, so that it can be clicked
    for freshness in freshness_of:
        state = freshness.state
        colour = "green" if freshness.fresh else "yellow"
        cells = [
            freshness.stage,
            (freshness.key or "-")[:12],
            f"[{colour}]{freshness.reason}[/]",
            f"{state.finished_at} ({state.duration_s:.1f} s)" if state else "never",
            _short_paths(state.paths, root) if state else "",
        ]
        if runs is not None:
            last = runs.get(freshness.stage)
            cells += [f"{last.state}\n{last.when}", escape(last.url)] if last else ["-", ""]
        table.add_row(*cells)
    console.print(table)


@app.command()
def verify(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Remove what is damaged, so that `desa rebuild` redoes its stages."
        ),
    ] = False,
) -> None:
    """Check every published output against its state record: list what is missing, changed
    or unreadable (exit 1 when anything is)."""
    from desa.training.checkpoints import read_checkpoint
    from flows.clients import load_settings
    from flows.stages import stages_for
    from flows.turn import pipeline_turn
    from storage import verify as checks
    from storage.layout import DataRoot

    settings = load_settings()
    root = DataRoot(settings.data_root)
    names = [stage.name for stage in stages_for(settings.profile)]
    # Under the pipeline's turn: a stage publishing meanwhile would look changed.
    with _refused_when_busy("desa verify"), pipeline_turn(root, "verify", log=console.print):
        found = checks.verify_root(root, names, readers={".ckpt": read_checkpoint})
        removed = checks.repair(root, found.findings) if repair else []
    for finding in found.findings:
        where = f"{finding.stage}: {finding.output} ({finding.path})"
        console.print(f"[red]{finding.problem}[/] {escape(where)}: {escape(finding.detail)}")
    if found.not_recorded:
        unchecked = ", ".join(f"{stage}:{output}" for stage, output in found.not_recorded)
        console.print(f"not recorded (exist and open; no checksum to compare): {unchecked}")
    console.print(
        f"verify: {found.checked} output(s) match their checksums, {len(found.findings)} "
        f"problem(s) in {len(found.damaged_stages)} stage(s) of data root {escape(root.url)}"
    )
    if found.ok:
        return
    for path in removed:
        console.print(f"removed {escape(path)}")
    if repair:
        stages = ", ".join(found.damaged_stages)
        console.print(f"repair: {stages} now out of date; `desa rebuild` redoes them")
    raise typer.Exit(1)


@app.command()
def neighbors(
    kic: Annotated[int, typer.Argument(help="Kepler Input Catalog id of a star with a pair.")],
    k: Annotated[int, typer.Option("-k", help="How many neighbours.")] = 10,
    model: Annotated[str, typer.Option(help="Embedding: desa or a baseline.")] = "desa",
) -> None:
    """The stars nearest to KIC in embedding space, with their labels (similarity search)."""
    from desa.products.embeddings import read_embeddings
    from desa.products.neighbors import neighbors_of
    from desa.report.explorer import star_labels
    from flows.settings import Settings
    from storage import layout
    from storage.layout import DataRoot

    root = DataRoot(Settings().data_root)
    url = root.url_of(layout.EMBEDDINGS)
    if not root.fs.exists(root.of(layout.EMBEDDINGS)):
        raise typer.BadParameter(f"{url} does not exist: run `desa rebuild` (stage embed) first")
    stars, values, _ = read_embeddings(url, "stars")
    if model not in values:
        raise typer.BadParameter(f"unknown embedding {model!r}; choose from {sorted(values)}")
    try:
        found = neighbors_of(kic, stars, values[model], k)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from exc
    rows = found.join(star_labels(root, ("teff", "logg", "feh", "prot")), on="kic")
    table = Table(
        "kic",
        "distance",
        "Teff (K)",
        "logg",
        "[Fe/H]",
        "Prot (d)",
        "CMD class",
        title=f"{len(rows)} nearest stars to KIC {kic} ({model})",
    )
    for row in rows.itertuples():
        cells = (row.teff, row.logg, row.feh, row.prot)
        table.add_row(
            str(row.kic),
            f"{row.distance:.3g}",
            *("–" if v != v else f"{v:.4g}" for v in cells),
            row.cmd_class if isinstance(row.cmd_class, str) else "–",
        )
    console.print(table)


@report_app.command("table")
def report_table(
    metrics: Annotated[
        Path | None,
        typer.Option(
            help="metrics.json to read; default: the one evaluate wrote in the data root."
        ),
    ] = None,
) -> None:
    """The comparison table (values with intervals, DESA's paired differences) as markdown."""
    from desa.report.table import markdown_table
    from flows.settings import Settings
    from storage import layout
    from storage.layout import DataRoot

    if metrics is None:
        root = DataRoot(Settings().data_root)
        path = root.of(layout.METRICS)
        if not root.fs.exists(path):
            raise typer.BadParameter(f"{path} does not exist: run `desa rebuild` first")
        with root.fs.open(path) as handle:
            text = handle.read()
    elif not metrics.is_file():
        raise typer.BadParameter(f"{metrics} does not exist")
    else:
        text = metrics.read_text()
    try:
        table = markdown_table(json.loads(text))
    except ValueError as exc:
        raise typer.BadParameter(f"{metrics or layout.METRICS.relpath}: {exc}") from exc
    typer.echo(table, nl=False)


@app.command()
def serve() -> None:
    """Serve every stage, `rebuild` and `watch-releases` as deployments named `desa`, with
    their schedules and triggers, until SIGTERM or SIGINT (needs PREFECT_API_URL)."""
    from flows.serve import serve_pipeline
    from flows.settings import Settings

    try:
        serve_pipeline(Settings())
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


@app.command()
def watch() -> None:
    """Check once whether a source published a new release or catalog version.

    Pointed at a server (PREFECT_API_URL), this runs `watch-releases`, whose events trigger
    the served rebuild; otherwise it only reports (run `desa rebuild` to build what is new).
    """
    from dataclasses import asdict

    from prefect.settings import PREFECT_API_URL

    from flows.settings import Settings
    from flows.watch import detect_changes, watch_releases

    if PREFECT_API_URL.value():
        changes = watch_releases()
    else:
        changes = [asdict(change) for change in detect_changes(Settings())]
    if not changes:
        console.print("watch: every source is as the data root was built from")
        return
    table = Table("source", "event", "built from", "now", "status")
    for change in changes:
        status = change.get("status") or ("new" if change["followed"] else "not followed")
        old, new = (_short(str(change[key])) for key in ("old", "new"))
        table.add_row(change["source"], change["event"], old, new, status)
    console.print(table)
    if not PREFECT_API_URL.value():
        console.print("run `desa rebuild` to build what is new")


def _short(value: str) -> str:
    """A release as it is; a 64-digit stamp cut to its first 12 digits."""
    return value if len(value) <= 16 else value[:12]


@app.command("demo-sky")
def demo_sky(
    out: Annotated[
        Path | None, typer.Option(help="Mirror folder (default: the profile's).")
    ] = None,
    n_stars: Annotated[int | None, typer.Option(help="Number of stars.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    release: Annotated[
        str | None,
        typer.Option(help="Publish this LAMOST release (e.g. dr9) into the existing sky."),
    ] = None,
) -> None:
    """Write the deterministic synthetic sky (an archive mirror in the real formats), or with
    --release publish a new survey release into it."""
    from desa.sky.mirror import build_sky
    from flows.settings import Settings
    from flows.stages.demo_sky import mirror_dir

    settings = Settings()
    target = out or mirror_dir(settings)
    sky_seed = settings.sky.seed if seed is None else seed
    if release is not None:
        from desa.sky.release import publish_release

        if n_stars is not None:
            raise typer.BadParameter("a release adds to the sky; it takes no --n-stars")
        try:
            published = publish_release(
                target, release, seed=sky_seed, workers=settings.sky.workers
            )
        except (FileNotFoundError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--release") from exc
        console.print(f"release {release} published in {target}: {published}")
        return
    summary = build_sky(
        target,
        n_stars=n_stars or settings.sky.n_stars,
        seed=sky_seed,
        max_quarters=settings.sky.max_quarters,
        workers=settings.sky.workers,
    )
    console.print(f"demo sky written to {target}: {summary}")


@bench_app.command("fetch")
def bench_fetch(
    files: Annotated[int, typer.Option(help="Files to download from the loopback server.")] = 200,
    concurrency: Annotated[int, typer.Option(help="Concurrent downloads.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Download rate from a loopback archive and per-core read rates of both survey readers."""
    from bench.suite import fetch_benchmark

    _print_measures(fetch_benchmark(n_files=files, concurrency=concurrency), as_json)


@bench_app.command("preprocess")
def bench_preprocess(
    copies: Annotated[
        int, typer.Option(help="Copies of each real file in the memory measurement (N).")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decode floor, reference path and our stage per core (spectra: one shard of the spectra
    stage, DESA_SPECTRA__SHARD_ROWS); peak worker memory at N and 4N."""
    from bench.suite import preprocess_benchmark
    from flows.settings import Settings

    shard_rows = Settings().spectra.shard_rows
    _print_measures(preprocess_benchmark(shard_rows=shard_rows, copies=copies), as_json)


@bench_app.command("train")
def bench_train(
    profile: Annotated[str, typer.Option(help="Model profile: demo, paper or all.")] = "all",
    steps: Annotated[
        int | None, typer.Option(help="Timed optimiser steps (default: per device).")
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models (default: all of them).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="cuda or cpu (default: CUDA when present).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size (default: each model's training batch).")
    ] = None,
    compile: Annotated[bool, typer.Option("--compile", help="Time torch.compile'd steps.")] = False,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Training samples/s and FLOPs/sample per model and profile; MFU on a known CUDA GPU."""
    from bench.train import train_benchmark
    from flows.settings import Settings

    if profile not in ("demo", "paper", "all"):
        raise typer.BadParameter(f"unknown profile {profile!r}", param_hint="--profile")
    profiles = ("demo", "paper") if profile == "all" else (profile,)
    try:
        result = train_benchmark(
            {p: Settings(profile=p).training for p in profiles},
            steps=steps,
            models=None if models is None else [m.strip() for m in models.split(",")],
            device=device,
            batch_size=batch_size,
            compile=compile,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if output is not None:
        output.write_text(json.dumps(result, indent=2))
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(
        "profile", "model", "params", "batch", "s/step", "samples/s", "FLOP/sample", "MFU"
    )
    for run in result["runs"]:
        mfu = run["mfu"]
        table.add_row(
            run["profile"],
            run["model"],
            f"{run['parameters']:.3g}",
            str(run["batch_size"]),
            f"{run['seconds_per_step']:.3g}",
            f"{run['samples_per_s']:.3g}",
            f"{run['flops_per_sample']:.3g}",
            "—" if mfu is None else f"{mfu:.1%}",
        )
    console.print(table)
    console.print(f"{result['device_name']}: {result['mfu_note']}")


@bench_app.command("products")
def bench_products(
    n: Annotated[int, typer.Option(help="N: stars (the runs use N and 4N).")] = 2000,
    profile: Annotated[str, typer.Option(help="Model widths: demo or paper.")] = "demo",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Embedding throughput and UMAP fit / transform time at N and 4N."""
    from bench.products import products_benchmark
    from flows.settings import Settings

    _print_measures(products_benchmark(Settings(profile=profile).comparison(), n), as_json)


@bench_app.command("rebuild")
def bench_rebuild(
    n: Annotated[int, typer.Option(help="N: stars of the demo sky (rebuilds at N and 4N).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each stage's start-up and work in a fresh rebuild at N and 4N stars, Dask clusters
    started, a warm-cache first UMAP fit, the no-op rebuild and CLI times against the goals."""
    from flows.rebuild_bench import rebuild_benchmark, rebuild_tables

    result = rebuild_benchmark(n)
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(*rebuild_tables(result))


@bench_app.command("memory")
def bench_memory(
    n: Annotated[int, typer.Option(help="N: stars of the smaller demo sky.")] = 300,
    factor: Annotated[int, typer.Option(help="F: the larger sky has F·N stars.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Peak RSS of a fresh rebuild at N and F·N stars: the rebuild process per stage, each Dask
    worker, the Prefect API server and the whole process tree, and their growth (< 1.5x)."""
    from flows.memory_bench import memory_benchmark, memory_tables

    result = memory_benchmark(n, factor)
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(*memory_tables(result))


def _print_measures(result: dict, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table("measure", "value")
    for key, value in result.items():
        table.add_row(key, f"{value:.3g}" if isinstance(value, float) else str(value))
    console.print(table)
