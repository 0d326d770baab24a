"""The stage framework: explicit cache keys, freshness, one lock per stage, state records.

A stage's cache key is a hash of its name, its code version, its slice of the settings and the
fingerprints of its inputs (outputs of upstream stages, plus external sources for stages that
read archives). The key and the content fingerprints of what the stage produced are stored in
`state/<stage>.json` under the data root, so freshness survives new processes and a fresh
PREFECT_HOME. A downstream stage hashes the *content* fingerprints of the upstream outputs it
reads, so an upstream rerun that changes nothing it reads leaves it fresh.

Paths and URLs under the data root are recorded relative to it (in the config a key is made
of, and in the record's `paths`), so a copied or restored root is up to date where it stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from flows import failpoint
from flows.settings import Settings
from storage.checksum import output_checksums
from storage.errors import DiskFull, is_disk_full
from storage.fingerprint import fingerprint_json
from storage.layout import DataRoot, Product
from storage.lock import StageLock
from storage.state import StageResult, StageState, read_state, write_state


@dataclass(frozen=True)
class StageContext:
    settings: Settings
    root: DataRoot
    force: bool = False
    previous: StageState | None = None  # this stage's last record, for incremental work
    inputs: dict[str, str] = field(default_factory=dict)  # fingerprints the key was made of


@dataclass(frozen=True)
class StageDef:
    name: str
    version: str  # bump when the stage's code changes what it produces
    reads: tuple[Product, ...]  # named products of upstream stages (storage.layout)
    config: Callable[[Settings], dict[str, Any]]
    body: Callable[[StageContext], StageResult]
    external_inputs: Callable[[StageContext], dict[str, str]] | None = None
    writes: tuple[str, ...] = ()  # where its outputs live under the data root (for people)
    profiles: tuple[str, ...] = ("demo", "paper")
    description: str = ""
    dask: bool = False  # run its Prefect tasks on the Dask cluster
    gpu: bool = False  # a GPU job: runs on the training work pool when one is configured
    # Its record keeps byte checksums of its outputs for `desa verify`; False for outputs
    # that change outside the pipeline (the demo mirror takes `desa demo-sky --release`).
    checksummed: bool = True

    @property
    def upstream(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(product.stage for product in self.reads))


@dataclass(frozen=True)
class Freshness:
    stage: str
    key: str | None
    fresh: bool
    reason: str
    state: StageState | None
    config: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _cache_key(stage: str, version: str, config: dict, inputs: dict) -> str:
    content = {"stage": stage, "version": version, "config": config, "inputs": inputs}
    return fingerprint_json(content)


def _same_key(previous: StageState, key: str, root: DataRoot) -> bool:
    """Whether the last record was made under ``key``; a record written while the config held
    full paths under this root counts by what those paths are relative to it."""
    if previous.key == key:
        return True
    config = root.portable(previous.config)
    return _cache_key(previous.stage, previous.version, config, previous.inputs) == key


def _why_changed(previous: StageState, version: str, config: dict, inputs: dict) -> str:
    if previous.version != version:
        return f"code version {previous.version} -> {version}"
    if previous.config != config:
        changed = sorted(
            k
            for k in config.keys() | previous.config.keys()
            if config.get(k) != previous.config.get(k)
        )
        return "config changed: " + ", ".join(changed)
    changed = sorted(
        k for k in inputs.keys() | previous.inputs.keys() if inputs.get(k) != previous.inputs.get(k)
    )
    return "inputs changed: " + ", ".join(changed) if changed else "cache key changed"


def freshness(stage: StageDef, ctx: StageContext) -> Freshness:
    """Compute the stage's cache key now and compare it with its last record."""
    fs = ctx.root.fs
    previous = read_state(fs, ctx.root.state_path(stage.name))
    inputs: dict[str, str] = {}
    for product in stage.reads:
        record = read_state(fs, ctx.root.state_path(product.stage))
        if record is None or product.output not in record.outputs:
            return Freshness(stage.name, None, False, f"waiting for {product.stage}", previous)
        inputs[product.key] = record.outputs[product.output]
    if stage.external_inputs is not None:
        inputs.update(stage.external_inputs(ctx))
    config = ctx.root.portable(stage.config(ctx.settings))
    key = _cache_key(stage.name, stage.version, config, inputs)
    if previous is None:
        fresh, reason = False, "never run"
    elif not _same_key(previous, key, ctx.root):
        recorded = replace(previous, config=ctx.root.portable(previous.config))
        fresh, reason = False, _why_changed(recorded, stage.version, config, inputs)
    elif missing := [
        name for name, path in previous.paths.items() if not fs.exists(ctx.root.resolve(path))
    ]:
        fresh, reason = False, "outputs missing: " + ", ".join(missing)
    elif failed := previous.summary.get("failed", 0):
        fresh, reason = False, f"last run had {failed} failures; retrying them"
    else:
        fresh, reason = True, "up to date"
    return Freshness(stage.name, key, fresh, reason, previous, config, inputs)


