"""Reader benchmark: runs on real files and reports positive, consistent rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.readers import read_rates


def test_read_rates_on_real_files(real_data: Path) -> None:
    lamost = [
        real_data / "lamost/dr6/spec-57287-KP193637N444141V03_sp10-161.fits.gz",
        real_data / "lamost/dr9/spec-55859-F5902_sp01-001.fits.gz",
    ]
    kepler = sorted((real_data / "kepler").glob("kplr008417738-*_llc.fits"))
    kepler += sorted((real_data / "kepler").glob("kplr005899262-*_llc.fits"))[:1]
    rates = read_rates(lamost, kepler, repeat=1)
    assert set(rates) == {
        "lamost_ours",
        "lamost_astropy",
        "lamost_ratio",
        "kepler_ours",
        "kepler_lightkurve",
        "kepler_ratio",
    }
    assert all(value > 0 for value in rates.values())
    assert rates["lamost_ratio"] == pytest.approx(rates["lamost_ours"] / rates["lamost_astropy"])
    assert rates["kepler_ratio"] == pytest.approx(rates["kepler_ours"] / rates["kepler_lightkurve"])


def test_read_rates_one_survey_only(real_data: Path) -> None:
    lamost = [real_data / "lamost/dr7/spec-58397-EG014118N254444M01_sp03-031.fits"]
    assert set(read_rates(lamost, [], repeat=2)) == {
        "lamost_ours",
        "lamost_astropy",
        "lamost_ratio",
    }
    with pytest.raises(ValueError, match="repeat"):
        read_rates(lamost, [], repeat=0)
