"""Where things live under the data root (a local path or any fsspec URL)."""

from __future__ import annotations

from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem


class DataRoot:
    """The data root and its well-known locations.

    Paths returned by ``path`` are paths inside ``fs`` (no protocol), so they can be passed
    straight to fsspec calls.
    """

    def __init__(self, url: str | Path) -> None:
        self.url = str(url)
        self.fs, root = fsspec.core.url_to_fs(self.url)
        self.root = root.rstrip("/")

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *(p.strip("/") for p in parts)])

    def local_path(self, *parts: str) -> Path:
        if not self.is_local:
            raise ValueError(f"data root {self.url} is not on the local filesystem")
        return Path(self.path(*parts))

    def store_url(self, *parts: str) -> str:
        """A URL of a path under the root that zarr/xarray can open (with its protocol)."""
        path = self.path(*parts)
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def makedirs(self, *parts: str) -> str:
        path = self.path(*parts)
        self.fs.makedirs(path, exist_ok=True)
        return path

    def catalog_path(self, name: str) -> str:
        return self.path("catalogs", f"{name}.parquet")

    def manifest_path(self, name: str) -> str:
        return self.path("manifests", f"{name}.parquet")

    def state_path(self, stage: str) -> str:
        return self.path("state", f"{stage}.json")

    def lock_path(self, stage: str) -> str:
        return self.path("state", f"{stage}.lock")

    def raw_path(self, *parts: str) -> str:
        return self.path("raw", *parts)

    def crossmatch_path(self) -> str:
        return self.path("crossmatch.parquet")

    def sources_lock_path(self) -> str:
        return self.path("sources.lock.json")

    def __repr__(self) -> str:
        return f"DataRoot({self.url!r})"
