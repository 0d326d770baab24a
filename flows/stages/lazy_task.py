"""Prefect tasks made on first use, so that importing the stages (for `desa status`, a no-op
`desa rebuild` or `--help`) imports neither Prefect nor what the bodies need (torch, ...)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from typing import Any


class LazyTask:
    """A Prefect task (never cached: a stage's cache key decides) of ``target``: a function,
    or "module:name" of one, imported when the task is first called or its ``fn`` read."""

    def __init__(self, target: str | Callable[..., Any], **options: Any) -> None:
        self._target, self._options = target, options
        self._task: Any = None

    @property
    def fn(self) -> Callable[..., Any]:
        """The plain function, as on a Prefect task (tests/support/stage_code.py follows it)."""
        if callable(self._target):
            return self._target
        module, _, name = self._target.partition(":")
        return getattr(import_module(module), name)

    @property
    def task(self) -> Any:
        if self._task is None:
            from prefect import task
            from prefect.cache_policies import NO_CACHE

            self._task = task(self.fn, cache_policy=NO_CACHE, **self._options)
        return self._task

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.task(*args, **kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        return self.task.submit(*args, **kwargs)

    def with_options(self, **options: Any) -> Any:
        return self.task.with_options(**options)


def lazy_task(**options: Any) -> Callable[[Callable[..., Any]], LazyTask]:
    """``@lazy_task(name=...)``: the decorator form of LazyTask."""
    return lambda fn: LazyTask(fn, **options)


class _Deferred(ModuleType):
    """Stands for a module, importing it (the ordinary way) when an attribute is first read;
    a ModuleType, so that tests/support/stage_code.py follows ``module.name`` through it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(import_module(self.__name__), name)


def lazy_module(name: str) -> ModuleType:
    """Module ``name``, imported when one of its attributes is first read: the keys and bodies
    of the stages use it, and listing the stages (`desa status`) must not import torch."""
    return _Deferred(name)
