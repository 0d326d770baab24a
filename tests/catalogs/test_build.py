"""build_catalog and source stamps on local files (the stage's per-catalog work)."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from catalogs.build import build_catalog, source_fingerprint, source_url
from catalogs.errors import CatalogReadError
from catalogs.specs import SPECS
from storage.download import Downloader
from storage.layout import DataRoot
from storage.tables import read_parquet, read_parquet_metadata

SPEC = SPECS["mcquillan2014"]
ROWS = "kepid,Teff,logg,Mass,Prot,Prot_err,Rper,LPH,w,DC,Flag\n"
ROWS += "892376,3813,4.47,0.4699,1.532,0.007,7306.69,0.823,0.4503,0,---\n"
ROWS += "1026146,4261,4.57,0.6472,14.891,0.12,11742.56,1.405,0.7229,0,---\n"


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    path = tmp_path / "mirror" / SPEC.mirror_path
    path.parent.mkdir(parents=True)
    path.write_text(ROWS)
    return tmp_path / "mirror"


def _url(mirror: Path) -> str:
    return source_url(SPEC, mirror.as_uri(), lambda name: f"unused/{name}")


def test_source_stamp_follows_the_file_content(mirror: Path) -> None:
    first = source_fingerprint(SPEC, _url(mirror))
    assert source_fingerprint(SPEC, _url(mirror)) == first
    (mirror / SPEC.mirror_path).write_text(ROWS.replace("14.891", "14.9"))
    assert source_fingerprint(SPEC, _url(mirror)) != first


def test_build_publishes_table_and_provenance(mirror: Path, tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "root")
    built = build_catalog(SPEC, root, _url(mirror), Downloader(fsspec.filesystem("file")))
    table = read_parquet(root.fs, built.path)
    assert list(table["kic"]) == [892376, 1026146] and built.rows == 2
    meta = read_parquet_metadata(root.fs, built.path)
    assert meta["source"] == _url(mirror) and meta["rows"] == 2
    assert meta["content_fingerprint"] == built.fingerprint


def test_a_broken_source_leaves_the_published_table_alone(mirror: Path, tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "root")
    downloader = Downloader(fsspec.filesystem("file"))
    built = build_catalog(SPEC, root, _url(mirror), downloader)
    before = Path(built.path).read_bytes()
    (mirror / SPEC.mirror_path).write_text(ROWS.replace("Prot,", "Period,"))
    with pytest.raises(CatalogReadError, match="Prot"):
        build_catalog(SPEC, root, _url(mirror), downloader)
    assert Path(built.path).read_bytes() == before
