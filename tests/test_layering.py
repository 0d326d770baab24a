"""Library packages never import prefect; they run and test without a server."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import catalogs
import desa
import storage


def _modules() -> list[str]:
    names = []
    for package in (desa, catalogs, storage):
        prefix = package.__name__ + "."
        names += [m.name for m in pkgutil.walk_packages(package.__path__, prefix)]
    return names


def test_library_modules_do_not_import_prefect() -> None:
    modules = _modules()
    assert "desa.surveys.lamost" in modules and "catalogs.crossmatch" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