@dataclass(frozen=True)
class Outcome:
    state: StageState
    ran: bool
    reason: str
    rows: list[dict[str, Any]]


def _portable_record(now: Freshness, root: DataRoot) -> StageState:
    """The fresh record of ``now``, rewritten with relative paths if it was written with full
    ones (before paths were relative), so that a rebuild in place makes the root movable."""
    state = now.state
    portable = replace(
        state,
        key=now.key,
        config=now.config,
        paths={name: root.relative(path) for name, path in state.paths.items()},
        summary=root.portable(state.summary),
    )
    if portable != state:
        with StageLock(root.fs, root.lock_path(state.stage), owner=state.stage):
            write_state(root.fs, root.state_path(state.stage), portable)
    return portable


def execute(stage: StageDef, ctx: StageContext, log: Callable[[str], None] = print) -> Outcome:
    """Run ``stage`` unless it is fresh (or forced); publish its state record last."""
    now = freshness(stage, ctx)
    if now.fresh and not ctx.force:
        log(f"{stage.name}: up to date (key {now.key[:12]}), skipped")
        return Outcome(_portable_record(now, ctx.root), False, now.reason, [])
    if now.key is None:
        raise RuntimeError(f"{stage.name} cannot run: {now.reason}")
    log(f"{stage.name}: running ({'forced' if ctx.force else now.reason})")
    root = ctx.root
    with StageLock(root.fs, root.lock_path(stage.name), owner=stage.name):
        failpoint.reach(stage.name, "early")  # DESA_FAILPOINT: tests/flows/test_faults.py
        started, t0 = _now(), time.perf_counter()
        run_ctx = StageContext(ctx.settings, root, ctx.force, now.state, now.inputs)
        try:
            with failpoint.mid_way(stage.name):
                result = stage.body(run_ctx)
        except OSError as err:
            if not is_disk_full(err) or isinstance(err, DiskFull):
                raise
            raise DiskFull(err.filename or root.url, f"{stage.name} writing") from err
        failpoint.reach(stage.name, "publish")
        paths = {name: root.relative(path) for name, path in result.paths.items()}
        state = StageState(
            stage=stage.name,
            key=now.key,
            version=stage.version,
            config=now.config,
            inputs=now.inputs,
            outputs=result.outputs,
            paths=paths,
            started_at=started,
            finished_at=_now(),
            duration_s=round(time.perf_counter() - t0, 3),
            summary=root.portable(result.summary),
            checksums=output_checksums(root, paths) if stage.checksummed else {},
        )
        write_state(root.fs, root.state_path(stage.name), state)
    log(f"{stage.name}: done in {state.duration_s:.1f} s {result.summary}")
    return Outcome(state, True, "forced" if ctx.force else now.reason, result.rows)


def plan(stages: list[StageDef], ctx: StageContext) -> list[Freshness]:
    """Freshness of every stage in order; a stage behind a stale upstream is stale too."""
    stale: set[str] = set()
    result = []
    for stage in stages:
        now = freshness(stage, ctx)
        behind = [u for u in stage.upstream if u in stale]
        if behind and now.fresh:
            reason = f"upstream {', '.join(behind)} out of date"
            now = replace(now, fresh=False, reason=reason)
        if not now.fresh:
            stale.add(stage.name)
        result.append(now)
    return result
