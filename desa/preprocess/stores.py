"""The layout of `spectra.zarr` and `lightcurves.zarr`, and the work of one shard of each.

A shard reads its files, preprocesses them and writes its rows of the store (disjoint,
chunk-aligned regions allocated by the stage). It returns one outcome per object; failed
objects keep their row with NaN data and `valid = False`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from desa.preprocess.lightcurves import (
    absolute_magnitude,
    cadence_grid,
    luminosity_factor,
    process_stars,
)
from desa.preprocess.spectra import N_PIXELS, SpectraRecipe, preprocess_files, rest_grid
from storage import zarr_store
from storage.rows import runs

STRING = np.dtypes.StringDType()
# Coordinates a shard writes (they come from the files) and coordinates the stage writes for
# every row after the shards (they come from catalogs, which change without the files).
SPECTRA_FILE_COORDS = {
    "obsid": "i8",
    "snru": "f4",
    "snrg": "f4",
    "snrr": "f4",
    "snri": "f4",
    "snrz": "f4",
    "rv_used": "f8",
    "ra": "f8",
    "dec": "f8",
    "release": STRING,
    "valid": "?",
}
SPECTRA_CATALOG_COORDS = {
    "star_id": STRING,
    "kic": "i8",
    "teff": "f4",
    "teff_err": "f4",
    "logg": "f4",
    "logg_err": "f4",
    "feh": "f4",
    "feh_err": "f4",
    "rv": "f4",
    "rv_err": "f4",
}
LIGHTCURVE_FILE_COORDS = {"kic": "i8", "kepmag": "f8", "n_quarters": "i2", "valid": "?"}
LIGHTCURVE_CATALOG_COORDS = {
    "star_id": STRING,
    "dist_pc": "f8",
    "abs_mag": "f8",
    "lum_factor": "f8",
}
NO_KIC = -1  # kic coordinate of a spectrum not matched to a Kepler star


def _empty(dtype: Any, n: int) -> np.ndarray:
    if dtype is STRING:
        return np.array([""] * n, dtype=STRING)
    if np.dtype(dtype).kind == "f":
        return np.full(n, np.nan, dtype)
    return np.zeros(n, dtype)


def _coords(spec: dict[str, Any], dim: str, n: int) -> dict[str, tuple]:
    return {name: ((dim,), _empty(dtype, n)) for name, dtype in spec.items()}


def spectra_template() -> xr.Dataset:
    """Zero observations on the 3600-pixel rest-frame grid (coordinate `wavelength`)."""
    data = {
        "flux": (("obs", "pixel"), np.zeros((0, N_PIXELS), "f4")),
        "mask": (("obs", "pixel"), np.zeros((0, N_PIXELS), "?")),
    }
    coords = _coords({**SPECTRA_FILE_COORDS, **SPECTRA_CATALOG_COORDS}, "obs", 0)
    return xr.Dataset(data, coords={**coords, "wavelength": (("pixel",), rest_grid())})


def write_spectra_shard(
    url: str,
    rows: Sequence[int],
    obsids: Sequence[int],
    paths: Sequence[str],
    rv_override: Mapping[int, float] | None,
    recipe: SpectraRecipe,
) -> pd.DataFrame:
    """Preprocess the shard's spectra and write their rows; outcome per obsid."""
    batch = preprocess_files(paths, rv_override, recipe)
    n = len(rows)
    flux = np.full((n, N_PIXELS), np.nan, "f4")
    mask = np.zeros((n, N_PIXELS), "?")
    coords = {name: _empty(dtype, n) for name, dtype in SPECTRA_FILE_COORDS.items()}
    coords["obsid"][:] = obsids
    reasons = dict(batch.failures)
    # preprocess_files keeps the input order for the spectra that succeeded.
    done = [i for i, path in enumerate(paths) if path not in reasons]
    for j, i in enumerate(done):
        if batch.obsids[j] != obsids[i]:
            # The fetch manifest holds one file per obsid, so a second file with an obsid can
            # only arrive listed under another obsid: it is refused, and the spectrum of its
            # OBSID comes from that obsid's own file alone (no file stands in for another).
            reasons[paths[i]] = (
                f"{paths[i]}: file holds OBSID {batch.obsids[j]}, but it is listed as the "
                f"spectrum of obsid {obsids[i]} (refused: obsid {batch.obsids[j]} is read from "
                "its own file only)"
            )
            continue
        flux[i], mask[i] = batch.flux[j], batch.mask[j]
        meta = batch.snr.iloc[j]
        for band in "ugriz":
            coords[f"snr{band}"][i] = meta[f"snr{band}"]
        coords["rv_used"][i] = meta["rv_kms"]
        coords["ra"][i], coords["dec"][i] = meta["ra"], meta["dec"]
        coords["release"][i] = meta["release"]
        coords["valid"][i] = True
    part = xr.Dataset(
        {"flux": (("obs", "pixel"), flux), "mask": (("obs", "pixel"), mask)},
        coords={name: (("obs",), values) for name, values in coords.items()},
    )
    _write_runs(url, part, "obs", rows)
    reader_of = dict(zip(batch.obsids, batch.readers, strict=True))
    readers = [
        reader_of.get(o, "") if not reasons.get(p) else ""
        for o, p in zip(obsids, paths, strict=True)
    ]
    return _outcomes([str(o) for o in obsids], [reasons.get(p, "") for p in paths], readers)


