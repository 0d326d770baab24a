"""The loopback archive server: static tree, listings, LAMOST endpoints, faults, bookkeeping."""

from __future__ import annotations

import gzip
import http.client
import io
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from astropy.io import fits

from bench.archive_server import ArchiveServer, Fault, FaultPlan
from bench.fetch import fetch_rate

SPEC_REL = "lamost/dr8/v2.0/fits/20111024/F5902/spec-55859-F5902_sp01-005.fits.gz"


def _spectrum_bytes(obsid: int) -> bytes:
    header = fits.Header({"OBSID": obsid, "PLANID": "F5902"})
    hdu = fits.PrimaryHDU(np.arange(50, dtype=np.float32).reshape(5, 10), header=header)
    raw = io.BytesIO()
    hdu.writeto(raw)
    return gzip.compress(raw.getvalue())


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    spec = root / SPEC_REL
    spec.parent.mkdir(parents=True)
    spec.write_bytes(_spectrum_bytes(101005))
    catalog = root / "lamost/dr8/v2.0/catalog/dr8_v2.0_LRS_stellar.csv.gz"
    catalog.parent.mkdir(parents=True)
    catalog.write_bytes(gzip.compress(b"obsid,planid\n101005,F5902\n"))
    kic = root / "kepler/lightcurves/0025/002556081"
    kic.mkdir(parents=True)
    (kic / "kplr002556081-2009259160929_llc.fits").write_bytes(b"A" * 3000)
    (kic / ".kplr002556081-2009350155506_llc.fits.tmp-abc").write_bytes(b"partial")
    (root / "secret.txt").write_text("outside the served folder is not reachable")
    return root


def test_static_file_listing_and_redirect(mirror: Path) -> None:
    with ArchiveServer(mirror) as server:
        assert server.url.startswith("http://127.0.0.1:")
        got = requests.get(server.url_for("kepler/lightcurves/0025/002556081/"), timeout=5)
        assert got.status_code == 200 and "Index of /kepler/lightcurves/0025/002556081/" in got.text
        assert 'href="kplr002556081-2009259160929_llc.fits"' in got.text
        assert ".tmp-" not in got.text  # writers' temporary files are not listed
        assert 'href="../">Parent Directory' in got.text
        # Apache answers a folder without its slash with a redirect to it.
        moved = requests.get(
            server.url_for("kepler/lightcurves/0025"), allow_redirects=False, timeout=5
        )
        assert moved.status_code == 301 and moved.headers["Location"].endswith("/0025/")
        file = requests.get(
            server.url_for(
                "kepler/lightcurves/0025/002556081/kplr002556081-2009259160929_llc.fits"
            ),
            timeout=5,
        )
        assert file.content == b"A" * 3000 and file.headers["Content-Length"] == "3000"
        gz = requests.head(server.url_for(SPEC_REL), timeout=5)
        assert gz.headers["Content-Type"] == "application/gzip"
        assert "Content-Encoding" not in gz.headers
        assert requests.get(server.url_for("nope.fits"), timeout=5).status_code == 404


def test_path_traversal_is_refused(mirror: Path) -> None:
    with ArchiveServer(mirror / "kepler") as server:
        conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        conn.request("GET", "/../secret.txt")
        response = conn.getresponse()
        assert response.status == 404
        assert b"outside" not in response.read()
        conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "/lamost/dr8/v2.0/lrs/spectrum/fits?obsid=101005",  # OpenAPI
        "/lamost/dr8/v2.0/spectrum/fits/101005",  # legacy
    ],
)
@pytest.mark.parametrize("explicit", [True, False])
def test_lamost_spectrum_endpoints(mirror: Path, path: str, explicit: bool) -> None:
    obsids = {101005: SPEC_REL} if explicit else None  # else found from the OBSID header
    with ArchiveServer(mirror, obsids=obsids) as server:
        got = requests.get(server.url + path, timeout=5)
        assert got.status_code == 200
        assert got.content == (mirror / SPEC_REL).read_bytes()
        assert got.headers["Content-Disposition"].endswith(
            "filename=spec-55859-F5902_sp01-005.fits.gz"
        )
        other = requests.get(server.url + path.replace("101005", "999"), timeout=5)
        assert other.status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/lamost/dr8/v2.0/lrs/catalog?name={}", "/lamost/dr8/v2.0/catdl?name={}"],
)
def test_lamost_catalog_endpoints_and_token(mirror: Path, path: str) -> None:
    with ArchiveServer(mirror, token="tok-123") as server:
        url = server.url + path.format("dr8_v2.0_LRS_stellar.csv.gz")
        assert requests.get(url, timeout=5).status_code == 403
        assert requests.get(url, params={"token": "wrong"}, timeout=5).status_code == 403
        got = requests.get(url, params={"token": "tok-123"}, timeout=5)
        assert gzip.decompress(got.content).startswith(b"obsid,planid")
        bad = requests.get(
            server.url + path.format("../../secret.txt"), params={"token": "tok-123"}, timeout=5
        )
        assert bad.status_code == 400
        # Static files need no token (MAST-like part of the mirror).
        assert requests.get(server.url_for(SPEC_REL), timeout=5).status_code == 200


