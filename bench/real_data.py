"""Where the real survey files are read in place (the benchmarks and the tests use them)."""

from __future__ import annotations

import os
from pathlib import Path

# In a checkout (or an editable install) this is the repository; the files sit beside it.
_REPO_ROOT = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path:
    """Folder of real survey files (`DESA_REAL_DATA`, default `<repo>/../shared/real`)."""
    return Path(os.environ.get("DESA_REAL_DATA", _REPO_ROOT.parent / "shared" / "real"))
