"""Real sources that resolve (issue 10 §7): the URLs, tables and columns of the public records,
and a loud, named failure when a source answers with something else.

Served over a loopback HTTP server laid out like the real hosts (Dropbox, the Exoplanet Archive
TAP endpoint, the IOP MRT path), with files in the real formats.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import fsspec
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from bench.archive_server import ArchiveServer
from catalogs.build import build_catalog
from catalogs.errors import CatalogSourceError
from catalogs.normalize import read_catalog
from catalogs.specs import SPECS, UrlSource, VizierSource
from desa.sky.formats import VizierColumn, vizier_tsv
from storage.download import Downloader
from storage.errors import BadInputError
from storage.layout import DataRoot
from storage.tables import read_parquet

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Dropbox</title></head><body>Preview</body></html>\n"
)
BIG_GAIA_ID = 2050232089348169729  # above 2**53: a float round trip changes it


def _path_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _served_url(server: ArchiveServer, real_url: str) -> str:
    """The real URL with its host replaced by the loopback server's (path and query kept)."""
    parts = urlsplit(real_url)
    return f"{server.url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _kepler_gaia_fits() -> bytes:
    columns = {
        "kepid": np.array([892376, 892376, 1026146], dtype=np.int64),
        "ra_kic": [290.1, 290.1, 291.2],
        "dec_kic": [38.1, 38.1, 38.2],
        "kepmag": [14.1, 14.1, 12.5],
        "teff": np.array([3813, 3813, 4261], dtype=np.int64),
        "logg": [4.47, 4.47, 4.57],
        "source_id": np.array([BIG_GAIA_ID, BIG_GAIA_ID + 10, 2050232089348169000]),
        "ra": [290.1, 290.1002, 291.2],
        "dec": [38.1, 38.1001, 38.2],
        "parallax": [3.1, 0.2, 1.5],
        "pmra": [1.0, 0.1, -2.0],
        "pmdec": [2.0, 0.2, 1.0],
        "ruwe": [1.01, 1.1, 0.95],
        "phot_g_mean_mag": [14.2, 18.5, 12.6],
        "bp_rp": [1.9, 1.2, 1.1],
        "kepler_gaia_ang_dist": [0.05, 0.8, 0.02],
    }
    cols = [
        fits.Column(name=name, format="K" if np.asarray(v).dtype.kind == "i" else "D", array=v)
        for name, v in columns.items()
    ]
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(buffer)
    return buffer.getvalue()


def _other_fits() -> bytes:
    """A FITS table, but not the Kepler-Gaia one (a different Gaia product)."""
    cols = [
        fits.Column(name="source_id", format="K", array=np.array([1, 2])),
        fits.Column(name="phot_g_mean_mag", format="D", array=np.array([12.0, 13.0])),
    ]
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(buffer)
    return buffer.getvalue()


