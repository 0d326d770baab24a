"""The one downloader every fetch goes through (generic: no astronomy, no prefect).

Each request is streamed to a temporary file beside its destination (or a local temporary file
when the destination filesystem is not local), verified, and only then renamed into place, so a
destination is either absent or complete and verified. Transient faults (connection errors,
timeouts, HTTP 5xx/429, truncated bodies, failed verification) are retried with exponential
backoff and full jitter; permanent ones (HTTP 4xx) are not. Secret query parameters (tokens) are
added to the outgoing request only and are redacted from every record, log line and reason.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import random
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit
from urllib.request import url2pathname

import fsspec
import requests
import urllib3
from fsspec.implementations.local import LocalFileSystem

from storage.errors import DiskFull, is_disk_full
from storage.fingerprint import sha256_file
from storage.manifest import ManifestRecord
from storage.publish import clear_stale_temps, publish_file, temp_path_for

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_REDACTED = "***"
_USER_AGENT = "desa-pipeline (+https://github.com/IlayMalinyak/DESA)"


@dataclass(frozen=True)
class DownloadRequest:
    """One file to fetch. ``missing_ok``: a 404 means the file does not exist (status 'absent')."""

    key: str
    url: str
    dest: str
    expected_size: int | None = None
    sha256: str | None = None
    missing_ok: bool = False


class _AttemptError(Exception):
    """Why one attempt failed; ``summary`` is already short and free of secrets."""

    def __init__(
        self,
        summary: str,
        *,
        retryable: bool,
        not_found: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.retryable = retryable
        self.not_found = not_found
        self.retry_after = retry_after


class _RedactFilter(logging.Filter):
    """Scrubs secrets from records of loggers we do not control (urllib3 logs request URLs)."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


