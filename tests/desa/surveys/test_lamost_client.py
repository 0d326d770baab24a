"""LAMOST URL builders (three modes) and downloads through the loopback archive."""

from __future__ import annotations

import gzip
import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from fsspec.implementations.local import LocalFileSystem

from bench.archive_server import ArchiveServer
from desa.surveys.lamost import read_header
from desa.surveys.lamost_client import LamostClient, Release, newest_release, spec_filename
from storage.errors import BadInputError

TOKEN = "lamost-token-XYZ"

ROWS = pd.DataFrame(
    {
        "obsid": [101005, 202117],
        "obsdate": ["2011-10-24", "2015-09-27"],
        "lmjd": [55859, 57293],
        "planid": ["F5902", "KP193637N444141V03 "],  # FITS catalogs pad strings
        "spid": [1, 10],
        "fiberid": [5, 161],
    }
)
TREE_PATHS = [
    "dr8/v2.0/fits/20111024/F5902/spec-55859-F5902_sp01-005.fits.gz",
    "dr8/v2.0/fits/20150927/KP193637N444141V03/spec-57293-KP193637N444141V03_sp10-161.fits.gz",
]


@pytest.mark.parametrize(
    ("mode", "spectrum", "catalog"),
    [
        (
            "openapi",
            "https://www.lamost.org/openapi/dr8/v2.0/lrs/spectrum/fits?obsid=101005",
            "https://www.lamost.org/openapi/dr8/v2.0/lrs/catalog?name=dr8_v2.0_LRS_stellar.csv.gz",
        ),
        (
            "legacy",
            "https://www.lamost.org/openapi/dr8/v2.0/spectrum/fits/101005",
            "https://www.lamost.org/openapi/dr8/v2.0/catdl?name=dr8_v2.0_LRS_stellar.csv.gz",
        ),
        (
            "tree",
            "https://www.lamost.org/openapi/dr8/v2.0/fits/20111024/F5902/"
            "spec-55859-F5902_sp01-005.fits.gz",
            "https://www.lamost.org/openapi/dr8/v2.0/catalog/dr8_v2.0_LRS_stellar.csv.gz",
        ),
    ],
)
def test_url_builders(mode: str, spectrum: str, catalog: str) -> None:
    client = LamostClient("https://www.lamost.org/openapi/", mode=mode)  # type: ignore[arg-type]
    assert client.spectrum_url(ROWS.iloc[0]) == spectrum
    assert client.spectrum_url(ROWS.iloc[0].to_dict()) == spectrum
    assert client.catalog_url("dr8_v2.0_LRS_stellar.csv.gz") == catalog


def test_other_release_and_bad_mode() -> None:
    client = LamostClient("http://www.lamost.org", dr="dr10", version="v2.0", mode="legacy")
    assert client.spectrum_url({"obsid": 7}) == "http://www.lamost.org/dr10/v2.0/spectrum/fits/7"
    with pytest.raises(ValueError, match="mode"):
        LamostClient("x", mode="ftp")  # type: ignore[arg-type]


def test_spec_filename() -> None:
    assert spec_filename(57287, "KP193637N444141V03", 10, 161) == (
        "spec-57287-KP193637N444141V03_sp10-161.fits.gz"
    )


def test_spectrum_requests_names_and_columns(tmp_path: Path) -> None:
    client = LamostClient("http://h/openapi", mode="openapi")
    reqs = client.spectrum_requests(ROWS, tmp_path)
    assert [r.key for r in reqs] == ["101005", "202117"]
    assert reqs[1].dest == (
        f"{tmp_path}/dr8_v2.0/KP193637N444141V03/spec-57293-KP193637N444141V03_sp10-161.fits.gz"
    )
    assert reqs[1].url == "http://h/openapi/dr8/v2.0/lrs/spectrum/fits?obsid=202117"
    with pytest.raises(ValueError, match="obsdate"):
        LamostClient("http://h", mode="tree").spectrum_requests(ROWS.drop(columns="obsdate"), "d")
    # obsdate is not needed by the query services.
    assert len(client.spectrum_requests(ROWS.drop(columns="obsdate"), "d")) == 2


@pytest.mark.parametrize("planid", ["../../outside", "/etc/cron.d", "..", "a\\b"])
@pytest.mark.parametrize("mode", ["openapi", "tree"])
def test_a_plan_id_that_is_a_path_is_refused(tmp_path: Path, planid: str, mode: str) -> None:
    """The catalogs stage rejects such rows; a caller that passes one anyway gets an error,
    never a file outside its folder."""
    rows = ROWS.assign(planid=["F5902", planid])
    with pytest.raises(BadInputError, match=r"^LAMOST catalog row obsid 202117: name ") as refused:
        LamostClient("http://h/openapi", mode=mode).spectrum_requests(rows, tmp_path)
    assert "path traversal" in str(refused.value)


