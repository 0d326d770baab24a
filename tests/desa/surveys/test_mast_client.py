"""MAST Kepler long-cadence URLs, folder listings (http and file://) and download requests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from bench.archive_server import ArchiveServer, Fault, FaultPlan
from desa.surveys.kepler import QUARTERS, llc_filename, read_quarter
from desa.surveys.mast_client import MastClient
from storage.download import Downloader

KIC = 2556081
STAMPS = [QUARTERS[q].stamps[0] for q in (1, 2, 3)] + list(QUARTERS[4].stamps)


def _downloader(verify: Callable[[Path], None] | None = None) -> Downloader:
    return Downloader(LocalFileSystem(), retries=2, verify=verify, sleep=lambda s: None)


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A MAST-like tree: KIC 2556081 with Q1-Q3 and both Q4 stamps, plus noise in the folder."""
    root = tmp_path / "mirror"
    folder = root / "kepler/lightcurves/0025/002556081"
    folder.mkdir(parents=True)
    for stamp in STAMPS:
        (folder / llc_filename(KIC, stamp)).write_bytes(b"SIMPLE  =                    T" * 10)
    (folder / "kplr002556081_lc_Q011111111111111111.tar").write_bytes(b"tar")
    (folder / "kplr002556081-2009259160929_slc.fits").write_bytes(b"short cadence")
    (folder / "kplr000000001-2009259160929_llc.fits").write_bytes(b"another star's file")
    (folder / ".kplr002556081-2010174085026_llc.fits.tmp-0a1b").write_bytes(b"partial")
    return root


def test_llc_url() -> None:
    client = MastClient()
    assert client.llc_url(KIC, "2009259160929") == (
        "https://archive.stsci.edu/missions/kepler/lightcurves/0025/002556081/"
        "kplr002556081-2009259160929_llc.fits"
    )
    assert MastClient("file:///m/").llc_url(11442793, "x") == (
        "file:///m/0114/011442793/kplr011442793-x_llc.fits"
    )


def _expected_names() -> list[str]:
    return sorted(llc_filename(KIC, s) for s in STAMPS)


def test_list_quarters_http(mirror: Path) -> None:
    with ArchiveServer(mirror) as server:
        client = MastClient(f"{server.url}/kepler/lightcurves")
        assert client.list_quarters(KIC) == _expected_names()
        assert client.list_quarters(7660594) == []  # no folder: no quarters


def test_list_quarters_file_url(mirror: Path) -> None:
    client = MastClient((mirror / "kepler/lightcurves").as_uri())
    assert client.list_quarters(KIC) == _expected_names()
    assert client.list_quarters(7660594) == []


def test_list_quarters_reports_a_broken_listing(mirror: Path) -> None:
    plan = FaultPlan({"kepler/lightcurves/0025/002556081/": Fault.error(500, times=None)})
    with ArchiveServer(mirror, plan) as server:
        client = MastClient(f"{server.url}/kepler/lightcurves")
        with pytest.raises(Exception, match="500"):
            client.list_quarters(KIC)