class Downloader:
    """Fetch many files into ``fs`` with bounded concurrency, retries, verification and resume.

    ``retries`` is the number of attempts per file in all (the first one included).
    ``timeout_s`` bounds connecting and each read of the body (not the whole transfer).
    ``verify(path)`` is the caller's check of a finished file; it raises on a bad file.
    ``params`` are sent with every http(s) request and shown in records; ``secret_params``
    are sent but never shown. ``sleep`` is injectable so tests need not wait for backoff.
    """

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        *,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        verify: Callable[[Path], None] | None = None,
        params: Mapping[str, str] | None = None,
        secret_params: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1 or retries < 1:
            raise ValueError("concurrency and retries must be at least 1")
        self.fs = fs
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._verify_hook = verify
        self._params = dict(params or {})
        self._secret_params = dict(secret_params or {})
        self._secrets = _secret_forms(self._secret_params.values())
        self._sleep = sleep
        self._rng = random.Random()
        self._local = isinstance(fs, LocalFileSystem)
        self._owns_session = session is None
        self._session = session or _default_session(concurrency)

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        """``text`` with every secret value (plain or URL-quoted) replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def fetch(
        self,
        requests_: Sequence[DownloadRequest],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[ManifestRecord]:
        """Fetch every request; one record per request, in the same order. Never raises for a
        failed file: its record says 'failed' (or 'absent') and why. A full disk is not a file's
        fault: it raises DiskFull."""
        _check_unique(requests_)
        total = len(requests_)
        records: list[ManifestRecord | None] = [None] * total
        with self._redacting_urllib3(), ThreadPoolExecutor(self.concurrency) as pool:
            futures = {pool.submit(self._fetch_one, r): i for i, r in enumerate(requests_)}
            for done, future in enumerate(as_completed(futures), start=1):
                records[futures[future]] = future.result()
                if progress is not None:
                    progress(done, total)
        result = [r for r in records if r is not None]
        counts = {s: sum(r.status == s for r in result) for s in ("ok", "failed", "absent")}
        skipped = sum(r.status == "ok" and r.attempts == 0 for r in result)
        log.info(
            "fetched %d files: %d ok (%d already present), %d failed, %d absent",
            total,
            counts["ok"],
            skipped,
            counts["failed"],
            counts["absent"],
        )
        return result

    # -- one request ---------------------------------------------------------------------------

    def _fetch_one(self, req: DownloadRequest) -> ManifestRecord:
        extra = {"url": self._display_url(req.url)}
        present = self._verified_existing(req)
        if present is not None:
            return self._ok(req, present, attempts=0, extra=extra)
        attempt = 0
        while True:
            attempt += 1
            try:
                fetched = self._attempt(req)
            except _AttemptError as err:
                if err.not_found and req.missing_ok:
                    return ManifestRecord(
                        req.key, "absent", reason=err.summary, attempts=attempt, extra=extra
                    )
                if err.retryable and attempt < self.retries:
                    delay = self._backoff(attempt, err.retry_after)
                    log.info(
                        "%s: %s; retrying in %.2fs (attempt %d of %d)",
                        req.key,
                        err.summary,
                        delay,
                        attempt + 1,
                        self.retries,
                    )
                    self._sleep(delay)
                    continue
                reason = err.summary if attempt == 1 else f"{err.summary} after {attempt} attempts"
                log.warning("%s: %s", req.key, reason)
                return ManifestRecord(
                    req.key, "failed", reason=reason, attempts=attempt, extra=extra
                )
            return self._ok(req, fetched, attempts=attempt, extra=extra)

    @staticmethod
    def _ok(
        req: DownloadRequest, fetched: tuple[int, str], attempts: int, extra: dict[str, str]
    ) -> ManifestRecord:
        size, digest = fetched
        return ManifestRecord(
            req.key, "ok", path=req.dest, size=size, sha256=digest, attempts=attempts, extra=extra
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_backoff_s, retry_after)
        # Full jitter spreads retries of many workers hit by the same outage.
        return self._rng.uniform(0, min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))

    def _verified_existing(self, req: DownloadRequest) -> tuple[int, str] | None:
        """(size, sha256) of a destination that is already there and passes verification."""
        if not self.fs.exists(req.dest):
            return None
        try:
            with self._readable_copy(req.dest) as path:
                return self._verify(path, req, content_length=None)
        except _AttemptError as err:
            # A bad file must not stay where readers expect a good one.
            log.warning("%s: existing %s is bad (%s); fetching again", req.key, req.dest, err)
            self.fs.rm(req.dest)
            return None

    @contextmanager
    def _readable_copy(self, dest: str) -> Iterator[Path]:
        if self._local:
            yield Path(dest)
            return
        with tempfile.TemporaryDirectory(prefix="desa-verify-") as tmp_dir:
            local = Path(tmp_dir) / Path(dest).name
            self.fs.get_file(dest, str(local))
            yield local

    def _attempt(self, req: DownloadRequest) -> tuple[int, str]:
        tmp = self._temp_file(req.dest)
        try:
            length = self._transfer(req.url, tmp)
            size, digest = self._verify(tmp, req, content_length=length)
            publish_file(tmp, self.fs, req.dest)
            return size, digest
        except OSError as err:
            if is_disk_full(err):  # not the file's fault: stop, rather than quarantine it
                raise DiskFull(req.dest, f"downloading {req.key}") from None
            raise _AttemptError(
                self.redact(f"local I/O error: {err.strerror or err}"), retryable=False
            ) from None
        finally:
            tmp.unlink(missing_ok=True)

    def _temp_file(self, dest: str) -> Path:
        """An empty temporary file that keeps the destination's suffix (hooks may look at it)."""
        suffix = _suffix(dest)
        if self._local:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            clear_stale_temps(self.fs, dest)  # a killed run's partial download
            tmp = Path(temp_path_for(dest) + suffix)
            tmp.touch()
            return tmp
        handle, name = tempfile.mkstemp(prefix="desa-dl-", suffix=suffix)
        os.close(handle)
        return Path(name)

    # -- transfer ------------------------------------------------------------------------------

    def _transfer(self, url: str, tmp: Path) -> int | None:
        """Copy ``url`` into ``tmp``; return the size the source announced, if any."""
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            return _copy_local(url, tmp)
        if scheme in ("http", "https"):
            return self._get(url, tmp)
        raise _AttemptError(f"unsupported URL scheme {scheme!r}", retryable=False)

    def _get(self, url: str, tmp: Path) -> int | None:
        params = {**self._params, **self._secret_params}  # secrets join only here, at send time
        try:
            response = self._session.get(
                url, params=params, stream=True, timeout=(self.timeout_s, self.timeout_s)
            )
        except requests.Timeout:
            raise _AttemptError("timeout", retryable=True) from None
        except requests.ConnectionError:
            raise _AttemptError("connection error", retryable=True) from None
        except requests.RequestException as err:
            raise _AttemptError(f"request error ({type(err).__name__})", retryable=False) from None
        with response:
            _raise_for_status(response)
            length = _content_length(response)
            written = 0
            try:
                with tmp.open("wb") as out:
                    # Raw bytes: a server that labels a .gz file Content-Encoding: gzip must not
                    # get it silently decompressed, and Content-Length counts raw bytes.
                    for chunk in response.raw.stream(_CHUNK, decode_content=False):
                        out.write(chunk)
                        written += len(chunk)
            except urllib3.exceptions.ReadTimeoutError:
                raise _AttemptError("timeout", retryable=True) from None
            except urllib3.exceptions.HTTPError as err:  # broken connection, bad chunking, TLS
                got, expected = _incomplete_read(err, written, length)
                summary = (
                    f"truncated: got {got} of {expected} bytes"
                    if expected is not None
                    else "connection broken"
                )
                raise _AttemptError(summary, retryable=True) from None
        return length

    # -- verification --------------------------------------------------------------------------

    def _verify(
        self, path: Path, req: DownloadRequest, content_length: int | None
    ) -> tuple[int, str]:
        size = path.stat().st_size
        if size == 0:
            raise _AttemptError("empty file", retryable=True)
        if content_length is not None and size != content_length:
            raise _AttemptError(f"truncated: got {size} of {content_length} bytes", retryable=True)
        if req.expected_size is not None and size != req.expected_size:
            raise _AttemptError(f"size {size} != expected {req.expected_size}", retryable=True)
        digest = sha256_file(LocalFileSystem(), str(path))
        if req.sha256 is not None and digest != req.sha256.lower():
            raise _AttemptError("sha256 mismatch", retryable=True)
        if req.dest.endswith(".gz"):
            _check_gzip(path)
        if self._verify_hook is not None:
            try:
                self._verify_hook(path)
            except Exception as err:  # the hook's own error type is unknown; its message counts
                raise _AttemptError(f"verify failed: {self._short(err)}", retryable=True) from None
        return size, digest

    def _short(self, err: BaseException) -> str:
        text = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return self.redact(text)[:200]

    # -- secrets -------------------------------------------------------------------------------

    def _display_url(self, url: str) -> str:
        try:
            shown = requests.Request("GET", url, params=self._params).prepare().url or url
        except requests.RequestException:
            shown = url  # a malformed URL fails its own attempt with a clear reason
        return self.redact(shown)

    @contextmanager
    def _redacting_urllib3(self) -> Iterator[None]:
        if not self._secrets:
            yield
            return
        # A logger's filters do not see records of its children, so each urllib3 logger gets one.
        names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "urllib3"]
        loggers = [logging.getLogger(n) for n in names]
        redactor = _RedactFilter(self.redact)
        for logger in loggers:
            logger.addFilter(redactor)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(redactor)


