"""Library packages never import prefect; no shipped package holds or imports test tooling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.imports import imported_modules
from tests.support.paths import REPO_ROOT

LIBRARY = ("desa", "catalogs", "storage")
# What pyproject's packages.find ships (tests/ is not among them).
SHIPPED = (*LIBRARY, "flows", "bench")


def _sources(packages: tuple[str, ...]) -> list[Path]:
    """Every .py file of the packages, from the file tree: pkgutil skips folders without an
    __init__.py, and with them every module inside."""
    return sorted(p for name in packages for p in (REPO_ROOT / name).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_package_folder_has_an_init() -> None:
    folders = {path.parent for path in _sources(SHIPPED)}
    missing = sorted(
        str(f.relative_to(REPO_ROOT)) for f in folders if not (f / "__init__.py").is_file()
    )
    assert missing == [], f"package folders without __init__.py: {missing}"


def test_library_modules_do_not_import_prefect() -> None:
    modules = [_module_name(path) for path in _sources(LIBRARY)]
    assert "desa.surveys.lamost" in modules and "catalogs.crossmatch" in modules
    assert "desa.training.fit" in modules  # a package pkgutil missed while it had no __init__
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_shipped_packages_hold_and_import_no_test_tooling() -> None:
    sources = _sources(SHIPPED)
    assert any(path.parts[-2:] == ("bench", "fetch.py") for path in sources)
    testing = [str(p.relative_to(REPO_ROOT)) for p in sources if p.stem.startswith("testing")]
    assert testing == [], f"test tooling belongs in tests/support/: {testing}"
    importers = {
        str(path.relative_to(REPO_ROOT)): sorted(
            name for name in imported_modules(path) if name == "tests" or name.startswith("tests.")
        )
        for path in sources
    }
    assert {path: names for path, names in importers.items() if names} == {}
