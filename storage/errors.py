"""Errors for bad input: each names the file (or object) and the problem."""

from __future__ import annotations

from os import PathLike


class BadInputError(ValueError):
    """A malformed input file or row; the message names the file and the problem."""

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
