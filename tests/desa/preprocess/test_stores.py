"""Shards write their rows; a bad object is quarantined and the rest of the shard goes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from desa.preprocess.spectra import SpectraRecipe
from desa.preprocess.stores import (
    lightcurve_template,
    spectra_template,
    write_lightcurve_shard,
    write_spectra_shard,
)
from desa.sky.kepler_files import write_llc
from desa.sky.lamost_files import write_lamost_spectrum
from desa.surveys.kepler import QUARTERS, llc_filename
from storage import zarr_store

C_KMS = 299792.458


def _spectrum(path: Path, obsid: int, flux_scale: float) -> str:
    wavelength = 10 ** (3.5682 + 1e-4 * np.arange(3909))
    flux = flux_scale * (1 + 0.1 * np.sin(wavelength / 300.0))
    write_lamost_spectrum(
        path,
        layout="coadd",
        wavelength=wavelength,
        flux=flux,
        ivar=np.ones(3909),
        andmask=np.zeros(3909),
        ormask=np.zeros(3909),
        header={
            "OBSID": obsid,
            "RA": 290.0,
            "DEC": 44.0,
            "Z": 20.0 / C_KMS,
            "Z_ERR": 1e-5,
            "DATA_V": "LAMOST DR9",
            "SNRG": 50.0,
        },
    )
    return str(path)


def _store(tmp_path: Path, template, dim: str, rows: int) -> str:
    url = str(tmp_path / "store.zarr")
    zarr_store.create(url, template(), dim, chunk_rows=2, attrs={})
    zarr_store.resize(url, dim, rows)
    return url


def test_all_zero_spectrum_is_quarantined_and_the_shard_goes_on(tmp_path: Path) -> None:
    paths = [
        _spectrum(tmp_path / "a.fits.gz", 11, 1.0),
        _spectrum(tmp_path / "b.fits.gz", 12, 0.0),
        _spectrum(tmp_path / "c.fits.gz", 13, 2.0),
    ]
    url = _store(tmp_path, spectra_template, "obs", 4)
    outcome = write_spectra_shard(url, [1, 2, 3], [11, 12, 13], paths, None, SpectraRecipe())
    assert list(outcome["status"]) == ["ok", "failed", "ok"]
    assert "b.fits.gz" in outcome["reason"][1] and "zero" in outcome["reason"][1]
    zarr_store.consolidate(url)
    ds = xr.open_zarr(url)
    assert ds.obsid.values.tolist() == [0, 11, 12, 13]
    assert ds.valid.values.tolist() == [False, True, False, True]
    assert np.isnan(ds.flux.values[2]).all() and np.isfinite(ds.flux.values[[1, 3]]).all()
    assert ds.rv_used.values[1] == pytest.approx(20.0)


def _quarters(tmp_path: Path, kic: int, quarters: list[int]) -> list[str]:
    files = []
    for q in quarters:
        info = QUARTERS[q]
        n = 50
        cadenceno = np.arange(info.first_cadenceno, info.first_cadenceno + n)
        flux = np.full(n, 1000.0) + q
        path = tmp_path / llc_filename(kic, info.stamps[0])
        write_llc(
            path,
            kic=kic,
            quarter=q,
            time=info.tstart_bkjd + 0.0204 * np.arange(n),
            cadenceno=cadenceno,
            sap_flux=flux,
            sap_flux_err=np.ones(n),
            pdcsap_flux=flux,
            pdcsap_flux_err=np.ones(n),
            sap_quality=np.zeros(n, int),
            header={"KEPMAG": 12.0},
        )
        files.append(str(path))
    return files


def test_star_with_one_quarter_is_quarantined_and_the_shard_goes_on(tmp_path: Path) -> None:
    files = [_quarters(tmp_path, 1000001, [2, 3]), _quarters(tmp_path, 1000002, [5])]
    url = _store(tmp_path, lightcurve_template, "star", 2)
    outcome = write_lightcurve_shard(url, [0, 1], [1000001, 1000002], files)
    assert list(outcome["status"]) == ["ok", "failed"]
    assert "1000002" in outcome["reason"][1] and "quarter" in outcome["reason"][1]
    zarr_store.consolidate(url)
    ds = xr.open_zarr(url)
    assert ds.valid.values.tolist() == [True, False]
    assert ds.n_quarters.values[0] == 2 and ds.kepmag.values[0] == 12.0
    good = ds.flux.values[0]
    assert np.isfinite(good).sum() == 100 and np.nanmax(np.abs(good - 1.0)) < 1e-6
