"""Peak memory of one worker running the preprocessing shards, as the input grows.

A worker processes shards of a fixed size one after another; its peak memory should not grow
with the number of shards. Each measurement runs in a fresh child process that writes every
shard to a temporary Zarr store, as the stage does, and reports the peak of the memory
allocated while it works (tracemalloc, which numpy reports to), so that the fixed cost of
imports, far larger than a shard, cannot hide a growth.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Sequence


def _spectra(paths: list[str], shard_rows: int) -> None:
    from desa.preprocess.spectra import SpectraRecipe
    from desa.preprocess.stores import spectra_template, write_spectra_shard
    from desa.surveys.lamost import read_spectrum
    from storage import zarr_store

    obsid_of = {path: read_spectrum(path).obsid for path in set(paths)}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"{tmp}/spectra.zarr"
        zarr_store.create(url, spectra_template(), "obs", shard_rows, {})
        zarr_store.resize(url, "obs", len(paths))
        for start in range(0, len(paths), shard_rows):
            rows = list(range(start, min(start + shard_rows, len(paths))))
            shard = [paths[r] for r in rows]  # copies of one file get rows of their own
            obsids = [obsid_of[path] for path in shard]
            write_spectra_shard(url, rows, obsids, shard, None, SpectraRecipe())


def _lightcurves(stars: list[list[str]], shard_rows: int) -> None:
    from desa.preprocess.stores import lightcurve_template, write_lightcurve_shard
    from desa.surveys.kepler import parse_llc_filename
    from storage import zarr_store

    with tempfile.TemporaryDirectory() as tmp:
        url = f"{tmp}/lightcurves.zarr"
        zarr_store.create(url, lightcurve_template(), "star", shard_rows, {})
        zarr_store.resize(url, "star", len(stars))
        for start in range(0, len(stars), shard_rows):
            rows = list(range(start, min(start + shard_rows, len(stars))))
            for row in rows:  # one star at a time per shard call keeps kics unique
                files = stars[row]
                kic = parse_llc_filename(files[0].rpartition("/")[2])[0]
                write_lightcurve_shard(url, [row], [kic], [files])


def peak_memory_mb(kind: str, items: Sequence, shard_rows: int) -> float:
    """Peak memory (MB) allocated by a child process preprocessing ``items`` shard by shard."""
    request = json.dumps({"kind": kind, "items": list(items), "shard_rows": shard_rows})
    child = subprocess.run(
        [sys.executable, "-m", "bench.memory"],
        input=request,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"memory benchmark failed:\n{child.stderr[-4000:]}")
    return float(child.stdout)


def _main() -> None:
    request = json.loads(sys.stdin.read())
    run = {"spectra": _spectra, "lightcurves": _lightcurves}[request["kind"]]
    import desa.preprocess.stores  # noqa: F401  (imports are not the worker's data)

    tracemalloc.start()
    run(request["items"], request["shard_rows"])
    print(tracemalloc.get_traced_memory()[1] / 1e6)


if __name__ == "__main__":
    _main()
