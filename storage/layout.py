"""Where things live under the data root (a local path or any fsspec URL).

Every product a stage writes has one name here (flint's naming module is the model): the
stage that writes it, its key in that stage's state record and its place under the root.
Stages declare what they read by these names and find every file through them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import fsspec
from fsspec.implementations.local import LocalFileSystem


@dataclass(frozen=True)
class Product:
    """One stage output: ``stage``'s state record fingerprints it under ``output``."""

    stage: str
    output: str
    relpath: str  # under the data root

    @property
    def key(self) -> str:
        """How a reader's cache key names this input."""
        return f"{self.stage}:{self.output}"


def catalog(name: str) -> Product:
    return Product("catalogs", name, f"catalogs/{name}.parquet")


def rejected_rows(catalog_name: str) -> str:
    return f"catalogs/rejected/{catalog_name}.parquet"


def manifest(name: str) -> str:
    return f"manifests/{name}.parquet"


LAMOST_CATALOG = catalog("lamost_lrs_stellar")
KEPLER_GAIA = catalog("kepler_gaia")
BERGER = catalog("berger2020")
APOGEE = catalog("apogee_dr17")
APOGEE_INPUTS = (APOGEE, LAMOST_CATALOG)  # the APOGEE comparison's; not every root has APOGEE
KEPLER_TREE = Product("catalogs", "kepler_tree", "")  # a stamp of the archive, no file
CATALOG_MANIFEST = manifest("catalogs")
SOURCES_LOCK = "sources.lock.json"

CROSSMATCH = Product("crossmatch", "crossmatch", "crossmatch.parquet")

RAW_SPECTRA = "raw/lamost"
RAW_LIGHTCURVES = "raw/kepler"
RAW_CATALOGS = "raw/catalogs"
FETCHED_SPECTRA = Product("fetch-spectra", "files", manifest("fetch-spectra"))
FETCHED_LIGHTCURVES = Product("fetch-lightcurves", "files", manifest("fetch-lightcurves"))

SPECTRA = Product("spectra", "store", "spectra.zarr")
LIGHTCURVES = Product("lightcurves", "store", "lightcurves.zarr")
SPECTRA_ROWS = manifest("spectra")  # the row manifest of spectra.zarr
LIGHTCURVE_ROWS = manifest("lightcurves")


def labels(table: str) -> Product:
    return Product("labels", table, f"labels/{table}.parquet")


SPECTRA_MODEL = Product("train-spectra", "model", "models/train-spectra.ckpt")
LIGHTCURVE_MODEL = Product("train-lightcurves", "model", "models/train-lightcurves.ckpt")
FEATURES = Product("features", "store", "features.zarr")
DUALFORMERS = Product("train-dualformer", "models", "models/dualformer")
BASELINES = Product("train-baselines", "models", "models/baselines")


def dualformer(name: str) -> Product:
    return Product(DUALFORMERS.stage, name, f"{DUALFORMERS.relpath}/{name}.ckpt")


def baseline(name: str) -> Product:
    return Product(BASELINES.stage, name, f"{BASELINES.relpath}/{name}.ckpt")


def model(name: str) -> str:
    """A published model by its job name (``train-spectra``, ``finetune/desa-binary``...)."""
    return f"models/{name}.ckpt"


CHECKPOINTS = "checkpoints"


def checkpoints(job: str) -> str:
    return f"{CHECKPOINTS}/{job}"


EMBEDDINGS = Product("embed", "store", "embeddings.zarr")
PREDICTIONS = Product("finetune", "predictions", "finetune/predictions.parquet")

MAPS = Product("umap", "maps", "umap.parquet")


def reducer(model_name: str) -> str:
    return f"umap/{model_name}.pkl"


REPORT_DIR = "report"
METRICS = Product("evaluate", "metrics", f"{REPORT_DIR}/metrics.json")
COMPARISON_TABLE = f"{REPORT_DIR}/comparison.csv"
FIGURE_INDEX = f"{REPORT_DIR}/figures.json"


def figure(stem: str) -> str:
    return f"{REPORT_DIR}/figures/{stem}.png"


REPORT = Product("report", "report", f"{REPORT_DIR}/index.html")
EXPLORER = Product("report", "explorer", f"{REPORT_DIR}/explorer.html")

STATE_DIR = "state"
PIPELINE_LOCK = f"{STATE_DIR}/pipeline.lock"
RELEASES = f"{STATE_DIR}/releases.json"


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

    def of(self, product: Product) -> str:
        """The path of a named product (see the names above)."""
        return self.path(product.relpath)

    def url_of(self, product: Product) -> str:
        return self.store_url(product.relpath)

    def state_path(self, stage: str) -> str:
        return self.path(STATE_DIR, f"{stage}.json")

    def lock_path(self, stage: str) -> str:
        return self.path(STATE_DIR, f"{stage}.lock")

    def _prefixes(self) -> list[str]:
        """Every spelling of the root a recorded path or URL may start with."""
        prefixes = [self.root, self.fs.unstrip_protocol(self.root)]
        if "://" in self.url:
            prefixes.append(self.url)  # as the user spelled it (memory://b/x, not memory:///b/x)
        if self.is_local:
            prefixes.append(os.path.realpath(self.root))  # a root reached through a symlink
        return list(dict.fromkeys(p.rstrip("/") for p in prefixes))

    def relative(self, path: str) -> str:
        """``path`` (a path inside ``fs``, or a URL) relative to the root when it lies under
        it (``"."`` for the root itself); anything else is returned unchanged.

        What the pipeline records (state, manifests, configs) is written this way, so that a
        copied or restored root reads its own files, never those of where it came from.
        """
        local = path
        if self.is_local and path.startswith("file://"):
            local = url2pathname(urlsplit(path).path)  # file URIs percent-encode (Path.as_uri)
        for prefix in self._prefixes():
            for candidate in (path, local):
                if candidate == prefix:
                    return "."
                if candidate.startswith(prefix + "/"):
                    return candidate[len(prefix) + 1 :]
        return path

    def resolve(self, path: str) -> str:
        """The path inside ``fs`` of a recorded path: relative ones are under this root; a
        full path (a record written before paths were relative, or a file kept outside the
        root) is returned as it is."""
        if path == ".":
            return self.root
        if "://" in path:
            return self.fs._strip_protocol(path)
        full = os.path.isabs(path) if self.is_local else path.startswith(self.root + "/")
        return path if full else self.path(path)

    def portable(self, value: Any) -> Any:
        """``value`` (a stage's config: nested dicts, lists, strings) with every path or URL
        under the root written relative to it (``relative``)."""
        if isinstance(value, str):
            return self.relative(value)
        if isinstance(value, Mapping):
            return {key: self.portable(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.portable(item) for item in value]
        return value

    def __repr__(self) -> str:
        return f"DataRoot({self.url!r})"
