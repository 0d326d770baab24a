"""Helpers shared by the test suite and benchmarks (no pytest import here)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path:
    """Folder of real survey files (`DESA_REAL_DATA`, default `<repo>/../shared/real`)."""
    return Path(os.environ.get("DESA_REAL_DATA", REPO_ROOT.parent / "shared" / "real"))
