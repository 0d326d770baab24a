"""Spectra preprocessing rate per core: our stage beside the reference code and the decode floor.

Three paths over the same LAMOST files, side by side in one child process:

- `decode_floor`: astropy open + the five pixel arrays materialised, nothing else;
- `lean_decode_floor`: the same by our lean decode (`desa.surveys.lean_fits`: gunzip, header
  cards, numpy views at the header's offsets), nothing else;
- `reference`: astropy read + the reference code's per-spectrum preprocessing
  (`LAMOSTSpectrumPreprocessor`, desa_reference.md §8.1), written out below as it does it:
  per arm a cut on the shifted wavelength, `interp1d(..., fill_value="extrapolate")`,
  `medfilt`, `np.polyfit`/`np.polyval` of degree 5, clip, z-score. Only its speed is used; its
  output keeps its RV defect (HELIO_RV, multiplied), which costs the same as the fix;
- `ours`: `preprocess_files` (read_spectrum, with its gzip CRC and layout checks, +
  `preprocess_batch`) + the result written to a Zarr store with xarray;
- `reference_compute` / `ours_compute`: the two preprocessing codes alone, on spectra already
  decoded in memory (the file decoding is most of both end-to-end costs).

"Per core": the child runs pinned to one CPU with BLAS/OpenMP limited to one thread, as a Dask
worker's nanny sets them (`distributed.nanny.pre-spawn-environ`). Rates are spectra per second
of the child's CPU time (user + system, all its threads), best of `repeat` passes after one
warm-up pass over the first file: CPU time, not wall time, so that other load on a shared
machine does not count against either path. Files are read from the page cache after the
warm-up, as on a worker re-reading a shard. The Zarr write happens once per pass (~30 ms fixed
cost), so give a shard-sized list (files may repeat) for per-spectrum figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from scipy import interpolate
from scipy.signal import medfilt

from bench.isolation import one_core
from desa.preprocess.spectra import (
    BLUE_ARM,
    LOG10_STEP,
    RED_ARM,
    preprocess_batch,
    preprocess_files,
    rest_grid,
)
from desa.surveys.lamost import _lean_decode, read_spectrum
from desa.surveys.lean_fits import file_bytes

Paths = Sequence[str | PathLike[str]]

# What a Dask nanny sets in its workers (distributed.yaml, pre-spawn-environ).
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

# Reference constants (desa_reference.md §8.1: c in km/s, medfilt kernel 3, polyfit degree 5).
_C_KMS = 299792.458
_MEDFILT = 3
_DEGREE = 5
_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")


def _decode(path: str) -> tuple[list[np.ndarray], fits.Header]:
    with fits.open(path, memmap=False) as hdul:
        if len(hdul) > 1:  # COADD layout: one row of vector columns
            row = hdul[1].data[0]
            arrays = [np.array(row[name]) for name in _COLUMNS]
        else:  # image layout: rows flux, ivar, wavelength, andmask, ormask
            arrays = list(np.array(hdul[0].data))
        return arrays, hdul[0].header


def _decode_floor(paths: list[str]) -> None:
    for path in paths:
        _decode(path)


def _lean_decode_floor(paths: list[str]) -> None:
    for path in paths:
        decoded = _lean_decode(file_bytes(path))
        if decoded is None:
            raise ValueError(f"{path}: the lean decode does not read this file")
        for values in decoded[1].values():
            if values is not None:
                np.array(values)


def _reference_arm(
    wavelength: np.ndarray, flux: np.ndarray, arm: tuple[float, float]
) -> np.ndarray:
    lo, hi = arm
    keep = (wavelength >= lo) & (wavelength <= hi)
    grid = 10 ** np.arange(np.log10(lo), np.log10(hi), LOG10_STEP)
    resampled = interpolate.interp1d(
        wavelength[keep], flux[keep], kind="linear", fill_value="extrapolate"
    )(grid)
    denoised = medfilt(resampled, kernel_size=_MEDFILT)
    x = np.arange(len(denoised))
    normalised = denoised / np.polyval(np.polyfit(x, denoised, deg=_DEGREE), x)
    mu = np.mean(normalised)
    sigma = np.std(normalised)
    clipped = np.where(
        (normalised < mu - 3 * sigma) | (normalised > mu + 3 * sigma), mu, normalised
    )
    return (clipped - mu) / sigma


def _reference_spectrum(arrays: list[np.ndarray], header: fits.Header) -> np.ndarray:
    flux, wavelength = arrays[0], arrays[2]
    shifted = wavelength * (1 + header["HELIO_RV"] / _C_KMS)
    return np.concatenate([_reference_arm(shifted, flux, arm) for arm in (BLUE_ARM, RED_ARM)])


def _reference(paths: list[str]) -> None:
    for path in paths:
        _reference_spectrum(*_decode(path))


def _ours(paths: list[str], store: Path) -> None:
    import xarray as xr  # ~1 s import, only this path needs it

    batch = preprocess_files(paths)
    dataset = xr.Dataset(
        {"flux": (("obs", "pixel"), batch.flux), "mask": (("obs", "pixel"), batch.mask)},
        coords={"obsid": ("obs", np.asarray(batch.obsids)), "wavelength": ("pixel", rest_grid())},
    )
    dataset.to_zarr(store, mode="w", consolidated=False)


def _spectra_per_s(run: Callable[[list[Any]], Any], items: list[Any], repeat: int) -> float:
    run(items[:1])
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(items)
        best = min(best, time.process_time() - start)
    return len(items) / best


def _measure(paths: list[str], repeat: int) -> dict[str, float]:
    """The rates in this process; `spectra_rates` calls it in a pinned child."""
    with tempfile.TemporaryDirectory(prefix="desa-bench-spectra-") as tmp:
        store = Path(tmp) / "spectra.zarr"
        rates = {
            "decode_floor": _spectra_per_s(_decode_floor, paths, repeat),
            "lean_decode_floor": _spectra_per_s(_lean_decode_floor, paths, repeat),
            "reference": _spectra_per_s(_reference, paths, repeat),
            "ours": _spectra_per_s(lambda p: _ours(p, store), paths, repeat),
        }
    # The same two computations on spectra already in memory: what the recipe's code costs
    # without the file decoding both paths pay.
    decoded = [_decode(path) for path in paths]
    spectra = [read_spectrum(path) for path in paths]
    index = list(range(len(paths)))
    rates["reference_compute"] = _spectra_per_s(
        lambda rows: [_reference_spectrum(*decoded[i]) for i in rows], index, repeat
    )
    rates["ours_compute"] = _spectra_per_s(
        lambda rows: preprocess_batch([spectra[i] for i in rows]), index, repeat
    )
    rates["ours_vs_reference"] = rates["ours"] / rates["reference"]
    rates["ours_vs_reference_compute"] = rates["ours_compute"] / rates["reference_compute"]
    return rates


def spectra_rates(paths: Paths, repeat: int = 3) -> dict[str, float]:
    """Spectra/s on one core: decode_floor, lean_decode_floor, reference, ours,
    reference_compute, ours_compute, and the ratios ours_vs_reference,
    ours_vs_reference_compute.

    Runs in a child Python process pinned to one CPU with one BLAS thread (see the module
    docstring), so the figures do not depend on this process's thread pools.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, not {repeat}")
    if not paths:
        raise ValueError("no spectra to measure")
    request = json.dumps({"paths": [str(path) for path in paths], "repeat": repeat})
    child = subprocess.run(
        [sys.executable, "-m", "bench.spectra"],
        input=request,
        capture_output=True,
        text=True,
        env={**os.environ, **_ONE_THREAD},
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"spectra benchmark failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout)


def _main() -> None:
    request: dict[str, Any] = json.load(sys.stdin)
    with one_core():  # threads started later (zarr's) inherit the pin
        json.dump(_measure(request["paths"], request["repeat"]), sys.stdout)


if __name__ == "__main__":
    _main()
