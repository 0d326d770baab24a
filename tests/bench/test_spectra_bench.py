"""Spectra preprocessing benchmark: runs end to end and reports positive, consistent rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.spectra import spectra_rates
from desa.sky.lamost_files import write_lamost_spectrum


def _write(path: Path, obsid: int, layout: str) -> None:
    rng = np.random.default_rng(obsid)
    n = 3909
    wavelength = 10 ** (3.5682 + 1e-4 * np.arange(n))
    flux = 100 * (1 + 0.3 * np.sin(wavelength / 900)) * (1 + 0.01 * rng.standard_normal(n))
    write_lamost_spectrum(
        path,
        layout=layout,  # type: ignore[arg-type]
        wavelength=wavelength,
        flux=flux,
        ivar=np.ones(n),
        andmask=np.zeros(n),
        ormask=np.zeros(n),
        header={"OBSID": obsid, "RA": 10.0, "DEC": 20.0, "Z": 1e-4, "HELIO_RV": 5.0},
    )


def test_spectra_rates_on_both_layouts(tmp_path: Path) -> None:
    paths = [tmp_path / "spec-1.fits.gz", tmp_path / "spec-2.fits.gz"]
    _write(paths[0], 1, "image")
    _write(paths[1], 2, "coadd")
    rates = spectra_rates(paths, repeat=1)
    assert set(rates) == {
        "decode_floor",
        "lean_decode_floor",
        "reference",
        "ours",
        "reference_compute",
        "ours_compute",
        "ours_vs_reference",
        "ours_vs_reference_compute",
    }
    assert all(value > 0 for value in rates.values())
    assert rates["ours_vs_reference"] == pytest.approx(rates["ours"] / rates["reference"])
    assert rates["ours_vs_reference_compute"] == pytest.approx(
        rates["ours_compute"] / rates["reference_compute"]
    )


def test_spectra_rates_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="repeat"):
        spectra_rates([tmp_path / "spec-1.fits.gz"], repeat=0)
    with pytest.raises(ValueError, match="no spectra"):
        spectra_rates([])


def test_spectra_rates_reports_a_failing_child(tmp_path: Path) -> None:
    missing = tmp_path / "spec-missing.fits.gz"
    with pytest.raises(RuntimeError, match="spectra benchmark failed"):
        spectra_rates([missing], repeat=1)
