"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from desa.testing import real_data_dir

# Prefect state of the test run stays out of the user's home; set before flows import prefect.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="desa-test-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Prefect logs the ephemeral server's shutdown at exit, after pytest closed its capture.
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see default settings, whatever DESA_* variables the caller's shell has."""
    for name in list(os.environ):
        if name.startswith("DESA_") and name != "DESA_REAL_DATA":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real LAMOST/Kepler/catalog files, read in place; skip when the folder is missing."""
    path = real_data_dir()
    if not (path / "lamost").is_dir() or not (path / "kepler").is_dir():
        pytest.skip(f"real survey files not found at {path} (set DESA_REAL_DATA)")
    return path
