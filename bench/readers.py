"""Read rates of the survey readers against the obvious alternatives, side by side.

LAMOST: `desa.surveys.lamost.read_spectrum` vs a plain astropy open that touches the pixel data.
Kepler: `desa.surveys.kepler.read_quarter` vs `lightkurve.read` (same rows, data_sources.md §2.2).
Everything runs sequentially in the calling process, so on one core.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any

from astropy.io import fits

from bench.isolation import quiet_lightkurve
from desa.surveys.kepler import read_quarter
from desa.surveys.lamost import read_spectrum

Paths = Sequence[str | PathLike[str]]


def _astropy_lamost(path: str | PathLike[str]) -> Any:
    with fits.open(path, memmap=False) as hdul:
        # Either layout: the image in HDU0 or the COADD table in HDU1.
        data = hdul[1].data if len(hdul) > 1 else hdul[0].data
        return data[0]


def _files_per_s(read: Callable[[Any], Any], paths: Paths, repeat: int) -> float:
    """Best of `repeat` passes over all files (least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for path in paths:
            read(path)
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


def read_rates(lamost_paths: Paths, kepler_paths: Paths, repeat: int = 3) -> dict[str, float]:
    """Files/s of our readers and of the baselines, and ours/baseline ratios.

    Keys: lamost_ours, lamost_astropy, lamost_ratio, kepler_ours, kepler_lightkurve,
    kepler_ratio (a survey with no paths is left out). Each reader is run once first so that
    imports and caches do not count.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, not {repeat}")
    rates: dict[str, float] = {}
    if lamost_paths:
        for read in (read_spectrum, _astropy_lamost):
            read(lamost_paths[0])
        rates["lamost_ours"] = _files_per_s(read_spectrum, lamost_paths, repeat)
        rates["lamost_astropy"] = _files_per_s(_astropy_lamost, lamost_paths, repeat)
        rates["lamost_ratio"] = rates["lamost_ours"] / rates["lamost_astropy"]
    if kepler_paths:
        with quiet_lightkurve():
            import lightkurve  # imported here: ~2 s, only the benchmark needs it

            def lightkurve_read(path: str | PathLike[str]) -> Any:
                return lightkurve.read(str(path), quality_bitmask="default")

            for read in (read_quarter, lightkurve_read):
                read(kepler_paths[0])
            rates["kepler_ours"] = _files_per_s(read_quarter, kepler_paths, repeat)
            rates["kepler_lightkurve"] = _files_per_s(lightkurve_read, kepler_paths, repeat)
        rates["kepler_ratio"] = rates["kepler_ours"] / rates["kepler_lightkurve"]
    return rates
