"""How library code reports work done without knowing who shows it (flows.progress does)."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol


class Progress(Protocol):
    """Work done out of a total; a context manager that completes it on a clean exit."""

    def advance(self, n: int = 1) -> None: ...

    def update(self, done: int, total: int | None = None) -> None: ...

    def close(self, completed: bool = True) -> None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


class Tracker(Protocol):
    """Makes a `Progress` for a stage (or one ``label`` of it) counting ``unit``."""

    def __call__(self, stage: str, unit: str, total: int, label: str | None = None) -> Progress: ...


class Silent:
    """A `Progress` that shows nothing (library calls outside a flow, tests)."""

    def __init__(self, stage: str, unit: str, total: int, label: str | None = None) -> None:
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done

    def close(self, completed: bool = True) -> None:
        pass

    def __enter__(self) -> Silent:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        pass
