"""`desa bench fetch`: download rate from a loopback archive and per-core read rates."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from bench.fetch import fetch_rate
from bench.lightcurves import lightcurve_rates
from bench.memory import peak_memory_mb
from bench.readers import read_rates
from bench.real_data import real_data_dir
from bench.spectra import spectra_rates
from desa.sky.mirror import build_sky
from desa.surveys.kepler import parse_llc_filename


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


def preprocess_benchmark(shard_rows: int, copies: int = 20, repeat: int = 3) -> dict[str, Any]:
    """Spectra and light curves: decode floor, reference path and our stage side by side, per
    core, the spectra over one shard of ``shard_rows`` (the spectra stage's setting; the real
    files repeated: the stage reads, preprocesses and writes a shard at a time); then one
    worker's peak memory at N and 4N objects (``copies`` of each real file, fixed shard size)."""
    real = real_data_dir()
    if not (real / "lamost").is_dir() or not (real / "kepler").is_dir():
        raise FileNotFoundError(f"the preprocessing benchmark reads the real files in {real}")
    spectra = [str(p) for p in sorted((real / "lamost").glob("**/*.fits*"))]
    files_by_kic: dict[int, list[str]] = {}
    for path in sorted((real / "kepler").glob("*_llc.fits")):
        files_by_kic.setdefault(parse_llc_filename(path.name)[0], []).append(str(path))
    one_shard = spectra * math.ceil(shard_rows / len(spectra))
    result: dict[str, Any] = {
        "spectra_per_pass": len(one_shard),
        **{f"spectra_{k}": v for k, v in spectra_rates(one_shard, repeat).items()},
        **{f"lightcurves_{k}": v for k, v in lightcurve_rates(files_by_kic, repeat).items()},
    }
    stars = [files for files in files_by_kic.values() if len(files) >= 2]
    for kind, items, shard in (("spectra", spectra * copies, 64), ("lightcurves", stars * 4, 8)):
        small = peak_memory_mb(kind, items, shard)
        large = peak_memory_mb(kind, items * 4, shard)
        result[f"{kind}_objects"] = len(items)
        result[f"{kind}_peak_mb_n"] = small
        result[f"{kind}_peak_mb_4n"] = large
        result[f"{kind}_peak_ratio_4n_vs_n"] = large / small
    return result
