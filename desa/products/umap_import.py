"""umap-learn, with its numba kernels compiled once per machine rather than once per process.

umap-learn and pynndescent compile about 250 numba functions on first use (10-25 s on a
2-core machine, every fresh process), and most are declared without numba's on-disk cache.
Turning the cache on for each of them (numba's `Dispatcher.enable_caching`) under the user's
cache directory lets a new process load what an earlier one compiled. `NUMBA_CACHE_DIR`,
when set, chooses the folder instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

_PACKAGES = ("umap", "pynndescent")


def numba_cache_dir() -> Path:
    if folder := os.environ.get("NUMBA_CACHE_DIR"):
        return Path(folder)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "desa" / "numba"


def import_umap() -> ModuleType:
    """The `umap` module, its compiled kernels cached under `numba_cache_dir()`."""
    folder = numba_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(
        folder
    )  # read by numba at import (pynndescent compiles then)
    import numba
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    numba.config.CACHE_DIR = str(folder)  # numba may have been imported before
    import umap

    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] not in _PACKAGES:
            continue
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and isinstance(value._cache, NullCache):
                value.enable_caching()
    return umap
