"""A name from outside (a folder listing's entry, a catalog value) that becomes a file or folder
name must be one plain name: a path such as `../x` or `/x` would write outside its folder."""

from __future__ import annotations

from storage.errors import BadInputError

_SEPARATORS = ("/", "\\")  # a backslash too: a path on Windows, never part of an archive name


def plain_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one file or folder name inside its folder; None when it can."""
    if not name.strip():
        return "is empty"
    if name in (".", ".."):
        return "names a folder, not a file (path traversal)"
    if any(separator in name for separator in _SEPARATORS):
        return "is a path, not a name (holds '/' or '\\'; path traversal refused)"
    if "\x00" in name:
        return "holds a NUL byte"
    return None


def check_plain_name(name: str, where: str) -> str:
    """``name`` itself; BadInputError naming ``where`` (the file or row it came from) if it is
    not a plain name."""
    problem = plain_name_problem(name)
    if problem is not None:
        raise BadInputError(where, f"name {name!r} {problem}")
    return name