# -- helpers ---------------------------------------------------------------------------------


def _default_session(concurrency: int) -> requests.Session:
    session = requests.Session()
    # One pooled connection per worker, so keep-alive works at any concurrency.
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(10, concurrency))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = _USER_AGENT
    return session


def _secret_forms(values: Iterable[str]) -> list[str]:
    """Every spelling of each secret that can reach text: plain and URL-quoted; longest first."""
    forms: set[str] = set()
    for value in values:
        if value:
            forms.update({str(value), quote(str(value), safe=""), quote_plus(str(value))})
    return sorted(forms, key=len, reverse=True)


def _check_unique(reqs: Sequence[DownloadRequest]) -> None:
    for attr in ("key", "dest"):
        seen: set[str] = set()
        for req in reqs:
            value = getattr(req, attr)
            if value in seen:
                raise ValueError(f"duplicate download {attr}: {value}")
            seen.add(value)


def _suffix(dest: str) -> str:
    name = dest.rpartition("/")[2]
    parts = name.split(".")
    if len(parts) >= 3 and parts[-1] in ("gz", "bz2", "xz"):
        return f".{parts[-2]}.{parts[-1]}"
    return f".{parts[-1]}" if len(parts) >= 2 else ""


def _raise_for_status(response: requests.Response) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    if code == 404:
        raise _AttemptError("not found (HTTP 404)", retryable=False, not_found=True)
    if code == 429 or code >= 500:
        raise _AttemptError(
            f"HTTP {code}", retryable=True, retry_after=_retry_after(response.headers)
        )
    reason = http.client.responses.get(code, "")
    raise _AttemptError(f"HTTP {code} {reason}".strip(), retryable=False)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.strip().isdigit() else None


def _incomplete_read(
    err: urllib3.exceptions.HTTPError, written: int, length: int | None
) -> tuple[int, int | None]:
    """Bytes received and expected, from urllib3's IncompleteRead when it says (it counts bytes
    read from the socket, some of which never reached us)."""
    for arg in err.args:
        if isinstance(arg, urllib3.exceptions.IncompleteRead):
            return arg.partial, arg.partial + arg.expected
    return written, length


def _copy_local(url: str, tmp: Path) -> int:
    source = Path(url2pathname(urlsplit(url).path))
    if not source.is_file():
        raise _AttemptError("not found (no such file)", retryable=False, not_found=True)
    size = source.stat().st_size
    try:
        shutil.copyfile(source, tmp)
    except OSError as err:
        if is_disk_full(err):
            raise  # the destination's disk, not the source: the caller stops
        raise _AttemptError(f"read error: {err.strerror or err}", retryable=True) from None
    return size


def _check_gzip(path: Path) -> None:
    """Decompress the whole file: a damaged transfer shows as a bad header, stream or CRC."""
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as err:
        raise _AttemptError(f"corrupt gzip: {err}", retryable=True) from None
