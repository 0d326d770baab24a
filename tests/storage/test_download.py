"""The generic downloader against a loopback archive with injected faults (and file://)."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
from pathlib import Path

import fsspec
import numpy as np
import pytest
import requests
import urllib3
from astropy.io import fits
from fsspec.implementations.local import LocalFileSystem

from bench.archive_server import ArchiveServer, Fault, FaultPlan
from desa.surveys.kepler import read_quarter
from desa.surveys.lamost import read_header
from storage.download import Downloader, DownloadRequest

TOKEN = "tok-S3cr3t/+value"  # '/' and '+' make the URL-quoted spelling differ from the plain one


def _fits_gz(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    hdu = fits.PrimaryHDU(rng.normal(size=(5, 300)).astype(np.float32))
    hdu.header["OBSID"] = seed
    raw = io.BytesIO()
    hdu.writeto(raw)
    return gzip.compress(raw.getvalue())


def _check_fits(path: Path) -> None:
    """A verify hook like the pipeline's: the file must parse as FITS with data."""
    with fits.open(path, memmap=False) as hdul:
        if hdul[0].data is None:
            raise ValueError("no data in primary HDU")


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """files/f00.fits.gz ... f09.fits.gz (gzip FITS, ~6 kB each) and files/plain.bin (5000 B)."""
    root = tmp_path / "mirror"
    (root / "files").mkdir(parents=True)
    for i in range(10):
        (root / "files" / f"f{i:02d}.fits.gz").write_bytes(_fits_gz(i))
    (root / "files" / "plain.bin").write_bytes(os.urandom(5000))
    return root


def _requests(server: ArchiveServer, dest: Path, names: list[str], **kw: object) -> list:
    return [
        DownloadRequest(key=n, url=server.url_for(f"files/{n}"), dest=str(dest / n), **kw)
        for n in names
    ]


def _leftovers(folder: Path) -> list[Path]:
    """Temporary files (hidden siblings named .<name>.tmp-...) anywhere under ``folder``."""
    return [p for p in folder.rglob("*") if p.name.startswith(".")]


def _no_sleep(seconds: float) -> None:
    return None


NAMES = [f"f{i:02d}.fits.gz" for i in range(10)]


