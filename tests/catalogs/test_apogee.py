"""APOGEE DR17 allStar: read in its real layout, cleaned by its bitmasks, matched to LAMOST."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from catalogs.apogee import match_apogee, usable_apogee
from catalogs.normalize import read_catalog
from catalogs.specs import SPECS

BIG_GAIA_ID = 2050232089348169729  # above 2**53: a float round trip changes it
DUPLICATE, NOT_MAIN, STAR_BAD = 1 << 4, 1 << 0, 1 << 23


def _allstar(rows: list[dict]) -> bytes:
    """allStar-dr17-synspec_rev1.fits layout: primary HDU without data, the table in HDU 1."""
    frame = pd.DataFrame(rows)
    formats = {"APOGEE_ID": "18A", "TELESCOPE": "8A", "RA": "D", "DEC": "D"}
    formats |= {"GAIAEDR3_SOURCE_ID": "K", "ASPCAPFLAG": "K", "STARFLAG": "K", "EXTRATARG": "J"}
    arrays = {name: frame[name].to_numpy() for name in frame.columns}
    for name in ("APOGEE_ID", "TELESCOPE"):
        arrays[name] = arrays[name].astype(str)
    columns = [
        fits.Column(name=name, format=formats.get(name, "E"), array=array)
        for name, array in arrays.items()
    ]
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(buffer)
    return buffer.getvalue()


def _row(apogee_id: str, ra: float, dec: float, gaia: int, **extra: object) -> dict:
    row = {
        "APOGEE_ID": apogee_id,
        "TELESCOPE": "apo25m",
        "RA": ra,
        "DEC": dec,
        "GAIAEDR3_SOURCE_ID": gaia,
        "SNR": 120.0,
        "TEFF": 5700.0,
        "TEFF_ERR": 60.0,
        "LOGG": 4.4,
        "LOGG_ERR": 0.05,
        "FE_H": 0.05,
        "FE_H_ERR": 0.02,
        "ASPCAPFLAG": 0,
        "STARFLAG": 0,
        "EXTRATARG": 0,
    }
    return row | extra


@pytest.fixture
def allstar(tmp_path: Path) -> Path:
    rows = [
        _row("2M19000000+4000000", 285.0, 40.0, BIG_GAIA_ID),  # matched by Gaia id
        _row("2M19000000+4000000", 285.0, 40.0, BIG_GAIA_ID, SNR=40.0, TEFF=5900.0,
             TELESCOPE="apo1m", EXTRATARG=DUPLICATE | NOT_MAIN),  # its lower-S/N repeat
        _row("2M19010000+4100000", 285.25, 41.0, 0),  # no Gaia id: matched by position
        _row("2M19020000+4200000", 285.5, 42.0, 17, ASPCAPFLAG=STAR_BAD),  # a failed fit
        _row("2M19030000+4300000", 285.75, 43.0, 18, FE_H=np.nan),  # [Fe/H] not fitted
        _row("2M19040000+4400000", 286.0, 44.0, -1, EXTRATARG=NOT_MAIN),  # far from LAMOST
    ]  # fmt: skip
    path = tmp_path / "allStar-dr17-synspec_rev1.fits"
    path.write_bytes(_allstar(rows))
    return path


def test_allstar_reads_with_exact_gaia_ids_and_every_row(allstar: Path) -> None:
    result = read_catalog(allstar, SPECS["apogee_dr17"])
    table = result.table
    assert len(table) == 6 and result.rejected.empty
    assert table["apogee_id"].iloc[0] == "2M19000000+4000000"
    assert table["gaia_source_id"].tolist() == [str(BIG_GAIA_ID)] * 2 + [None, "17", "18", None]
    assert table["aspcapflag"].dtype == "Int64" and table["extratarg"].iloc[1] == DUPLICATE | 1


def test_usable_rows_drop_duplicates_bad_fits_and_missing_labels(allstar: Path) -> None:
    usable = usable_apogee(read_catalog(allstar, SPECS["apogee_dr17"]).table)
    assert usable["apogee_id"].tolist() == ["2M19000000+4000000", "2M19010000+4100000",
                                            "2M19040000+4400000"]  # fmt: skip
    assert usable["teff"].iloc[0] == 5700.0  # the main row, not the duplicate (5900 K)


def test_lamost_spectra_match_by_gaia_id_then_position(allstar: Path) -> None:
    apogee = usable_apogee(read_catalog(allstar, SPECS["apogee_dr17"]).table)
    lamost = pd.DataFrame(
        {
            "obsid": [101, 102, 103, 104],
            # 101: its Gaia id; 102: 1" from an APOGEE star without an id; 103: 5" from one
            # (outside 3"); 104: the KIC link columns must not count as APOGEE rows.
            "ra": [285.001, 285.25, 285.25, 10.0],
            "dec": [40.0, 41.0 + 1 / 3600, 41.0 + 5 / 3600, 0.0],
            "gaia_source_id": [str(BIG_GAIA_ID), "5", "6", None],
            "tsource": ["", "", "", "Kepler"],
            "tcomment": ["", "", "", "kplr1"],
        }
    )
    matches = match_apogee(lamost, apogee, radius_arcsec=3.0).set_index("obsid")
    assert matches.index.tolist() == [101, 102]
    assert matches.loc[101, "apogee_id"] == "2M19000000+4000000"
    assert matches.loc[101, "method"] == "gaia_id"
    assert matches.loc[102, "apogee_id"] == "2M19010000+4100000"
    assert matches.loc[102, "method"] == "position"
    assert matches.loc[102, "sep_arcsec"] == pytest.approx(1.0, abs=0.01)


def test_a_neighbour_with_another_gaia_id_is_not_the_star(allstar: Path) -> None:
    """Within the radius but with a different known Gaia id: a blend, not a match."""
    apogee = usable_apogee(read_catalog(allstar, SPECS["apogee_dr17"]).table)
    lamost = pd.DataFrame(
        {
            "obsid": [201, 202],
            "ra": [286.0, 286.0],
            "dec": [44.0 + 1 / 3600, 44.0 + 1 / 3600],
            "gaia_source_id": ["99", None],  # the APOGEE star there has no id (-1)
        }
    )
    assert match_apogee(lamost, apogee)["obsid"].tolist() == [201, 202]
    apogee.loc[apogee["apogee_id"] == "2M19040000+4400000", "gaia_source_id"] = "98"
    assert match_apogee(lamost, apogee)["obsid"].tolist() == [202]
