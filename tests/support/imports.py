"""The modules a source file imports, read with ast (for the layering and cycle tests)."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_modules(source: Path) -> set[str]:
    """Absolute module names a file imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names
