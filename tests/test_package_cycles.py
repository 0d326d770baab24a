"""The top-level packages import each other in one direction only: no package cycle.

Read from the source with ast (nothing is imported), counting every import, function-level
ones included, so a lazy import inside a function cannot hide a cycle.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from tests.support.imports import imported_modules

REPO = Path(__file__).resolve().parents[1]


def top_level_packages() -> list[str]:
    """Folders at the repository root that are packages (tests aside)."""
    return sorted(
        p.name for p in REPO.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"
    )


def package_graph(packages: list[str]) -> dict[str, dict[str, list[str]]]:
    """package -> {package it imports: the files that import it}."""
    graph: dict[str, dict[str, list[str]]] = {name: {} for name in packages}
    for name in packages:
        for source in sorted((REPO / name).rglob("*.py")):
            for module in imported_modules(source):
                target = module.split(".")[0]
                if target in graph and target != name:
                    graph[name].setdefault(target, []).append(str(source.relative_to(REPO)))
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle as a path (first node repeated at the end), or None: depth-first search."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node, [])
        if cycle:
            return cycle
    return None


def test_find_cycle_reports_a_cycle_and_accepts_layers() -> None:
    layered = {"a": {"b": ["a/x.py"]}, "b": {"c": ["b/y.py"]}, "c": {}}
    assert find_cycle(layered) is None
    looped = {**layered, "c": {"a": ["c/z.py"]}}
    assert find_cycle(looped) == ["a", "b", "c", "a"]


def test_function_level_imports_count(tmp_path: Path) -> None:
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from storage.layout import DataRoot\n    import desa.x\n")
    assert imported_modules(source) == {"storage.layout", "desa.x"}


def test_top_level_packages_form_no_import_cycle() -> None:
    packages = top_level_packages()
    assert {"desa", "catalogs", "storage", "flows"} <= set(packages)
    graph = package_graph(packages)
    cycle = find_cycle(graph)
    if cycle:
        steps = [f"{a} -> {b} ({', '.join(graph[a][b])})" for a, b in pairwise(cycle)]
        raise AssertionError("package import cycle:\n" + "\n".join(steps))
