"""A loopback archive server for ``desa bench fetch`` and for the tests of the archive clients.

``ArchiveServer(root)`` serves a mirror folder on 127.0.0.1 (a free port) the way the archives
do: static files with Content-Length, Apache-style directory listings (as MAST serves its
``missions/kepler/lightcurves`` tree), and the LAMOST OpenAPI and legacy query endpoints
(data_sources.md §1.2) mapped onto the mirror's LAMOST archive tree. A ``FaultPlan`` injects
archive misbehaviour per path pattern: HTTP errors a number of times (or always), responses slower
than a client's timeout, bodies cut short of their Content-Length, and corrupt gzip bodies.
Every request is recorded, so tests can check what a client sent (and what it did not).
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

FaultKind = Literal["status", "delay", "truncate", "corrupt_gzip"]

# LAMOST query endpoints relative to a base (the OpenAPI base or the legacy host root);
# data_sources.md §1.2 (pylamost HEAD e0bf421 and pylamost@0d70d29~1).
_RELEASE = r"(?P<base>(?:/[^/]+)*?)/(?P<dr>dr\d+)/(?P<ver>v[^/]+)"
_OPENAPI_SPECTRUM = re.compile(_RELEASE + r"/lrs/spectrum/fits$")
_LEGACY_SPECTRUM = re.compile(_RELEASE + r"/spectrum/fits/(?P<obsid>\d+)$")
_OPENAPI_CATALOG = re.compile(_RELEASE + r"/lrs/catalog$")
_LEGACY_CATALOG = re.compile(_RELEASE + r"/catdl$")


@dataclass
class Fault:
    """One kind of misbehaviour, applied ``times`` times (``None``: every time)."""

    kind: FaultKind
    times: int | None = 1
    status: int = 500
    delay_s: float = 0.0
    keep_fraction: float = 0.5
    hits: int = field(default=0, init=False)

    @classmethod
    def error(cls, status: int = 500, times: int | None = 1) -> Fault:
        return cls("status", times=times, status=status)

    @classmethod
    def not_found(cls) -> Fault:
        return cls("status", times=None, status=404)

    @classmethod
    def delay(cls, seconds: float, times: int | None = 1) -> Fault:
        return cls("delay", times=times, delay_s=seconds)

    @classmethod
    def truncate(cls, keep_fraction: float = 0.5, times: int | None = 1) -> Fault:
        return cls("truncate", times=times, keep_fraction=keep_fraction)

    @classmethod
    def corrupt_gzip(cls, times: int | None = 1) -> Fault:
        return cls("corrupt_gzip", times=times)

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times


class FaultPlan:
    """Faults per path pattern (``fnmatch``, matched against the request path without its
    leading slash, the path with its query string, and the served file's path under the root).

    For a pattern with several faults, the first one not yet spent applies, so
    ``add("a.fits", Fault.error(times=2), Fault.truncate())`` answers 500, 500, a short body,
    then the file.
    """

    def __init__(self, rules: Mapping[str, Fault | Sequence[Fault]] | None = None) -> None:
        self._rules: list[tuple[str, list[Fault]]] = []
        self._lock = threading.Lock()
        for pattern, faults in (rules or {}).items():
            self.add(pattern, *([faults] if isinstance(faults, Fault) else faults))

    def add(self, pattern: str, *faults: Fault) -> FaultPlan:
        self._rules.append((pattern, list(faults)))
        return self

    def take(self, candidates: Sequence[str]) -> Fault | None:
        """The fault to apply to a request known by ``candidates`` (and count it)."""
        with self._lock:
            for pattern, faults in self._rules:
                if not any(fnmatchcase(c, pattern) for c in candidates):
                    continue
                for fault in faults:
                    if not fault.spent:
                        fault.hits += 1
                        return fault
        return None


@dataclass(frozen=True)
class SeenRequest:
    """A request as the server received it (the query string verbatim) and what it answered."""

    method: str
    path: str
    query: str
    status: int
    fault: FaultKind | None
    file: str | None
    started: float
    ended: float


class ArchiveServer:
    """Serve ``root`` on 127.0.0.1 in a background thread while the context is open.

    ``obsids`` maps a LAMOST obsid to its file's path under ``root``; without it the server
    indexes the mirror's LAMOST spectra by their ``OBSID`` header on first use. ``token``, when
    given, is required (as the ``token`` query parameter) by the LAMOST query endpoints.
    ``latency_s`` delays every response (to make concurrency observable). A request counts as
    in flight from its arrival until its response starts.
    """

    def __init__(
        self,
        root: Path,
        faults: FaultPlan | None = None,
        *,
        obsids: Mapping[int | str, str] | None = None,
        token: str | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.root = Path(root).resolve()
        self.faults = faults or FaultPlan()
        self.token = token
        self.latency_s = latency_s
        self.requests: list[SeenRequest] = []
        self.log_lines: list[str] = []
        self.max_in_flight = 0
        self._obsids = {str(k): v for k, v in obsids.items()} if obsids is not None else None
        self._scanned: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> ArchiveServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay fault
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise linger
            _close_socket(conn)
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ArchiveServer is not running (use it as a context manager)")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, relpath: str) -> str:
        return f"{self.url}/{quote(relpath.lstrip('/'))}"

    def requests_for(self, pattern: str) -> list[SeenRequest]:
        """Requests whose path (no leading slash) or served file matches ``pattern``."""
        with self._lock:
            seen = list(self.requests)
        return [
            r
            for r in seen
            if fnmatchcase(r.path.lstrip("/"), pattern)
            or (r.file is not None and fnmatchcase(r.file, pattern))
        ]

    # -- bookkeeping used by the handler --------------------------------------------------------

    def _enter_request(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave_request(self, seen: SeenRequest) -> None:
        with self._lock:
            self._in_flight -= 1
            self.requests.append(seen)

    def _log(self, line: str) -> None:
        with self._lock:
            self.log_lines.append(line)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True when it is."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()

    # -- routing -------------------------------------------------------------------------------

    def _file(self, relpath: str) -> Path | None:
        """``root/relpath`` if it stays inside the root."""
        # Normalised, not resolved: a mirror may be built of symlinks to files elsewhere.
        target = Path(os.path.normpath(self.root / relpath.lstrip("/")))
        return target if target.is_relative_to(self.root) else None

    def _obsid_path(self, base: str, dr: str, ver: str, obsid: str) -> str | None:
        if self._obsids is not None:
            return self._obsids.get(obsid)
        release = f"{base.strip('/')}/{dr}/{ver}".lstrip("/")
        with self._lock:
            index = self._scanned.get(release)
            if index is None:
                index = self._scanned[release] = _scan_obsids(self.root, release)
        return index.get(obsid)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts from a concurrent client must not hit a full backlog

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], archive: ArchiveServer
    ) -> None:
        self.archive = archive
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DesaArchive/1.0"
    timeout = 10  # an idle keep-alive connection gives its thread back after this
    # Headers and body go out in separate writes; with Nagle on, the body of a small file
    # waits for the client's delayed ACK (~40 ms per request on keep-alive connections).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.archive._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.archive._track(self.connection, add=False)
        with contextlib.suppress(OSError):  # the client is gone; nothing left to flush to
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.server.archive._log(f"{stamp} {self.address_string()} {format % args}")

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def _handle(self, send_body: bool) -> None:
        archive = self.server.archive
        archive._enter_request()
        self._started = time.monotonic()
        self._recorded = False
        self._status, self._fault, self._file_rel = 0, None, None
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parts.query
        try:
            if archive._wait(archive.latency_s):
                self.close_connection = True  # shutting down: answer nothing
            else:
                self._route(path, parse_qs(query), send_body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client gave up (e.g. its read timeout)
        finally:
            self._record()  # no-op when the response was sent

    def _record(self) -> None:
        """Log this request once. Called before a response's body goes out: a client that has
        read the body must find its request recorded and no longer counted as in flight."""
        if self._recorded:
            return
        self._recorded = True
        parts = urlsplit(self.path)
        self.server.archive._leave_request(
            SeenRequest(
                self.command,
                unquote(parts.path),
                parts.query,
                self._status,
                self._fault,
                self._file_rel,
                self._started,
                time.monotonic(),
            )
        )

    def _route(self, path: str, query: dict[str, list[str]], send_body: bool) -> None:
        archive = self.server.archive
        resolved = self._resolve(path, query, send_body)
        if resolved is None:
            return  # already answered (bad token, unknown obsid, bad catalog name)
        rel, attach = resolved
        self._file_rel = rel
        raw_query = urlsplit(self.path).query
        fault = archive.faults.take([path.lstrip("/"), f"{path.lstrip('/')}?{raw_query}", rel])
        if fault is not None:
            self._fault = fault.kind
            if fault.kind == "status":
                self._send_status(fault.status, "injected fault", send_body)
                return
            if fault.kind == "delay" and archive._wait(fault.delay_s):
                self.close_connection = True
                return
        target = archive._file(rel)
        if target is not None and target.is_dir():
            if not path.endswith("/"):
                self._send(301, b"", {"Location": quote(path) + "/"}, send_body)
                return
            data = _listing(target, path)
            headers = {"Content-Type": "text/html;charset=UTF-8"}
        elif target is not None and target.is_file():
            data = target.read_bytes()
            headers = {"Content-Type": _content_type(target.name)}
            if attach:
                headers["Content-Disposition"] = f"attachment; filename={target.name}"
        else:
            self._send_status(404, "not found", send_body)
            return
        cut = None
        if fault is not None and fault.kind == "corrupt_gzip":
            data = _corrupt(data)
        elif fault is not None and fault.kind == "truncate":
            cut = int(len(data) * fault.keep_fraction)
        self._send(200, data, headers, send_body, cut=cut)

    def _resolve(
        self, path: str, query: dict[str, list[str]], send_body: bool
    ) -> tuple[str, bool] | None:
        """(path under the root, whether to name the file in Content-Disposition), or None
        after answering a LAMOST query that cannot be served."""
        archive = self.server.archive
        for pattern in (_OPENAPI_SPECTRUM, _LEGACY_SPECTRUM, _OPENAPI_CATALOG, _LEGACY_CATALOG):
            match = pattern.match(path)
            if match is None:
                continue
            if archive.token is not None and query.get("token", [""])[0] != archive.token:
                self._send_status(403, "token missing or invalid", send_body)
                return None
            base, dr, ver = match["base"], match["dr"], match["ver"]
            if pattern in (_OPENAPI_CATALOG, _LEGACY_CATALOG):
                name = query.get("name", [""])[0]
                if not name or "/" in name or name.startswith("."):
                    self._send_status(400, "bad catalog name", send_body)
                    return None
                return f"{base}/{dr}/{ver}/catalog/{name}".lstrip("/"), False
            obsid = match.groupdict().get("obsid") or query.get("obsid", [""])[0]
            rel = archive._obsid_path(base, dr, ver, obsid) if obsid.isdigit() else None
            if rel is None:
                self._send_status(404, f"no spectrum with obsid {obsid!r}", send_body)
                return None
            return rel, True
        return path.lstrip("/"), False

    # -- responses -----------------------------------------------------------------------------

    def _send_status(self, status: int, message: str, send_body: bool) -> None:
        body = f"{status} {message}\n".encode()
        self._send(status, body, {"Content-Type": "text/plain"}, send_body)

    def _send(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str],
        send_body: bool,
        cut: int | None = None,
    ) -> None:
        """Send a response announcing ``len(body)`` bytes; with ``cut``, send only that many
        and drop the connection (a transfer that breaks mid-body)."""
        self._status = status
        self._record()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True
            _close_socket(self.connection)


def _listing(folder: Path, path: str) -> bytes:
    """An Apache-style index page of ``folder`` (as MAST serves its trees)."""
    rows = ['<tr><td><a href="../">Parent Directory</a></td><td></td><td>-</td></tr>']
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue  # temporary files of writers in progress
        name = entry.name + ("/" if entry.is_dir() else "")
        stat = entry.stat()
        modified = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
        size = "-" if entry.is_dir() else str(stat.st_size)
        rows.append(
            f'<tr><td><a href="{quote(name)}">{html.escape(name)}</a></td>'
            f'<td align="right">{modified}</td><td align="right">{size}</td></tr>'
        )
    title = f"Index of {html.escape(path)}"
    page = (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
        f"<html><head><title>{title}</title></head><body>\n<h1>{title}</h1>\n<table>\n"
        "<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n"
        + "\n".join(rows)
        + "\n</table>\n</body></html>\n"
    )
    return page.encode()


def _close_socket(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        conn.shutdown(socket.SHUT_RDWR)


def _content_type(name: str) -> str:
    if name.endswith(".gz"):
        return "application/gzip"  # never Content-Encoding: the client must get the .gz bytes
    if name.endswith(".fits"):
        return "application/fits"
    return "application/octet-stream"


def _corrupt(data: bytes) -> bytes:
    """Same length, flipped bytes inside the compressed stream (past the 10-byte gzip header,
    before the 8-byte CRC/size trailer): the gzip CRC check (or inflate) must fail."""
    buf = bytearray(data)
    if len(buf) > 18:
        start = 10 + (len(buf) - 18) // 2
        flip = range(start, min(start + 16, len(buf) - 8))
    else:
        flip = range(len(buf))
    for i in flip:
        buf[i] ^= 0xFF
    return bytes(buf)


def _scan_obsids(root: Path, release: str) -> dict[str, str]:
    """obsid -> path under ``root`` of every spectrum in ``release``'s archive tree, from the
    ``OBSID`` header card (file names carry plan/spectrograph/fiber, not the obsid)."""
    from astropy.io import fits  # only needed for mirrors queried by obsid

    index: dict[str, str] = {}
    for path in sorted((root / release / "fits").rglob("spec-*.fits*")):
        try:
            obsid = fits.getheader(path, 0).get("OBSID")
        except (OSError, EOFError, ValueError):
            continue  # a deliberately broken file in a test mirror is not addressable by obsid
        if obsid is not None:
            index[str(int(obsid))] = path.relative_to(root).as_posix()
    return index
