"""Light-curve stage rate against the lightkurve-based path, side by side on one core (issue 3).

- `decode_floor`: astropy open + read the LIGHTCURVE columns the stage uses, nothing else;
- `lean_decode_floor`: the same columns by our lean decode (`desa.surveys.lean_fits`);
- `lightkurve_path`: the obvious lightkurve implementation -- `lightkurve.read` each quarter
  (quality_bitmask="default"), `remove_nans().normalize()`, place by CADENCENO on the grid;
- `ours`: `process_stars` + the Zarr write of the stage (xarray `to_zarr`).

All in stars/s (best of `repeat` passes), with the process pinned to one CPU while measuring.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from astropy.io import fits

from bench.isolation import one_core, quiet_lightkurve
from desa.preprocess.lightcurves import N_CADENCES, StarBatch, cadence_grid, process_stars
from desa.surveys.lean_fits import file_bytes, find_extension, split_hdus, table_columns

FilesByKic = Mapping[int, Sequence[str | PathLike[str]]]

# The columns read_quarter turns into arrays (desa/surveys/kepler.py).
_COLUMNS = ("TIME", "CADENCENO", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "SAP_QUALITY")


def _decode_floor(files_by_kic: FilesByKic) -> None:
    for paths in files_by_kic.values():
        for path in paths:
            with fits.open(path, memmap=False) as hdul:
                data = hdul["LIGHTCURVE"].data
                for column in _COLUMNS:
                    np.asarray(data[column])


def _lean_decode_floor(files_by_kic: FilesByKic) -> None:
    for paths in files_by_kic.values():
        for path in paths:
            raw = file_bytes(path)
            hdus = split_hdus(raw)
            table = None if hdus is None else find_extension(hdus, "LIGHTCURVE")
            columns = None if table is None else table_columns(raw, table, _COLUMNS)
            if columns is None:
                raise ValueError(f"{path}: the lean decode does not read this file")
            for values in columns.values():
                np.array(values)


def _lightkurve_path(files_by_kic: FilesByKic, min_quarters: int) -> dict[int, np.ndarray]:
    """Stars with >= min_quarters quarters holding finite flux (the rule process_stars uses)."""
    import lightkurve

    first = int(cadence_grid()[0])
    out: dict[int, np.ndarray] = {}
    for kic, paths in files_by_kic.items():
        flux = np.full(N_CADENCES, np.nan, dtype=np.float32)
        used = 0
        for path in paths:
            lc = lightkurve.read(str(path), quality_bitmask="default").remove_nans()
            if len(lc) == 0:
                continue
            lc = lc.normalize()
            flux[np.asarray(lc.cadenceno.value, dtype=np.int64) - first] = lc.flux.value
            used += 1
        if used >= min_quarters:
            out[kic] = flux
    return out


def _write_zarr(batch: StarBatch, store: Path) -> None:
    dataset = xr.Dataset(
        {
            "flux": (("star", "cadence"), batch.flux),
            "quality": (("star", "cadence"), batch.quality),
        },
        coords={
            "kic": ("star", np.asarray(batch.kics, dtype=np.int64)),
            "kepmag": ("star", np.asarray(batch.kepmag, dtype=np.float64)),
            "n_quarters": ("star", np.asarray(batch.n_quarters, dtype=np.int16)),
            "cadenceno": ("cadence", cadence_grid()),
        },
    )
    dataset.to_zarr(store, mode="w", consolidated=False)


def _best_seconds(runs: Mapping[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best of `repeat` timed runs of each, after one untimed run (imports, caches).

    The runs are interleaved round by round, so a change of machine load hits all of them
    alike instead of biasing the ratio.
    """
    for run in runs.values():
        run()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def lightcurve_rates(files_by_kic: FilesByKic, repeat: int = 3) -> dict[str, Any]:
    """Stars/s of the three paths, `ratio` = ours / lightkurve_path, and `identical`.

    `identical`: the stars kept and their flux rows (read back from the Zarr store) equal the
    lightkurve path's bit for bit, NaN where NaN. Also `stars` and `files` counted.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, not {repeat}")
    if not files_by_kic:
        raise ValueError("no stars to measure")
    n_stars = len(files_by_kic)
    with tempfile.TemporaryDirectory(prefix="desa-bench-lc-") as tmp, quiet_lightkurve():
        store = Path(tmp) / "lightcurves.zarr"
        reference: dict[int, np.ndarray] = {}

        def lightkurve_run() -> None:
            reference.clear()
            reference.update(_lightkurve_path(files_by_kic, min_quarters=2))

        def ours_run() -> None:
            _write_zarr(process_stars(files_by_kic, min_quarters=2), store)

        with one_core():
            seconds = _best_seconds(
                {
                    "decode_floor": lambda: _decode_floor(files_by_kic),
                    "lean_decode_floor": lambda: _lean_decode_floor(files_by_kic),
                    "lightkurve_path": lightkurve_run,
                    "ours": ours_run,
                },
                repeat,
            )
        with xr.open_zarr(store, consolidated=False) as written:
            kics = [int(k) for k in written["kic"].values]
            flux = written["flux"].values
        identical = kics == list(reference) and all(
            np.array_equal(row, reference[kic], equal_nan=True)
            for kic, row in zip(kics, flux, strict=True)
        )
    return {
        "stars": n_stars,
        "files": sum(len(paths) for paths in files_by_kic.values()),
        **{name: n_stars / value for name, value in seconds.items()},
        "ratio": seconds["lightkurve_path"] / seconds["ours"],
        "identical": identical,
    }