def test_status_faults_count_down_then_serve(mirror: Path) -> None:
    plan = FaultPlan({"*.fits.gz": [Fault.error(503, times=2)], "*missing*": Fault.not_found()})
    with ArchiveServer(mirror, plan) as server:
        codes = [requests.get(server.url_for(SPEC_REL), timeout=5).status_code for _ in range(3)]
        assert codes == [503, 503, 200]
        assert plan.take(["x.fits.gz"]) is None  # spent
        assert [r.fault for r in server.requests_for("*spec-*")] == ["status", "status", None]


def test_fault_matches_served_file_of_a_query_endpoint(mirror: Path) -> None:
    always = Fault.error(500, times=None)
    with ArchiveServer(mirror, FaultPlan({"*/spec-55859-F5902_sp01-005.fits.gz": always})) as srv:
        for _ in range(3):
            got = requests.get(srv.url + "/lamost/dr8/v2.0/spectrum/fits/101005", timeout=5)
            assert got.status_code == 500
        assert always.hits == 3


def test_truncate_fault_sends_less_than_content_length(mirror: Path) -> None:
    plan = FaultPlan({SPEC_REL: Fault.truncate(keep_fraction=0.25)})
    size = (mirror / SPEC_REL).stat().st_size
    with ArchiveServer(mirror, plan) as server:
        conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        conn.request("GET", "/" + SPEC_REL)
        response = conn.getresponse()
        assert int(response.headers["Content-Length"]) == size
        with pytest.raises(http.client.IncompleteRead) as err:
            response.read()
        assert len(err.value.partial) == int(size * 0.25)
        conn.close()
        # The next request gets the whole file.
        assert len(requests.get(server.url_for(SPEC_REL), timeout=5).content) == size


def test_corrupt_gzip_fault(mirror: Path) -> None:
    good = (mirror / SPEC_REL).read_bytes()
    with ArchiveServer(mirror, FaultPlan({SPEC_REL: Fault.corrupt_gzip()})) as server:
        bad = requests.get(server.url_for(SPEC_REL), timeout=5).content
    assert len(bad) == len(good) and bad != good
    with pytest.raises((OSError, EOFError)):
        gzip.decompress(bad)


def test_delay_fault_outlasts_client_timeout(mirror: Path) -> None:
    with ArchiveServer(mirror, FaultPlan({SPEC_REL: Fault.delay(2.0)})) as server:
        start = time.monotonic()
        with pytest.raises(requests.Timeout):
            requests.get(server.url_for(SPEC_REL), timeout=0.2)
        assert time.monotonic() - start < 1.5
        assert requests.get(server.url_for(SPEC_REL), timeout=5).status_code == 200


def test_records_requests_and_in_flight(mirror: Path) -> None:
    with ArchiveServer(mirror, latency_s=0.2) as server:
        sessions = [requests.Session() for _ in range(3)]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda s: s.get(server.url_for(SPEC_REL), timeout=5), sessions))
        assert server.max_in_flight == 3
        assert len(server.requests) == 3
        assert all(r.status == 200 and r.file == SPEC_REL for r in server.requests)
        assert len(server.log_lines) == 3 and SPEC_REL in server.log_lines[0]


def test_binds_loopback_and_stops_on_exit(mirror: Path) -> None:
    with ArchiveServer(mirror, FaultPlan({SPEC_REL: Fault.delay(30, times=None)})) as server:
        url = server.url
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(requests.Timeout):
            requests.get(server.url_for(SPEC_REL), timeout=0.1)
    start = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/", timeout=1)
    assert time.monotonic() - start < 1
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_url_needs_a_running_server(mirror: Path) -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = ArchiveServer(mirror).url


def test_fetch_rate_reports_rates(mirror: Path) -> None:
    result = fetch_rate(mirror, n_files=10, concurrency=2)
    # spec, catalog, llc and secret.txt; the dot-file is skipped.
    assert result["files"] == 4 and result["failed"] == 0
    assert result["bytes"] == sum(
        p.stat().st_size for p in mirror.rglob("*") if p.is_file() and not p.name.startswith(".")
    )
    assert result["files_per_s"] > 0 and result["mb_per_s"] > 0
    with pytest.raises(ValueError, match="no files"):
        fetch_rate(mirror / "kepler" / "empty-not-there", 5, 1)
