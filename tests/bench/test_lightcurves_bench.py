"""Light-curve stage benchmark: runs on real files, rates are consistent, outputs compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bench.lightcurves as bench
from bench.lightcurves import lightcurve_rates
from desa.preprocess.lightcurves import StarBatch


def _files(real_data: Path) -> dict[int, list[Path]]:
    kepler = real_data / "kepler"
    # A two-quarter star and a one-quarter star (refused by both paths).
    return {
        5899262: sorted(kepler.glob("kplr005899262-*_llc.fits")),
        8417738: sorted(kepler.glob("kplr008417738-*_llc.fits")),
    }


def test_lightcurve_rates_on_real_files(real_data: Path) -> None:
    files = _files(real_data)
    assert [len(paths) for paths in files.values()] == [2, 1]
    rates = lightcurve_rates(files, repeat=1)
    assert set(rates) == {
        "stars",
        "files",
        "decode_floor",
        "lean_decode_floor",
        "lightkurve_path",
        "ours",
        "ratio",
        "identical",
    }
    assert rates["stars"] == 2 and rates["files"] == 3
    assert all(
        rates[key] > 0 for key in ("decode_floor", "lean_decode_floor", "lightkurve_path", "ours")
    )
    assert rates["ratio"] == pytest.approx(rates["ours"] / rates["lightkurve_path"])
    assert rates["identical"] is True


def test_lightcurve_rates_detects_different_output(
    real_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = bench.process_stars

    def off_by_one_ulp(*args: object, **kwargs: object) -> StarBatch:
        batch = process(*args, **kwargs)  # type: ignore[arg-type]
        cell = np.flatnonzero(np.isfinite(batch.flux[0]))[100]
        batch.flux[0, cell] = np.nextafter(batch.flux[0, cell], np.float32(2))
        return batch

    monkeypatch.setattr(bench, "process_stars", off_by_one_ulp)
    assert lightcurve_rates(_files(real_data), repeat=1)["identical"] is False


def test_lightcurve_rates_arguments() -> None:
    with pytest.raises(ValueError, match="repeat"):
        lightcurve_rates({1: []}, repeat=0)
    with pytest.raises(ValueError, match="no stars"):
        lightcurve_rates({})
