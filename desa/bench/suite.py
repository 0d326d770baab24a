"""`desa bench fetch`: download rate from a loopback archive and per-core read rates."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from desa.bench.fetch import fetch_rate
from desa.bench.readers import read_rates
from desa.sky.mirror import build_sky
from desa.testing import real_data_dir


def fetch_benchmark(n_files: int = 200, concurrency: int = 4, n_stars: int = 60) -> dict[str, Any]:
    """Measure on a fresh synthetic sky; read rates use the real files too when present."""
    with tempfile.TemporaryDirectory(prefix="desa-bench-") as tmp:
        mirror = Path(tmp)
        build_sky(mirror, n_stars=n_stars, seed=1)
        fetch = fetch_rate(mirror, n_files=n_files, concurrency=concurrency)
        real = real_data_dir()
        lamost = sorted(mirror.glob("lamost/**/*.fits.gz"))[:50]
        kepler = sorted(mirror.glob("kepler/**/*_llc.fits"))[:50]
        source = "synthetic"
        if (real / "lamost").is_dir() and (real / "kepler").is_dir():
            lamost = sorted((real / "lamost").glob("**/*.fits*"))
            kepler = sorted((real / "kepler").glob("*_llc.fits"))
            source = "real"
        reads = read_rates(lamost, kepler)
    return {
        **{f"fetch_{k}": v for k, v in fetch.items()},
        "read_files": source,
        **reads,
    }
