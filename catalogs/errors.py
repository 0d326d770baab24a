"""Errors raised while reading catalog files; each names the file and what is wrong with it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

from storage.errors import BadInputError


class CatalogReadError(BadInputError):
    """A catalog file that cannot be read: empty, corrupt, or not in the expected format."""


class CatalogSchemaError(CatalogReadError):
    """A catalog file whose columns do not match its spec (missing or renamed columns).

    ``similar`` maps each missing published column to the columns present in the file that look
    like it (``difflib`` close matches), so a renamed column shows up next to its old name;
    ``unexpected`` lists the file's columns that the spec does not know.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        missing: Sequence[str],
        similar: Mapping[str, Sequence[str]],
        unexpected: Sequence[str],
    ) -> None:
        self.missing = list(missing)
        self.similar = {name: list(matches) for name, matches in similar.items()}
        self.unexpected = list(unexpected)
        hints = [
            f"{name!r} -> maybe {matches}" for name, matches in self.similar.items() if matches
        ]
        problem = f"missing required columns {self.missing}"
        if hints:
            problem += f" (similar columns present: {'; '.join(hints)})"
        if self.unexpected:
            problem += f"; columns not in the spec: {self.unexpected}"
        super().__init__(path, problem)


class CatalogFetchError(RuntimeError):
    """A catalog service answered, but not with the table that was asked for."""


class CatalogSourceError(CatalogReadError):
    """A catalog source that answered with something other than its table (a web page, another
    table, missing columns, a failed download); names the catalog and the URL asked."""

    def __init__(self, name: str, url: str, problem: str) -> None:
        self.name, self.url = name, url
        super().__init__(url, f"catalog {name!r}: {problem}")
