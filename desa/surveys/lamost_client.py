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

Both services take the account token as the ``token`` query parameter; it is optional for public
(v2.0) releases (data_sources.md §1.2). The token is read from the environment when a downloader
is made and handed to it only as a secret parameter, never put into a URL here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

import fsspec
import pandas as pd

from storage.download import Downloader, DownloadRequest

Mode = Literal["openapi", "legacy", "tree"]
MODES: tuple[Mode, ...] = ("openapi", "legacy", "tree")

OPENAPI_BASE = "https://www.lamost.org/openapi"
LEGACY_BASE = "http://www.lamost.org"

_NAME_COLUMNS = ("obsid", "lmjd", "planid", "spid", "fiberid")


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
        obsdate = pd.Timestamp(row["obsdate"]).strftime("%Y%m%d")
        planid = str(row["planid"]).strip()
        return f"{self.release_url}/fits/{obsdate}/{quote(planid)}/{quote(_filename(row))}"

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
                dest=f"{root}/{str(row['planid']).strip()}/{_filename(row)}",
            )
            for _, row in rows.iterrows()
        ]

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


def _filename(row: Mapping[str, Any] | pd.Series) -> str:
    return spec_filename(row["lmjd"], row["planid"], row["spid"], row["fiberid"])
