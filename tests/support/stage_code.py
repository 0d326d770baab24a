"""The code each stage runs, as a hash, and the committed record the stage versions follow.

A stage's code is its StageDef body and everything of ours it reaches by name: the functions,
classes and plain constants of the first-party packages it calls, followed through module
attributes (``zarr_store.create``), Prefect tasks (their ``fn``) and closures. Each piece is
hashed as its syntax tree without docstrings, so comments, docstrings, formatting, line
numbers and moves between modules leave the hash alone; any other edit changes it.

``python -m tests.support.stage_code`` rewrites the record from the code as it is.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FIRST_PARTY = ("desa", "catalogs", "storage", "flows", "bench")
RECORD = Path(__file__).resolve().parents[1] / "flows" / "stage_versions.json"
_LITERALS = (str, int, float, bool, bytes, type(None))


def code_hash(body: Callable[..., Any], first_party: tuple[str, ...] = FIRST_PARTY) -> str:
    """sha256 of the syntax trees of ``body`` and of every first-party object it reaches."""
    pieces: dict[tuple[str, str], str] = {}
    pending: list[Any] = [body]
    while pending:
        obj = _unwrap(pending.pop())
        if not _ours(obj, first_party):
            continue
        key = (obj.__module__, obj.__qualname__)
        if key in pieces:
            continue
        tree, namespace = _tree(obj)
        pieces[key] = ast.dump(tree)
        for name, attribute in _references(tree):
            value = namespace.get(name)
            if attribute is not None and isinstance(value, types.ModuleType):
                value = getattr(value, attribute, None)
            if _plain(value):
                pieces[(key[0], f"{key[1]}:{name}")] = f"{name}={_canonical(value)}"
            elif value is not None:
                pending.append(value)
    # Sorted by content, not by module: a function moved unchanged keeps the hash.
    text = "\n".join(sorted(pieces.values()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current_record() -> dict[str, dict[str, str]]:
    """{stage: {"version", "code"}} of every stage as the code stands."""
    from flows.stages import STAGES

    return {
        stage.name: {"version": stage.version, "code": code_hash(stage.body)} for stage in STAGES
    }


def _unwrap(obj: Any) -> Any:
    """The plain function behind a Prefect task or a decorated function."""
    fn = getattr(obj, "fn", None)
    if callable(fn) and not isinstance(obj, types.ModuleType):
        obj = fn
    return inspect.unwrap(obj) if callable(obj) else obj


def _ours(obj: Any, first_party: tuple[str, ...]) -> bool:
    if not isinstance(obj, types.FunctionType | type):
        return False
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in first_party


def _plain(value: Any) -> bool:
    """A constant whose repr is its whole content (no addresses, no objects)."""
    if isinstance(value, _LITERALS):
        return True
    if isinstance(value, tuple | list | frozenset | set):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return False


def _canonical(value: Any) -> str:
    """repr with sets sorted: their order changes with each process's string hash seed."""
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(sorted(_canonical(v) for v in value)) + "}"
    if isinstance(value, tuple | list):
        return type(value).__name__ + "(" + ", ".join(_canonical(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_canonical(k)}: {_canonical(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _tree(obj: types.FunctionType | type) -> tuple[ast.AST, dict[str, Any]]:
    """The syntax tree of ``obj`` without docstrings, and the names it can see."""
    namespace = dict(vars(sys.modules[obj.__module__]))
    if isinstance(obj, types.FunctionType):
        namespace.update(inspect.getclosurevars(obj).nonlocals)
    if obj.__name__ == "<lambda>":
        tree: ast.AST = _lambda_tree(obj)
    else:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    return _without_docstrings(tree), namespace


def _lambda_tree(fn: types.FunctionType) -> ast.AST:
    """The lambda expression(s) starting on the lambda's line of its module."""
    module = ast.parse(inspect.getsource(sys.modules[fn.__module__]))
    line = fn.__code__.co_firstlineno
    found = [n for n in ast.walk(module) if isinstance(n, ast.Lambda) and n.lineno == line]
    if not found:
        raise ValueError(f"no lambda on line {line} of {fn.__module__}")
    return ast.Module(body=[ast.Expr(node) for node in found], type_ignores=[])


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _references(tree: ast.AST) -> Iterator[tuple[str, str | None]]:
    """(name, attribute read from it or None) for every name the code loads, annotations
    left out (a type named in a signature is not code the stage runs)."""
    annotations = {
        id(sub)
        for node in ast.walk(tree)
        for field in ("annotation", "returns")
        if isinstance(getattr(node, field, None), ast.AST)
        for sub in ast.walk(getattr(node, field))
    }
    for node in ast.walk(tree):
        if id(node) in annotations:
            continue
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            yield node.value.id, node.attr
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            yield node.id, None


def write_record(path: Path = RECORD) -> None:
    path.write_text(json.dumps(current_record(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_record()
    print(f"wrote {RECORD}")
