"""LAMOST LRS download URLs: per-obsid spectra and catalog files, in three access modes.

- ``openapi``: the current service, ``https://www.lamost.org/openapi`` (pylamost HEAD e0bf421,
  2025-07-09; cmost ``download.py``): ``{base}/{dr}/{ver}/lrs/spectrum/fits?obsid=`` and
  ``{base}/{dr}/{ver}/lrs/catalog?name=`` (data_sources.md §1.2).
- ``legacy``: the web endpoints pylamost used before 2025-07 (pylamost@0d70d29~1), with base
  ``http://www.lamost.org`` for DR6 and later: ``{base}/{dr}/{ver}/spectrum/fits/{obsid}`` and
  ``{base}/{dr}/{ver}/catdl?name=`` (data_sources.md §1.2).
- ``tree``: a static archive tree (our mirrors, docs/contracts.md "Mirror layout"):
  ``{base}/{dr}/{ver}/fits/{obsdate:%Y%m%d}/{planid}/spec-....fits.gz`` built from a catalog row,
  and ``{base}/{dr}/{ver}/catalog/{name}``.

Releases: an archive tree lists them as folders (``{base}/dr9/v2.0/``); the services are probed
for the release catalog of each release number upward (data_sources.md §5, "new-release
detection"), through the version ladder v1.0 < v1.1 < v2.0 (§1.1).

Both services take the account token as the ``token`` query parameter; it is optional for public
(v2.0) releases (data_sources.md §1.2). The token is read from the environment when a downloader
is made and handed to it only as a secret parameter, never put into a URL here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

import fsspec
import requests

from desa.surveys.listing import folder_names
from storage.download import Downloader, DownloadRequest
from storage.names import check_plain_name

if TYPE_CHECKING:
    import pandas as pd

Mode = Literal["openapi", "legacy", "tree"]
MODES: tuple[Mode, ...] = ("openapi", "legacy", "tree")

OPENAPI_BASE = "https://www.lamost.org/openapi"
LEGACY_BASE = "http://www.lamost.org"

_NAME_COLUMNS = ("obsid", "lmjd", "planid", "spid", "fiberid")
_PROBED_VERSIONS = ("v2.0", "v1.1", "v1.0")  # newest first: public, update, first release
_FIRST_PROBED = 8  # the paper's release; older ones are not looked for
_DR = re.compile(r"^dr(\d+)$")
_VERSION = re.compile(r"^v(\d+(?:\.\d+)*)$")


@dataclass(frozen=True, order=True)
class Release:
    """A LAMOST data release and version; orders by release number, then version."""

    number: int
    version_parts: tuple[int, ...]

    @classmethod
    def parse(cls, dr: str, version: str) -> Release:
        dr_match, version_match = _DR.match(dr), _VERSION.match(version)
        if dr_match is None or version_match is None:
            raise ValueError(f"not a LAMOST release: {dr!r} {version!r} (expected dr9, v2.0)")
        parts = tuple(int(p) for p in version_match.group(1).split("."))
        return cls(int(dr_match.group(1)), parts)

    @property
    def dr(self) -> str:
        return f"dr{self.number}"

    @property
    def version(self) -> str:
        return "v" + ".".join(str(p) for p in self.version_parts)

    def __str__(self) -> str:
        return f"{self.dr}/{self.version}"


def newest_release(releases: list[Release], version: str = "latest") -> Release | None:
    """The newest release, of ``version`` when one is pinned (e.g. the public v2.0)."""
    wanted = [r for r in releases if version == "latest" or r.version == version]
    return max(wanted, default=None)


def spec_filename(lmjd: int, planid: str, spid: int, fiberid: int) -> str:
    """Archive name of an LRS spectrum, e.g. ``spec-55859-F5902_sp01-005.fits.gz``
    (data_sources.md §6.1; the Content-Disposition name of OpenAPI downloads)."""
    return (
        f"spec-{int(lmjd):05d}-{str(planid).strip()}_sp{int(spid):02d}-{int(fiberid):03d}.fits.gz"
    )


class LamostClient:
    """Builds LAMOST spectrum/catalog URLs and download requests for one data release."""

    def __init__(
        self,
        base_url: str,
        *,
        dr: str = "dr8",
        version: str = "v2.0",
        mode: Mode = "openapi",
        token_env: str | None = "LAMOST_TOKEN",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}; expected one of {MODES}")
        self.base_url = base_url.rstrip("/")
        self.dr = dr
        self.version = version
        self.mode = mode
        self.token_env = token_env

    def __repr__(self) -> str:
        return (
            f"LamostClient({self.base_url!r}, dr={self.dr!r}, version={self.version!r}, "
            f"mode={self.mode!r})"
        )

    @property
    def release_url(self) -> str:
        return f"{self.base_url}/{self.dr}/{self.version}"

    def spectrum_url(self, row: Mapping[str, Any] | pd.Series) -> str:
        """URL of one spectrum; ``row`` is a LAMOST catalog row (obsid for the services;
        obsdate, planid, lmjd, spid, fiberid for the archive tree)."""
        if self.mode == "openapi":
            return f"{self.release_url}/lrs/spectrum/fits?{urlencode({'obsid': _obsid(row)})}"
        if self.mode == "legacy":
            return f"{self.release_url}/spectrum/fits/{_obsid(row)}"
        import pandas as pd  # only the archive tree's URLs need it (`desa status` does not)

        obsdate = pd.Timestamp(row["obsdate"]).strftime("%Y%m%d")
        return f"{self.release_url}/fits/{obsdate}/{quote(_planid(row))}/{quote(_filename(row))}"

    def catalog_url(self, name: str) -> str:
        """URL of a catalog file such as ``dr8_v2.0_LRS_stellar.csv.gz``."""
        if self.mode == "openapi":
            return f"{self.release_url}/lrs/catalog?{urlencode({'name': name})}"
        if self.mode == "legacy":
            return f"{self.release_url}/catdl?{urlencode({'name': name})}"
        return f"{self.release_url}/catalog/{quote(name)}"

    def spectrum_requests(
        self, rows: pd.DataFrame, dest_dir: str | PathLike[str]
    ) -> list[DownloadRequest]:
        """One request per catalog row, keyed by obsid, saved under its archive name in
        ``dest_dir/{dr}_{ver}/{planid}/``."""
        needed = _NAME_COLUMNS + (("obsdate",) if self.mode == "tree" else ())
        missing = [c for c in needed if c not in rows.columns]
        if missing:
            raise ValueError(f"LAMOST rows lack columns {missing} (needed for {self.mode} URLs)")
        root = f"{str(dest_dir).rstrip('/')}/{self.dr}_{self.version}"
        return [
            DownloadRequest(
                key=str(_obsid(row)),
                url=self.spectrum_url(row),
                dest=f"{root}/{_planid(row)}/{_filename(row)}",
            )
            for _, row in rows.iterrows()
        ]

    def release_catalog_name(self, kind: str) -> str:
        """This release's LRS catalog of ``kind`` (stellar, catalogue, ...), as LAMOST names
        them: ``dr8_v2.0_LRS_stellar.csv.gz`` (data_sources.md §1.3)."""
        return f"{self.dr}_{self.version}_LRS_{kind}.csv.gz"

    def release_catalog_url(self, kind: str) -> str:
        return self.catalog_url(self.release_catalog_name(kind))

    def releases(
        self, session: requests.Session | None = None, timeout_s: float = 30.0
    ) -> list[Release]:
        """The releases the archive offers, oldest first.

        An archive tree lists them as folders; the services are asked for the stellar catalog
        of each release number from this client's upward, until a number has none.
        """
        session = session or requests.Session()
        if self.mode == "tree":
            drs = [n for n in folder_names(f"{self.base_url}/", session, timeout_s) if _DR.match(n)]
            return sorted(
                Release.parse(dr, version)
                for dr in drs
                for version in folder_names(f"{self.base_url}/{dr}/", session, timeout_s)
                if _VERSION.match(version)
            )
        pinned = _DR.match(self.dr)
        found, number = [], int(pinned.group(1)) if pinned else _FIRST_PROBED
        while True:
            present = [
                Release.parse(f"dr{number}", version)
                for version in _PROBED_VERSIONS
                if self._answers(f"dr{number}", version, session, timeout_s)
            ]
            if not present:
                return sorted(found)
            found.extend(present)
            number += 1

    def _answers(self, dr: str, version: str, session: requests.Session, timeout_s: float) -> bool:
        probe = LamostClient(self.base_url, dr=dr, version=version, mode=self.mode)
        url = probe.catalog_url(probe.release_catalog_name("stellar"))
        response = session.head(
            url, params=self.secret_params(), timeout=timeout_s, allow_redirects=True
        )
        return response.status_code == 200

    def catalog_request(self, name: str, dest_dir: str | PathLike[str]) -> DownloadRequest:
        dest = f"{str(dest_dir).rstrip('/')}/{self.dr}_{self.version}/{name}"
        return DownloadRequest(key=name, url=self.catalog_url(name), dest=dest)

    def secret_params(self) -> dict[str, str]:
        """``{"token": ...}`` when the token variable is set, else ``{}``."""
        token = os.environ.get(self.token_env, "") if self.token_env else ""
        return {"token": token} if token else {}

    def downloader(
        self,
        fs: fsspec.AbstractFileSystem,
        verify: Callable[[Path], None] | None = None,
        **kwargs: Any,
    ) -> Downloader:
        """A Downloader that sends this client's token (if any) as a secret parameter."""
        return Downloader(fs, verify=verify, secret_params=self.secret_params(), **kwargs)


def _obsid(row: Mapping[str, Any] | pd.Series) -> int:
    return int(row["obsid"])


def _planid(row: Mapping[str, Any] | pd.Series) -> str:
    """The row's plan id, a folder and part of a file name: a path (``../x``) is refused
    (the catalogs stage rejects such rows first; this keeps any other caller inside)."""
    where = f"LAMOST catalog row obsid {row.get('obsid')}"
    return check_plain_name(str(row["planid"]).strip(), where)


def _filename(row: Mapping[str, Any] | pd.Series) -> str:
    return spec_filename(row["lmjd"], _planid(row), row["spid"], row["fiberid"])