def test_token_only_in_secret_params(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAMOST_TOKEN", raising=False)
    client = LamostClient("http://h", mode="legacy")
    assert client.secret_params() == {}
    monkeypatch.setenv("LAMOST_TOKEN", TOKEN)
    assert client.secret_params() == {"token": TOKEN}
    reqs = client.spectrum_requests(ROWS, tmp_path)
    assert TOKEN not in repr(reqs) + repr(client) + client.catalog_url("x.csv.gz")
    assert LamostClient("http://h", token_env=None).secret_params() == {}


def _spectrum(obsid: int) -> bytes:
    hdu = fits.PrimaryHDU(np.ones((5, 20), dtype=np.float32))
    hdu.header["OBSID"] = obsid
    raw = io.BytesIO()
    hdu.writeto(raw)
    return gzip.compress(raw.getvalue())


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    for obsid, rel in zip(ROWS["obsid"], TREE_PATHS, strict=True):
        path = root / "lamost" / rel
        path.parent.mkdir(parents=True)
        path.write_bytes(_spectrum(int(obsid)))
    catalog = root / "lamost/dr8/v2.0/catalog/dr8_v2.0_LRS_stellar.csv.gz"
    catalog.parent.mkdir(parents=True)
    catalog.write_bytes(gzip.compress(ROWS.to_csv(index=False).encode()))
    return root


@pytest.mark.parametrize("mode", ["openapi", "legacy", "tree"])
def test_download_through_archive(
    mode: str,
    mirror: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LAMOST_TOKEN", TOKEN)
    dest = tmp_path / "raw"
    fs = LocalFileSystem()
    with ArchiveServer(mirror, token=TOKEN) as server:
        client = LamostClient(f"{server.url}/lamost", mode=mode)  # type: ignore[arg-type]
        with client.downloader(fs, verify=read_header, retries=1) as downloader:
            records = downloader.fetch(client.spectrum_requests(ROWS, dest))
        with client.downloader(fs, retries=1) as downloader:
            records += downloader.fetch(
                [client.catalog_request("dr8_v2.0_LRS_stellar.csv.gz", dest)]
            )
        queries = [r.query for r in server.requests]
    assert [r.status for r in records] == ["ok"] * 3, [r.reason for r in records]
    for rel, record in zip(TREE_PATHS, records[:2], strict=True):
        got = Path(record.path)
        assert got.parent.parent == dest / "dr8_v2.0"
        assert got.read_bytes() == (mirror / "lamost" / rel).read_bytes()
    assert pd.read_csv(records[2].path)["obsid"].tolist() == ROWS["obsid"].tolist()
    assert all(f"token={TOKEN}" in q for q in queries)  # sent (and demanded by the server)...
    assert TOKEN not in repr([r.as_dict() for r in records]) + caplog.text  # ...never shown


def test_unknown_obsid_is_a_clear_failure(mirror: Path, tmp_path: Path) -> None:
    rows = ROWS.assign(obsid=[101005, 999])
    with ArchiveServer(mirror) as server:
        client = LamostClient(f"{server.url}/lamost", mode="openapi", token_env=None)
        with client.downloader(LocalFileSystem(), retries=1) as downloader:
            records = downloader.fetch(client.spectrum_requests(rows, tmp_path))
    assert [(r.status, r.reason) for r in records] == [
        ("ok", ""),
        ("failed", "not found (HTTP 404)"),
    ]


RELEASES = (("dr8", "v2.0"), ("dr9", "v1.0"), ("dr9", "v2.0"))


@pytest.fixture
def release_tree(tmp_path: Path) -> Path:
    """An archive tree with three releases, plus folders and files that are not releases."""
    root = tmp_path / "releases"
    for dr, version in RELEASES:
        catalog = root / "lamost" / dr / version / "catalog" / f"{dr}_{version}_LRS_stellar.csv.gz"
        catalog.parent.mkdir(parents=True)
        catalog.write_bytes(gzip.compress(ROWS.to_csv(index=False).encode()))
    (root / "lamost" / "doc").mkdir()
    (root / "lamost" / "dr9" / "notes").mkdir()
    (root / "lamost" / "README").write_text("not a release")
    return root


def test_release_order_and_names() -> None:
    ordered = [Release.parse(dr, v) for dr, v in (("dr9", "v1.0"), ("dr9", "v2.0"), ("dr10", "v0"))]
    assert sorted(reversed(ordered)) == ordered
    assert [str(r) for r in ordered] == ["dr9/v1.0", "dr9/v2.0", "dr10/v0"]
    with pytest.raises(ValueError, match="not a LAMOST release"):
        Release.parse("latest", "v2.0")
    assert newest_release(ordered, "v2.0") == ordered[1]
    assert newest_release(ordered) == ordered[2]
    assert newest_release(ordered, "v3.0") is None


def test_an_archive_tree_lists_its_releases(release_tree: Path) -> None:
    expected = [Release.parse(dr, v) for dr, v in RELEASES]
    local = LamostClient((release_tree / "lamost").as_uri(), mode="tree")
    assert local.releases() == expected
    with ArchiveServer(release_tree) as server:
        remote = LamostClient(f"{server.url}/lamost", mode="tree")
        assert remote.releases() == expected


@pytest.mark.parametrize("mode", ["openapi", "legacy"])
def test_the_services_are_probed_for_release_catalogs(
    mode: str, release_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMOST_TOKEN", TOKEN)
    with ArchiveServer(release_tree, token=TOKEN) as server:
        client = LamostClient(f"{server.url}/lamost", mode=mode, dr="dr9")  # type: ignore[arg-type]
        assert client.releases() == [Release.parse(dr, v) for dr, v in RELEASES[1:]]
        # dr9 and dr10 through the version ladder; the first empty release number ends it.
        probed = {r.path.split("/")[2] for r in server.requests}
        assert probed == {"dr9", "dr10"}
        assert all(r.method == "HEAD" and f"token={TOKEN}" in r.query for r in server.requests)
    assert client.release_catalog_url("stellar").endswith("name=dr9_v2.0_LRS_stellar.csv.gz")
