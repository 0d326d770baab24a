"""The demo sky's APOGEE DR17 allStar: real layout and bits, close to the truth, matchable."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from catalogs.apogee import match_apogee, usable_apogee
from catalogs.normalize import read_catalog
from catalogs.specs import SPECS
from desa.sky.apogee_catalog import apogee_dr17, apogee_id
from desa.sky.lamost_catalog import lamost_stellar
from desa.sky.population import SkyConfig, draw_stars, draw_visits, rng_for

SEED = 11
DUPLICATE, STAR_BAD = 1 << 4, 1 << 23


@pytest.fixture(scope="module")
def sky() -> tuple[pd.DataFrame, pd.DataFrame, bytes]:
    stars = draw_stars(SkyConfig(n_stars=150), SEED)
    visits = draw_visits(stars, SEED)
    snr = visits["snr_g_target"].round(2)
    spectra = visits.assign(snru=snr, snrg=snr, snrr=snr, snri=snr, snrz=snr)
    return stars, spectra, apogee_dr17(stars, spectra, rng_for(SEED, "catalog", "apogee_dr17"))


def _table(data: bytes) -> pd.DataFrame:
    with fits.open(io.BytesIO(data)) as hdul:
        assert hdul[0].data is None and isinstance(hdul[1], fits.BinTableHDU)
        data = hdul[1].data
        # FITS is big-endian; pandas indexing wants native byte order.
        frame = pd.DataFrame(
            {n: np.asarray(data[n]).astype(data[n].dtype.newbyteorder("=")) for n in data.names}
        )
    return frame.astype({"APOGEE_ID": str, "TELESCOPE": str})


def test_designation_is_2mass_style() -> None:
    assert apogee_id(285.0, 40.5) == "2M19000000+4030000"
    assert apogee_id(15.0 * 19.5 + 1 / 240, -5.25) == "2M19300100-0515000"


def test_values_follow_the_truth_within_their_errors(sky) -> None:
    stars, _, data = sky
    table = _table(data)
    truth = stars.set_index("gaia_source_id")
    with_id = table[table["GAIAEDR3_SOURCE_ID"] > 0]
    star = truth.loc[with_id["GAIAEDR3_SOURCE_ID"]]
    for column, label in (("TEFF", "teff"), ("LOGG", "logg"), ("FE_H", "feh")):
        pull = (with_id[column].to_numpy() - star[label].to_numpy()) / with_id[f"{column}_ERR"]
        assert np.abs(pull).max() < 5.0, column
    assert (table["TEFF_ERR"] / table["TEFF"]).median() < 0.03  # high-resolution precision
    # Mostly stars LAMOST observed, as the comparison needs.
    assert star["n_spectra"].gt(0).mean() > 0.8


def test_a_star_seen_twice_keeps_one_row_without_the_duplicate_bit(sky) -> None:
    table = _table(sky[2])
    repeated = table[table["APOGEE_ID"].duplicated(keep=False)]
    assert len(repeated) > 0
    for _, rows in repeated.groupby("APOGEE_ID"):
        duplicate = (rows["EXTRATARG"] & DUPLICATE) > 0
        assert duplicate.sum() == 1
        assert rows.loc[duplicate, "SNR"].iloc[0] <= rows.loc[~duplicate, "SNR"].iloc[0]
    assert ((table["ASPCAPFLAG"] & STAR_BAD) > 0).any()


def test_pipeline_reads_it_and_matches_each_spectrum_to_its_own_star(sky, tmp_path: Path) -> None:
    stars, spectra, data = sky
    path = tmp_path / "allStar-dr17-synspec_rev1.fits"
    path.write_bytes(data)
    apogee = usable_apogee(read_catalog(path, SPECS["apogee_dr17"]).table)
    lamost_path = tmp_path / "dr8_v2.0_LRS_stellar.csv.gz"
    lamost_path.write_bytes(lamost_stellar(stars, spectra, rng_for(SEED, "catalog", "lamost")))
    lamost = read_catalog(lamost_path, SPECS["lamost_lrs_stellar"]).table
    matches = match_apogee(lamost, apogee)
    assert set(matches["method"]) == {"gaia_id", "position"}
    # The truth: which star each spectrum and each APOGEE designation belongs to.
    star_of_obsid = spectra.set_index("obsid")["star_id"]
    designation = {
        apogee_id(ra, dec): sid for sid, ra, dec in stars[["star_id", "ra", "dec"]].to_numpy()
    }
    got = matches["apogee_id"].map(designation).to_numpy()
    assert (got == star_of_obsid.loc[matches["obsid"]].to_numpy()).all()
    # Nearly every usable APOGEE star with a spectrum is found.
    observed = set(star_of_obsid.to_numpy())
    expected = {designation[a] for a in apogee["apogee_id"]} & observed
    assert len({designation[a] for a in matches["apogee_id"]}) >= 0.9 * len(expected)
    assert gzip.decompress(lamost_path.read_bytes())  # the LAMOST file is the real gzip CSV