def lightcurve_template() -> xr.Dataset:
    """Zero stars on the global Kepler long-cadence grid (coordinate `cadenceno`)."""
    grid = cadence_grid()
    data = {
        "flux": (("star", "cadence"), np.zeros((0, len(grid)), "f4")),
        "quality": (("star", "cadence"), np.zeros((0, len(grid)), "i4")),
    }
    coords = _coords({**LIGHTCURVE_FILE_COORDS, **LIGHTCURVE_CATALOG_COORDS}, "star", 0)
    return xr.Dataset(data, coords={**coords, "cadenceno": (("cadence",), grid)})


def write_lightcurve_shard(
    url: str,
    rows: Sequence[int],
    kics: Sequence[int],
    files: Sequence[Sequence[str]],
    *,
    quality_bitmask: str = "default",
    min_quarters: int = 2,
) -> pd.DataFrame:
    """Stitch the shard's stars and write their rows; outcome per kic (key, status, reason)."""
    batch = process_stars(
        dict(zip(kics, files, strict=True)),
        quality_bitmask=quality_bitmask,
        min_quarters=min_quarters,
    )
    n, grid = len(rows), len(cadence_grid())
    flux = np.full((n, grid), np.nan, "f4")
    quality = np.zeros((n, grid), "i4")
    coords = {name: _empty(dtype, n) for name, dtype in LIGHTCURVE_FILE_COORDS.items()}
    coords["kic"][:] = kics
    position = {kic: i for i, kic in enumerate(kics)}
    for j, kic in enumerate(batch.kics):
        i = position[kic]
        flux[i], quality[i] = batch.flux[j], batch.quality[j]
        coords["kepmag"][i] = batch.kepmag[j]
        coords["n_quarters"][i] = batch.n_quarters[j]
        coords["valid"][i] = True
    part = xr.Dataset(
        {"flux": (("star", "cadence"), flux), "quality": (("star", "cadence"), quality)},
        coords={name: (("star",), values) for name, values in coords.items()},
    )
    _write_runs(url, part, "star", rows)
    failed = dict(batch.failures)
    reader_of = dict(zip(batch.kics, batch.readers, strict=True))
    readers = [reader_of.get(k, "") for k in kics]
    return _outcomes([str(k) for k in kics], [failed.get(k, "") for k in kics], readers)


def write_catalog_coords(url: str, dim: str, values: Mapping[str, np.ndarray]) -> None:
    """Rewrite catalog-derived coordinates of every row (cheap: one value per row)."""
    n = zarr_store.length(url, dim)
    part = xr.Dataset(coords={name: ((dim,), np.asarray(v)) for name, v in values.items()})
    if n:
        zarr_store.write_region(url, part, dim, 0)


def lightcurve_catalog_coords(
    kepmag: np.ndarray, star_id: np.ndarray, dist_pc: np.ndarray, reference_luminosity: bool
) -> dict[str, np.ndarray]:
    """star_id, Berger distance and the absolute-magnitude factor of paper §4.2 per star."""
    abs_mag = absolute_magnitude(kepmag, dist_pc)
    return {
        "star_id": np.asarray(star_id, dtype=STRING),
        "dist_pc": np.asarray(dist_pc, "f8"),
        "abs_mag": np.asarray(abs_mag, "f8"),
        "lum_factor": np.asarray(luminosity_factor(abs_mag, reference=reference_luminosity), "f8"),
    }


def _outcomes(keys: list[str], reasons: list[str], readers: list[str]) -> pd.DataFrame:
    """One row per object: key, status ('failed' when there is a reason), reason, and the
    decoder that read its file(s) ('' when none was read)."""
    status = ["failed" if reason else "ok" for reason in reasons]
    return pd.DataFrame({"key": keys, "status": status, "reason": reasons, "reader": readers})


def _write_runs(url: str, part: xr.Dataset, dim: str, rows: Sequence[int]) -> None:
    """Rows of one shard may be scattered (redone objects): write each contiguous run."""
    offset = 0
    for run in runs(list(rows)):
        size = run.stop - run.start
        zarr_store.write_region(url, part.isel({dim: slice(offset, offset + size)}), dim, run.start)
        offset += size
