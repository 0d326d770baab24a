"""Progress of long stages: a Prefect progress artifact in a flow run, a bar in the terminal.

A stage opens a `StageProgress` for a unit (files, objects, epochs) and a total, and moves it
as work finishes. Inside a flow run it keeps a progress artifact up to date (throttled: at most
one API call a second and one a percent, plus the final 100 %). While `desa run` or
`desa rebuild` draws bars in a terminal (`terminal_progress`), it drives one of them too.
Elsewhere it only counts.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from flows.artifacts import artifact_key

if TYPE_CHECKING:
    from prefect.logging.handlers import PrefectConsoleHandler

# Lines a bar stands for (per-epoch losses) go to this child of the run logger. Prefect's API
# handler sits on the run loggers and its console handler on the root logger, so the child's
# records reach both; dropping them by name at the console handler alone, while a bar is
# drawn, keeps them in the run's logs in the UI and off the terminal.
DETAIL = "progress"
DETAIL_LOGGERS = frozenset(f"prefect.{runs}.{DETAIL}" for runs in ("flow_runs", "task_runs"))

_log = logging.getLogger(__name__)


# Prefect is imported when a progress is first made, not with this module (the stages import
# it, and `desa status` imports the stages).
def create_progress_artifact(*args: Any, **kwargs: Any) -> UUID:
    from prefect.artifacts import create_progress_artifact as create

    return create(*args, **kwargs)


def update_progress_artifact(*args: Any, **kwargs: Any) -> UUID:
    from prefect.artifacts import update_progress_artifact as update

    return update(*args, **kwargs)


def _in_a_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class Throttle:
    """Whether a percentage is worth an API call: 100 always (once); otherwise at most one
    call a second and one a percent."""

    def __init__(
        self,
        interval_s: float = 1.0,
        step: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s, self.step, self.clock = interval_s, step, clock
        self.sent: float | None = None
        self.sent_at = 0.0

    def __call__(self, percent: float) -> bool:
        now = self.clock()
        due = (
            self.sent is None
            or (percent >= 100 and self.sent < 100)
            or (percent - self.sent >= self.step and now - self.sent_at >= self.interval_s)
        )
        if due:
            self.sent, self.sent_at = percent, now
        return due


class StageProgress:
    """Work done out of a total for one stage (or one model of a stage, ``label``).

    Use it as a context manager, or call `close`: leaving without an error completes it
    (a fit that stops early is done), leaving with one keeps the count reached.
    """

    def __init__(
        self,
        stage: str,
        unit: str,
        total: int,
        label: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unit, self.total, self.done = unit, total, 0
        self.title = stage if label is None else f"{stage} {label}"
        self._throttle = Throttle(clock=clock)
        self._artifact: UUID | None = None
        self._bar: TaskID | None = None
        if total <= 0:
            return  # nothing to do: no artifact, no bar
        if _in_a_run():
            self._throttle(self.percent)
            self._artifact = create_progress_artifact(
                self.percent,
                key=artifact_key(self.title, "progress"),
                description=self.description,
            )
        if _display is not None:
            self._bar = _display.add(self.title, unit, total)

    @property
    def percent(self) -> float:
        if self.total <= 0:
            return 100.0
        return round(100.0 * min(self.done, self.total) / self.total, 1)

    @property
    def description(self) -> str:
        return f"{self.title}: {self.done} of {self.total} {self.unit}"

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        """Set the count (and the total); `desa.training.fit`'s ``on_epoch`` signature."""
        self.done = done
        if total is not None:
            self.total = total
        if _display is not None and self._bar is not None:
            _display.bars.update(self._bar, completed=done, total=self.total)
        if self._artifact is not None and self._throttle(self.percent):
            self._send()

    def close(self, completed: bool = True) -> None:
        if completed:
            self.update(max(self.done, self.total))
        elif self._artifact is not None and self._throttle.sent != self.percent:
            self._send()  # where it stopped, even within the throttle
        if _display is not None and self._bar is not None:
            _display.bars.remove_task(self._bar)
            _display.bars.refresh()  # gone now, not at the next tick under later log lines
        self._artifact = self._bar = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(completed=exc_type is None)

    def _send(self) -> None:
        try:
            update_progress_artifact(self._artifact, self.percent, self.description)
        except Exception as error:  # progress is for show: never fail hours of work over it
            _log.warning("progress of %s no longer reported: %s", self.title, error)
            self._artifact = None


def detail_log(message: str) -> None:
    """Log a line that a progress bar stands for: in the run's logs (the Prefect UI) always,
    on the console only while no bar is drawn. Printed outside a run."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        logger = get_run_logger()
    except MissingContextError:
        print(message)
        return
    logger.getChild(DETAIL).info(message)


class _DropDetail(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name not in DETAIL_LOGGERS


class _AboveBars(io.TextIOBase):
    """A terminal file whose lines the bars' console prints above the bars (rich's own
    FileProxy will not do: a console writes past it, to the file it wraps)."""

    def __init__(self, bars: Console) -> None:
        self.bars = bars

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.bars.print(Text.from_ansi(text.removesuffix("\n")), soft_wrap=True)
        return len(text)


class _Display:
    """Bars on ``console``, started with the first stage progress (after prefect set up its
    logging); Prefect's console log lines are printed above them, without the detail lines."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.started = False
        self.handlers: list[tuple[PrefectConsoleHandler, IO[str]]] = []
        self.quiet = _DropDetail()

    def add(self, title: str, unit: str, total: int) -> TaskID:
        if not self.started:
            self.bars.start()
            self.started = True
            self._redirect_prefect_console()
        return self.bars.add_task(title, total=total, unit=unit)

    def _redirect_prefect_console(self) -> None:
        # Prefect's console handler writes to the stderr it found at start-up; on the terminal
        # that would tear the bars, so its lines go through the bars' console while they show.
        from prefect.logging.handlers import PrefectConsoleHandler

        for handler in logging.getLogger().handlers:
            if isinstance(handler, PrefectConsoleHandler) and handler.stream.isatty():
                self.handlers.append((handler, handler.console.file))
                handler.console.file = _AboveBars(self.console)
                handler.addFilter(self.quiet)

    def stop(self) -> None:
        if self.started:
            self.bars.stop()
        for handler, file in self.handlers:
            handler.removeFilter(self.quiet)
            handler.console.file = file


_display: _Display | None = None


@contextmanager
def terminal_progress(console: Console) -> Iterator[None]:
    """Draw stage progress as bars on ``console`` while inside, when it is a terminal.

    Anything else (tests, CI, `desa serve`, a pipe) gets no bars and unchanged logging."""
    global _display
    isatty = getattr(console.file, "isatty", None)
    if _display is not None or isatty is None or not isatty():
        yield
        return
    _display = _Display(console)
    try:
        yield
    finally:
        display, _display = _display, None
        display.stop()