def test_lightcurve_requests_and_fetch(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "raw"
    with ArchiveServer(mirror) as server:
        client = MastClient(f"{server.url}/kepler/lightcurves")
        reqs = client.lightcurve_requests([KIC, 7660594], dest, quarters=[2, 4])
        records = _downloader().fetch(reqs)
    names = [llc_filename(KIC, s) for s in sorted([*QUARTERS[2].stamps, *QUARTERS[4].stamps])]
    assert [r.key for r in reqs] == names
    assert reqs[0].dest == f"{dest}/0025/002556081/{names[0]}"
    assert reqs[0].url == f"{server.url}/kepler/lightcurves/0025/002556081/{names[0]}"
    assert not any(r.missing_ok for r in reqs)
    assert [r.status for r in records] == ["ok"] * 3
    with pytest.raises(ValueError, match="unknown Kepler quarters"):
        client.lightcurve_requests([KIC], dest, quarters=[18])


def test_failed_listing_falls_back_to_probing(mirror: Path, tmp_path: Path) -> None:
    plan = FaultPlan({"kepler/lightcurves/0025/002556081/": Fault.error(503, times=None)})
    with ArchiveServer(mirror, plan) as server:
        client = MastClient(f"{server.url}/kepler/lightcurves")
        reqs = client.lightcurve_requests([KIC], tmp_path, quarters=[3, 5])
        records = _downloader().fetch(reqs)
    assert all(r.missing_ok for r in reqs)
    by_quarter = {r.key: r.status for r in records}
    assert by_quarter == {
        llc_filename(KIC, QUARTERS[3].stamps[0]): "ok",
        llc_filename(KIC, QUARTERS[5].stamps[0]): "absent",  # the star has no Q5 here
    }


def test_real_kepler_tree(real_data: Path, tmp_path: Path) -> None:
    """Real DR25 files laid out as MAST does, listed over http and read after download."""
    mirror = tmp_path / "mirror"
    real = sorted((real_data / "kepler").glob("kplr011442793-*_llc.fits"))
    folder = mirror / "0114/011442793"
    folder.mkdir(parents=True)
    for path in real:
        (folder / path.name).symlink_to(path)  # read in place, never copied
    with ArchiveServer(mirror) as server:
        client = MastClient(server.url)
        assert client.list_quarters(11442793) == [p.name for p in real]
        reqs = client.lightcurve_requests([11442793], tmp_path / "raw")
        records = _downloader(verify=read_quarter).fetch(reqs)
    assert [r.status for r in records] == ["ok"] * len(real)
    assert {read_quarter(r.path).kic for r in records} == {11442793}


class _FakeObservations:
    """Stands in for astroquery.mast.Observations: one target with two LLC and one SLC file."""

    def __init__(self) -> None:
        self.criteria: list[dict] = []

    def query_criteria(self, **criteria):
        from astropy.table import Table

        self.criteria.append(criteria)
        known = criteria["target_name"] == "kplr002556081"
        return Table({"obsid": [9001] if known else []}, dtype=[int])

    def get_product_list(self, observations):
        from astropy.table import Table

        uri = "mast:KEPLER/url/missions/kepler/lightcurves/0025/002556081/"
        names = [
            "kplr002556081-2009259160929_llc.fits",
            "kplr002556081-2009166043257_llc.fits",
            "kplr002556081-2009259160929_slc.fits",
        ]
        return Table(
            {
                "productFilename": names,
                "dataURI": [uri + n for n in names],
                "productSubGroupDescription": ["LLC", "LLC", "SLC"],
            }
        )

    def filter_products(self, products, productSubGroupDescription):
        return products[products["productSubGroupDescription"] == productSubGroupDescription]


def test_search_route_builds_llc_requests_from_mast_products(tmp_path) -> None:
    from urllib.parse import parse_qs, urlsplit

    from desa.surveys.mast_client import MAST_DOWNLOAD, search_lightcurve_requests

    fake = _FakeObservations()
    requests = search_lightcurve_requests([2556081, 1234567], tmp_path, observations=fake)
    assert [c["target_name"] for c in fake.criteria] == ["kplr002556081", "kplr001234567"]
    assert all(c["obs_collection"] == "Kepler" for c in fake.criteria)
    assert [r.key for r in requests] == [
        "kplr002556081-2009166043257_llc.fits",
        "kplr002556081-2009259160929_llc.fits",
    ]
    url = urlsplit(requests[0].url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == MAST_DOWNLOAD
    assert parse_qs(url.query)["uri"][0].endswith("/0025/002556081/" + requests[0].key)
    assert requests[0].dest == f"{tmp_path}/0025/002556081/{requests[0].key}"


def test_tree_stamp_notices_new_files(mirror: Path) -> None:
    tree = mirror / "kepler/lightcurves"
    local = MastClient(tree.as_uri())
    first = local.tree_stamp()
    assert local.tree_stamp() == first
    new = tree / "0114/011442793" / llc_filename(11442793, STAMPS[0])
    new.parent.mkdir(parents=True)
    new.write_bytes(b"SIMPLE")
    assert local.tree_stamp() != first
    with ArchiveServer(mirror) as server:
        remote = MastClient(f"{server.url}/kepler/lightcurves")
        before = remote.tree_stamp()
        (tree / "0200").mkdir()  # a remote tree is stamped by its top-level index
        assert remote.tree_stamp() != before