def _serve(root: Path, url: str, content: bytes) -> None:
    path = root / _path_of(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _build(name: str, url: str, tmp_path: Path) -> pd.DataFrame:
    data_root = DataRoot(tmp_path / "root")
    built = build_catalog(SPECS[name], data_root, url, Downloader(fsspec.filesystem("file")))
    return read_parquet(data_root.fs, built.path)


# ------------------------------------------------------------------ where the sources are


def test_the_sources_are_those_of_the_public_records() -> None:
    kepler_gaia = SPECS["kepler_gaia"].source
    assert isinstance(kepler_gaia, UrlSource)
    assert kepler_gaia.url == (
        "https://www.dropbox.com/s/kdbeok7a4forca3/kepler_dr3_1arcsec.fits?dl=1"
    )
    reinhold = SPECS["reinhold2023"]
    assert reinhold.source == VizierSource("J/A+A/678/A24", "table1")  # named, not guessed
    assert reinhold.columns["ProtFin"] == "prot" and "Prot" not in reinhold.columns
    assert {"ProtGPS", "ProtACF", "ProtMcQ14", "ProtS21"} <= set(reinhold.columns)
    bouma = SPECS["bouma2024"]
    assert isinstance(bouma.source, UrlSource) and bouma.format == "mrt"
    assert bouma.source.url.endswith("/apjad855ft1_mrt.txt")
    assert bouma.mirror_path.endswith("/apjad855ft1_mrt.txt")
    assert SPECS["mcquillan2014"].published_key == "KID"
    assert SPECS["mcquillan2014"].aliases["KID"] == ("kepid",)


def test_the_dr25_stellar_rows_come_from_keplerstellar_not_the_retired_table() -> None:
    source = SPECS["kepler_cdpp"].source
    assert isinstance(source, UrlSource)
    parts = urlsplit(source.url)
    assert parts.netloc == "exoplanetarchive.ipac.caltech.edu" and parts.path == "/TAP/sync"
    query = parse_qs(parts.query)
    assert query["format"] == ["csv"]
    assert query["query"] == [
        "select kepid,rrmscdpp03p0 from keplerstellar where st_delivname='q1_q17_dr25_stellar'"
    ]


# ------------------------------------------------------------------ answers that resolve


def test_kepler_gaia_from_the_dropbox_link(tmp_path: Path) -> None:
    real = SPECS["kepler_gaia"].source.url
    _serve(tmp_path / "www", real, _kepler_gaia_fits())
    with ArchiveServer(tmp_path / "www") as server:
        url = _served_url(server, real)
        table = _build("kepler_gaia", url, tmp_path)
        (request,) = server.requests_for("s/kdbeok7a4forca3/kepler_dr3_1arcsec.fits")
    assert request.query == "dl=1"
    assert table["kic"].tolist() == [892376, 892376, 1026146]
    assert table["gaia_source_id"].iloc[0] == str(BIG_GAIA_ID)  # exact, never through float


def test_cdpp_from_the_tap_endpoint(tmp_path: Path, real_data: Path) -> None:
    real = SPECS["kepler_cdpp"].source.url
    csv = (real_data / "catalogs" / "Kepler-Q1-Q17-DR25-CDPP3.csv").read_bytes()
    _serve(tmp_path / "www", real, csv)
    with ArchiveServer(tmp_path / "www") as server:
        table = _build("kepler_cdpp", _served_url(server, real), tmp_path)
        (request,) = server.requests_for("TAP/sync")
    assert "keplerstellar" in parse_qs(request.query)["query"][0]
    assert len(table) == 200038  # every DR25 target (SOURCES.md)


def test_bouma_mrt_from_the_iop_path(tmp_path: Path) -> None:
    from desa.sky.population import SkyConfig, draw_stars, rng_for
    from desa.sky.rotation_catalogs import bouma2024

    stars = draw_stars(SkyConfig(n_stars=40), 1)
    real = SPECS["bouma2024"].source.url
    _serve(tmp_path / "www", real, bouma2024(stars, pd.DataFrame(), rng_for(1, "catalog", "b")))
    with ArchiveServer(tmp_path / "www") as server:
        table = _build("bouma2024", _served_url(server, real), tmp_path)
    assert len(table) > 0 and (table["age_myr"] < 4000).all()
    assert (table["age_err_hi_myr"] > 0).all()


def test_reinhold_period_is_the_adopted_one(tmp_path: Path) -> None:
    cols = [
        VizierColumn("KIC", "I8", "", "KIC", "meta.id"),
        VizierColumn("ProtACF", "F7.3", "d", "ACF period", "time.period"),
        VizierColumn("ProtGPS", "F7.3", "d", "GPS period", "time.period"),
        VizierColumn("ProtFin", "F7.3", "d", "Final period", "time.period"),
    ]
    values = {
        "KIC": ["892376", "1026146"],
        "ProtACF": ["", "14.800"],
        "ProtGPS": ["1.600", "15.900"],
        "ProtFin": ["1.600", "14.800"],
    }
    path = tmp_path / "J_A+A_678_A24.tsv"
    path.write_bytes(
        vizier_tsv("J/A+A/678/A24", "Reinhold+2023", "table1", "periods", cols, values)
    )
    table = read_catalog(path, SPECS["reinhold2023"]).table.set_index("kic")
    assert table["prot"].tolist() == [1.6, 14.8]
    assert table["prot_gps"].tolist() == [1.6, 15.9]
    assert np.isnan(table.loc[892376, "prot_acf"]) and table["prot_s21"].isna().all()


# ------------------------------------------------------------------ answers that do not


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("kepler_gaia", HTML_PAGE, "HTML page"),  # the link without dl=1: a preview page
        ("kepler_gaia", _other_fits(), "missing required columns"),  # another table
        ("bouma2024", HTML_PAGE, "HTML page"),
        (
            "kepler_cdpp",
            b'<?xml version="1.0"?>\n<VOTABLE><INFO name="QUERY_STATUS" '
            b'value="ERROR">table q1_q17_dr25_stellar does not exist</INFO></VOTABLE>\n',
            "HTML/XML document",
        ),  # the TAP service's error for a retired table
        ("kepler_cdpp", b"kepid,koi_period\n1,2.0\n", "rrmscdpp03p0"),  # wrong columns
    ],
)
def test_a_source_answering_with_something_else_fails_naming_catalog_and_url(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    real = SPECS[name].source.url
    _serve(tmp_path / "www", real, content)
    with ArchiveServer(tmp_path / "www") as server:
        url = _served_url(server, real)
        with pytest.raises(CatalogSourceError) as caught:
            _build(name, url, tmp_path)
    error = caught.value
    assert isinstance(error, BadInputError)  # the stage records it and stops, like bad input
    message = str(error)
    assert url in message and f"catalog {name!r}" in message and problem in message
    assert not (tmp_path / "root" / "catalogs" / f"{name}.parquet").exists()


def test_a_missing_file_fails_naming_catalog_and_url(tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    with ArchiveServer(tmp_path / "www") as server:
        url = _served_url(server, SPECS["bouma2024"].source.url)
        downloader = Downloader(fsspec.filesystem("file"), retries=1)
        with pytest.raises(CatalogSourceError, match="download failed") as caught:
            build_catalog(SPECS["bouma2024"], DataRoot(tmp_path / "root"), url, downloader)
    assert url in str(caught.value) and "'bouma2024'" in str(caught.value)