def test_faults_end_in_verified_files_or_clear_reasons(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    plan = FaultPlan(
        {
            "*/f00.fits.gz": Fault.error(500, times=2),  # transient: recovered
            "*/f01.fits.gz": Fault.delay(5.0),  # one timeout, then fine
            "*/f02.fits.gz": Fault.truncate(0.3),  # one cut body, then fine
            "*/f03.fits.gz": Fault.corrupt_gzip(),  # one corrupt body, then fine
            "*/f04.fits.gz": Fault.error(429),  # rate limited once
            "*/f05.fits.gz": Fault.error(500, times=None),  # permanent 500
            "*/f06.fits.gz": Fault.not_found(),
            "*/f07.fits.gz": Fault.truncate(0.4, times=None),  # always cut short
            "*/f08.fits.gz": Fault.corrupt_gzip(times=None),  # always corrupt
            "*/f09.fits.gz": Fault.error(403, times=None),
        }
    )
    sleeps: list[float] = []
    with ArchiveServer(mirror, plan) as server:
        downloader = Downloader(
            LocalFileSystem(),
            concurrency=4,
            timeout_s=1.0,
            backoff_s=0.01,
            verify=_check_fits,
            sleep=sleeps.append,
        )
        records = downloader.fetch(_requests(server, dest, NAMES))

    by_key = {r.key: r for r in records}
    assert [r.key for r in records] == NAMES  # same order as the requests
    good = {
        "f00.fits.gz": 3,
        "f01.fits.gz": 2,
        "f02.fits.gz": 2,
        "f03.fits.gz": 2,
        "f04.fits.gz": 2,
    }
    for name, attempts in good.items():
        record = by_key[name]
        assert (record.status, record.attempts, record.reason) == ("ok", attempts, ""), record
        data = (dest / name).read_bytes()
        assert data == (mirror / "files" / name).read_bytes()
        assert record.sha256 == hashlib.sha256(data).hexdigest() and record.size == len(data)
        assert record.path == str(dest / name)
    size7 = (mirror / "files/f07.fits.gz").stat().st_size
    expected = {
        "f05.fits.gz": ("HTTP 500 after 4 attempts", 4),
        "f06.fits.gz": ("not found (HTTP 404)", 1),
        "f07.fits.gz": (f"truncated: got {int(size7 * 0.4)} of {size7} bytes after 4 attempts", 4),
        "f09.fits.gz": ("HTTP 403 Forbidden", 1),
    }
    for name, (reason, attempts) in expected.items():
        record = by_key[name]
        assert (record.status, record.reason, record.attempts) == ("failed", reason, attempts)
    assert by_key["f08.fits.gz"].status == "failed"
    assert by_key["f08.fits.gz"].reason.startswith("corrupt gzip: ")
    assert by_key["f08.fits.gz"].reason.endswith("after 4 attempts")
    # Nothing of a failed file at its destination, no temporary file anywhere.
    assert sorted(p.name for p in dest.iterdir()) == sorted(good)
    assert _leftovers(dest) == []
    assert len(sleeps) == 2 + 1 + 1 + 1 + 1 + 3 + 3 + 3  # retries only for transient faults
    assert all(r.extra["url"].startswith(server.url) for r in records)


def test_verify_hook_failure_is_retried_then_reported(mirror: Path, tmp_path: Path) -> None:
    calls: list[Path] = []

    def reject(path: Path) -> None:
        calls.append(path)
        raise ValueError("not a LAMOST spectrum: no COADD table\nsecond line")

    with ArchiveServer(mirror) as server:
        downloader = Downloader(LocalFileSystem(), verify=reject, retries=3, sleep=_no_sleep)
        [record] = downloader.fetch(_requests(server, tmp_path, ["f00.fits.gz"]))
        assert len(server.requests) == 3
    assert record.status == "failed"
    assert record.reason == "verify failed: not a LAMOST spectrum: no COADD table after 3 attempts"
    # The hook saw the temporary file, which kept the destination's suffixes.
    assert all(p.name.endswith(".fits.gz") and p.name.startswith(".") for p in calls)
    assert list(tmp_path.iterdir()) == [tmp_path / "mirror"]


def test_size_and_checksum_expectations(mirror: Path, tmp_path: Path) -> None:
    data = (mirror / "files/plain.bin").read_bytes()
    url_of = "files/plain.bin"
    with ArchiveServer(mirror) as server:
        reqs = [
            DownloadRequest(
                "good",
                server.url_for(url_of),
                str(tmp_path / "a"),
                len(data),
                hashlib.sha256(data).hexdigest(),
            ),
            DownloadRequest("size", server.url_for(url_of), str(tmp_path / "b"), len(data) + 1),
            DownloadRequest("sha", server.url_for(url_of), str(tmp_path / "c"), sha256="0" * 64),
        ]
        records = Downloader(LocalFileSystem(), retries=2, sleep=_no_sleep).fetch(reqs)
    assert [r.status for r in records] == ["ok", "failed", "failed"]
    assert records[1].reason == "size 5000 != expected 5001 after 2 attempts"
    assert records[2].reason == "sha256 mismatch after 2 attempts"
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_resume_skips_verified_files_without_a_request(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with ArchiveServer(mirror) as server:
        reqs = _requests(server, dest, NAMES[:4])
        downloader = Downloader(LocalFileSystem(), verify=_check_fits, sleep=_no_sleep)
        first = downloader.fetch(reqs)
        assert len(server.requests) == 4
        # One destination damaged after the fact, one removed.
        (dest / NAMES[1]).write_bytes(b"\x1f\x8b garbage")
        (dest / NAMES[2]).unlink()
        second = downloader.fetch(reqs)
        refetched = sorted(r.path.rsplit("/", 1)[1] for r in server.requests[4:])
    assert refetched == [NAMES[1], NAMES[2]]
    assert [r.attempts for r in second] == [0, 1, 1, 0]
    assert [r.status for r in second] == ["ok"] * 4
    assert [r.sha256 for r in second] == [r.sha256 for r in first]


def test_concurrency_bound_is_respected(mirror: Path, tmp_path: Path) -> None:
    with ArchiveServer(mirror, latency_s=0.15) as server:
        downloader = Downloader(LocalFileSystem(), concurrency=3)
        records = downloader.fetch(_requests(server, tmp_path / "out", NAMES))
        assert server.max_in_flight == 3  # reached, never exceeded
    assert all(r.status == "ok" for r in records)


def test_progress_callback(mirror: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    with ArchiveServer(mirror) as server:
        Downloader(LocalFileSystem()).fetch(
            _requests(server, tmp_path, NAMES[:3]), progress=lambda d, t: seen.append((d, t))
        )
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_missing_ok_marks_absent(mirror: Path, tmp_path: Path) -> None:
    with ArchiveServer(mirror) as server:
        reqs = _requests(server, tmp_path, ["nope.fits.gz"], missing_ok=True)
        [record] = Downloader(LocalFileSystem(), sleep=_no_sleep).fetch(reqs)
    assert (record.status, record.reason, record.attempts) == ("absent", "not found (HTTP 404)", 1)


def test_backoff_is_exponential_with_full_jitter(mirror: Path, tmp_path: Path) -> None:
    sleeps: list[float] = []
    plan = FaultPlan({"*": Fault.error(503, times=None)})
    with ArchiveServer(mirror, plan) as server:
        downloader = Downloader(
            LocalFileSystem(),
            concurrency=1,  # one file at a time: its sleeps are consecutive in the list
            retries=6,
            backoff_s=0.5,
            max_backoff_s=3.0,
            sleep=sleeps.append,
        )
        records = downloader.fetch(_requests(server, tmp_path, NAMES))
    assert {r.reason for r in records} == {"HTTP 503 after 6 attempts"}
    caps = [0.5, 1.0, 2.0, 3.0, 3.0]  # backoff * 2**k, capped by max_backoff_s
    per_file = [sleeps[i : i + 5] for i in range(0, len(sleeps), 5)]
    assert len(per_file) == len(NAMES)
    for delays in per_file:
        assert all(0 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    # Full jitter: spread over [0, cap], not pinned at the cap.
    last = [d[-1] for d in per_file]
    assert min(last) < 1.5 < max(last) or len(set(last)) == len(last)


def test_token_never_leaks(mirror: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs request URLs at DEBUG

    def hook(path: Path) -> None:
        if "f01" in path.name:
            raise ValueError(f"upstream said: bad token {TOKEN}")

    plan = FaultPlan(
        {"*/f02.fits.gz": Fault.error(500, times=None), "*/f03.fits.gz": Fault.delay(5, times=None)}
    )
    with ArchiveServer(mirror, plan) as server:
        reqs = _requests(server, tmp_path / "out", NAMES[:5])
        # A refused connection: requests puts the full URL (with the token) in its exception.
        reqs.append(
            DownloadRequest("dead", "http://127.0.0.1:9/x.fits?obsid=1", str(tmp_path / "d"))
        )
        downloader = Downloader(
            LocalFileSystem(),
            timeout_s=1.0,
            retries=2,
            verify=hook,
            params={"obsid": "7"},
            secret_params={"token": TOKEN},
            sleep=_no_sleep,
        )
        records = downloader.fetch(reqs)
        sent = [r.query for r in server.requests]
        log_lines = list(server.log_lines)

    quoted = ["tok-S3cr3t%2F%2Bvalue", "tok-S3cr3t/+value"]
    assert all("token=tok-S3cr3t%2F%2Bvalue" in q and "obsid=7" in q for q in sent)
    text = repr([r.as_dict() for r in records]) + caplog.text
    assert not any(form in text for form in quoted)
    assert "urllib3" in caplog.text and "***" in caplog.text  # redacted, not silenced
    assert records[1].reason == "verify failed: upstream said: bad token *** after 2 attempts"
    assert records[5].reason == "connection error after 2 attempts"
    assert records[3].reason == "timeout after 2 attempts"
    assert records[0].extra["url"].endswith("f00.fits.gz?obsid=7")
    # The server saw the token only in the query strings it received.
    for line in log_lines:
        stripped = line
        for query in sent:
            stripped = stripped.replace(query, "")
        assert not any(form in stripped for form in quoted), line


def test_file_urls(mirror: Path, tmp_path: Path) -> None:
    bad = mirror / "files" / "bad.fits.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    reqs = [
        DownloadRequest(n, (mirror / "files" / n).as_uri(), str(tmp_path / "out" / n))
        for n in ["f00.fits.gz", "plain.bin", "bad.fits.gz"]
    ]
    reqs.append(
        DownloadRequest(
            "gone", (mirror / "gone.fits").as_uri(), str(tmp_path / "g"), missing_ok=True
        )
    )
    reqs.append(DownloadRequest("gone2", (mirror / "gone.fits").as_uri(), str(tmp_path / "h")))
    records = Downloader(LocalFileSystem(), retries=2, sleep=_no_sleep).fetch(reqs)
    assert [r.status for r in records] == ["ok", "ok", "failed", "absent", "failed"]
    assert (tmp_path / "out/plain.bin").read_bytes() == (mirror / "files/plain.bin").read_bytes()
    assert records[2].reason.startswith("corrupt gzip")
    assert records[4].reason == "not found (no such file)"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f00.fits.gz", "plain.bin"]
    # Resume works for file:// too.
    again = Downloader(LocalFileSystem()).fetch(reqs[:2])
    assert [r.attempts for r in again] == [0, 0]


def test_non_local_filesystem(mirror: Path) -> None:
    fs = fsspec.filesystem("memory")
    root = "/desa-test-download"
    with ArchiveServer(mirror, FaultPlan({"*/f01.fits.gz": Fault.truncate()})) as server:
        reqs = [
            DownloadRequest(n, server.url_for(f"files/{n}"), f"{root}/raw/{n}") for n in NAMES[:3]
        ]
        downloader = Downloader(fs, verify=_check_fits, sleep=_no_sleep)
        records = downloader.fetch(reqs)
        again = downloader.fetch(reqs)
        assert len(server.requests) == 4  # 3 files + 1 retry; the second fetch resumed all
    try:
        assert [r.status for r in records] == ["ok"] * 3
        assert [r.attempts for r in again] == [0, 0, 0]
        assert fs.cat_file(f"{root}/raw/{NAMES[1]}") == (mirror / "files" / NAMES[1]).read_bytes()
        assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{root}/raw", detail=False)) == NAMES[:3]
    finally:
        fs.rm(root, recursive=True)


def test_request_validation(tmp_path: Path) -> None:
    downloader = Downloader(LocalFileSystem())
    same = [DownloadRequest("a", "file:///x", str(tmp_path / "x"))] * 2
    with pytest.raises(ValueError, match="duplicate download key"):
        downloader.fetch(same)
    [record] = downloader.fetch([DownloadRequest("s3", "s3://bucket/x", str(tmp_path / "y"))])
    assert (record.status, record.reason) == ("failed", "unsupported URL scheme 's3'")
    with pytest.raises(ValueError):
        Downloader(LocalFileSystem(), concurrency=0)


def test_real_survey_files_through_the_server(real_data: Path, tmp_path: Path) -> None:
    """The real LAMOST and Kepler files, served in place, arrive byte-identical and readable."""
    lamost = sorted((real_data / "lamost").rglob("spec-*.fits.gz"))[:3]
    kepler = sorted((real_data / "kepler").glob("kplr*_llc.fits"))[:3]
    rels = [p.relative_to(real_data).as_posix() for p in lamost + kepler]

    def readable(path: Path) -> None:
        if "kplr" in path.name:
            read_quarter(path)
        else:
            read_header(path)

    # A corrupt first body for one real spectrum: caught by the gzip check, then refetched.
    plan = FaultPlan({rels[0]: Fault.corrupt_gzip()})
    with ArchiveServer(real_data, plan) as server:
        reqs = [DownloadRequest(r, server.url_for(r), str(tmp_path / r)) for r in rels]
        records = Downloader(LocalFileSystem(), verify=readable, sleep=_no_sleep).fetch(reqs)
    assert [r.status for r in records] == ["ok"] * len(rels)
    assert records[0].attempts == 2
    for rel, record in zip(rels, records, strict=True):
        assert record.sha256 == hashlib.sha256((real_data / rel).read_bytes()).hexdigest()


class _ShortBodySession(requests.Session):
    """A transport that does not enforce Content-Length: 3 bytes arrive, 10 were announced."""

    def get(self, url: str, **kwargs: object) -> requests.Response:  # type: ignore[override]
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Length"] = "10"
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(b"abc"),
            headers={"Content-Length": "10"},
            status=200,
            preload_content=False,
            enforce_content_length=False,
        )
        return response


def test_short_body_is_caught_even_if_the_transport_does_not(tmp_path: Path) -> None:
    downloader = Downloader(
        LocalFileSystem(), retries=2, session=_ShortBodySession(), sleep=_no_sleep
    )
    [record] = downloader.fetch(
        [DownloadRequest("k", "http://example.invalid/x", str(tmp_path / "x"))]
    )
    assert (record.status, record.reason) == (
        "failed",
        "truncated: got 3 of 10 bytes after 2 attempts",
    )
    assert list(tmp_path.iterdir()) == []
