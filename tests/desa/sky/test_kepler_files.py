"""Kepler LLC writer: lightkurve and our reader read back exactly what was written."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from bench.real_data import real_data_dir
from desa.sky.kepler_files import write_llc
from desa.surveys.kepler import (
    LONG_CADENCE_DAYS,
    QUARTERS,
    llc_filename,
    read_quarter,
)

with warnings.catch_warnings():  # lightkurve warns at import that oktopus is not installed
    warnings.simplefilter("ignore", UserWarning)
    import lightkurve

REAL_Q2 = real_data_dir() / "kepler" / "kplr002556081-2009259160929_llc.fits"
KIC = 8098300
BITMASKS = {"none": 0, "default": 1130799, "hard": 1664431, "hardest": 2096639}
STAR = {"KEPMAG": 12.817, "RA_OBJ": 292.0585, "DEC_OBJ": 43.9252, "TEFF": 6275, "MODULE": 16}


@pytest.fixture(autouse=True)
def _quiet_lightkurve() -> Any:
    logger = logging.getLogger("lightkurve")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def _quarter(quarter: int = 2, n: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """A quarter with a NaN-time gap, NaN flux rows and quality bits in and out of 'default'."""
    rng = np.random.default_rng(seed)
    info = QUARTERS[quarter]
    time = info.tstart_bkjd + np.arange(n) * LONG_CADENCE_DAYS
    time[10:13] = np.nan  # gap rows: lightkurve always drops them
    quality = np.zeros(n, dtype=np.int32)
    # default drops 32 and 65536, hard also 128, hardest also 2048.
    quality[[20, 21, 22, 23]] = [32, 65536, 128, 2048]
    pdcsap = rng.normal(5000.0, 5.0, n)
    pdcsap[[30, 31]] = np.nan  # kept by lightkurve (masked, not dropped)
    return {
        "time": time,
        "cadenceno": info.first_cadenceno + np.arange(n, dtype=np.int32),
        "sap_flux": pdcsap * 0.98,
        "sap_flux_err": np.full(n, 3.0),
        "pdcsap_flux": pdcsap,
        "pdcsap_flux_err": np.full(n, 3.5),
        "sap_quality": quality,
    }


def _plain(values: Any) -> np.ndarray:
    values = getattr(values, "value", values)
    return np.asarray(getattr(values, "unmasked", values))


@pytest.mark.parametrize(
    ("bitmask", "kept"), [("default", 195), ("none", 197), ("hard", 194), ("hardest", 193)]
)
def test_roundtrip_matches_what_was_written(tmp_path: Path, bitmask: str, kept: int) -> None:
    data = _quarter()
    path = tmp_path / llc_filename(KIC, QUARTERS[2].stamps[0])
    write_llc(path, kic=KIC, quarter=2, header=STAR, **data)

    ours = read_quarter(path, bitmask)
    lc = lightkurve.read(str(path), quality_bitmask=bitmask)
    assert isinstance(lc, lightkurve.KeplerLightCurve)
    assert len(ours.time) == len(lc) == kept

    finite = ~np.isnan(data["time"])
    keep = finite & ((data["sap_quality"] & BITMASKS[bitmask]) == 0)
    expected = {
        "time": data["time"][keep],
        "flux": data["pdcsap_flux"][keep].astype(np.float32),
        "flux_err": data["pdcsap_flux_err"][keep].astype(np.float32),
        "quality": data["sap_quality"][keep],
        "cadenceno": data["cadenceno"][keep],
    }
    for name, values in expected.items():
        np.testing.assert_array_equal(getattr(ours, name), values, err_msg=name)
        np.testing.assert_array_equal(_plain(getattr(lc, name)), values, err_msg=name)
    assert np.isnan(ours.flux).sum() == 2
    assert (ours.kic, ours.quarter) == (KIC, 2)
    assert lc.meta["TARGETID"] == KIC and lc.meta["QUARTER"] == 2
    assert lc.meta["KEPMAG"] == 12.817 and lc.meta["LABEL"] == f"KIC {KIC}"


def test_file_structure(tmp_path: Path) -> None:
    data = _quarter(quarter=0, n=50)
    path = tmp_path / "kplr.fits"
    write_llc(path, kic=KIC, quarter=0, header={**STAR, "KEPLERID": 1, "QUARTER": 9}, **data)
    assert path.read_bytes()[:6] == b"SIMPLE"  # plain FITS, as MAST serves it
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "LIGHTCURVE", "APERTURE"]
        primary, table = hdul[0].header, hdul[1].header
        assert "FluxExporter2PipelineModule" in primary["CREATOR"]
        assert (primary["ORIGIN"], primary["TELESCOP"], primary["MISSION"]) == (
            "NASA/Ames",
            "Kepler",
            "Kepler",
        )
        # The arguments win over conflicting caller cards.
        assert (primary["KEPLERID"], primary["QUARTER"], primary["SEASON"]) == (KIC, 0, 3)
        assert primary["OBJECT"] == f"KIC {KIC}"
        assert (primary["DATA_REL"], primary["OBSMODE"], primary["FILEVER"]) == (
            25,
            "long cadence",
            "6.1",
        )
        assert primary["TEFF"] == 6275 and primary["NEXTEND"] == 2
        assert (table["BJDREFI"], table["BJDREFF"], table["TIMESYS"]) == (2454833, 0.0, "TDB")
        assert table["TIMEDEL"] == LONG_CADENCE_DAYS and table["TIMEUNIT"] == "d"
        assert table["KEPLERID"] == KIC and table["OBJECT"] == f"KIC {KIC}"
        finite = data["time"][np.isfinite(data["time"])]
        assert table["TSTART"] == pytest.approx(finite.min() - LONG_CADENCE_DAYS / 2)
        assert table["TSTOP"] == pytest.approx(finite.max() + LONG_CADENCE_DAYS / 2)
        cols = hdul[1].columns
        assert cols["TIME"].format == "D" and cols["TIME"].unit == "BJD - 2454833"
        assert cols["PDCSAP_FLUX"].format == "E" and cols["PDCSAP_FLUX"].unit == "e-/s"
        assert cols["SAP_QUALITY"].format == "J" and cols["CADENCENO"].format == "J"
        assert np.all(np.isnan(hdul[1].data["MOM_CENTR1"]))  # not simulated
        assert hdul[2].data.dtype == np.dtype(">i4")
        assert hdul[2].header["NPIXSAP"] == 5


def test_columns_match_a_real_file(real_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "kplr.fits"
    write_llc(path, kic=KIC, quarter=2, header=STAR, **_quarter())
    with fits.open(REAL_Q2) as real, fits.open(path) as ours:
        for attr in ("names", "formats", "units", "disps"):
            assert getattr(ours[1].columns, attr) == getattr(real[1].columns, attr), attr
        real_keys = [k for k in real[0].header if k not in ("CHECKSUM", "DATE")]
        ours_keys = list(ours[0].header)
        # Our primary cards are a subsequence of the real ones, in the real order.
        shared = [k for k in real_keys if k in ours_keys]
        assert shared == [k for k in ours_keys if k in real_keys]
        assert {"CREATOR", "ORIGIN", "TELESCOP", "KEPLERID", "QUARTER", "SEASON"} <= set(shared)


def test_rewrite_of_a_real_file_reads_like_it(real_data: Path, tmp_path: Path) -> None:
    with fits.open(REAL_Q2) as hdul:
        header = hdul[0].header.copy()
        d = hdul[1].data
        columns = {
            "time": np.array(d["TIME"]),
            "cadenceno": np.array(d["CADENCENO"]),
            "sap_flux": np.array(d["SAP_FLUX"]),
            "sap_flux_err": np.array(d["SAP_FLUX_ERR"]),
            "pdcsap_flux": np.array(d["PDCSAP_FLUX"]),
            "pdcsap_flux_err": np.array(d["PDCSAP_FLUX_ERR"]),
            "sap_quality": np.array(d["SAP_QUALITY"]),
        }
    path = tmp_path / REAL_Q2.name
    write_llc(path, kic=header["KEPLERID"], quarter=header["QUARTER"], header=header, **columns)
    real, ours = read_quarter(REAL_Q2), read_quarter(path)
    assert len(ours.time) == len(real.time) == 4075
    for name in ("time", "flux", "flux_err", "quality", "cadenceno"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(real, name), err_msg=name)
    assert ours.header["PROCVER"] == real.header["PROCVER"]


def test_invalid_arguments_and_no_temp_files(tmp_path: Path) -> None:
    data = _quarter(n=40)
    path = tmp_path / "kplr.fits"
    with pytest.raises(ValueError, match="pdcsap_flux has 39 rows"):
        write_llc(path, kic=1, quarter=2, header={}, **{**data, "pdcsap_flux": np.ones(39)})
    with pytest.raises(ValueError, match="sap_quality must be an integer"):
        write_llc(path, kic=1, quarter=2, header={}, **{**data, "sap_quality": np.zeros(40)})
    with pytest.raises(ValueError, match="unknown Kepler quarter"):
        write_llc(path, kic=1, quarter=18, header={}, **data)
    assert list(tmp_path.iterdir()) == []
    write_llc(path, kic=1, quarter=2, header={}, **data)
    assert [p.name for p in tmp_path.iterdir()] == ["kplr.fits"]
