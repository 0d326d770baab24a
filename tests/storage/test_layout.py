"""Paths recorded relative to the data root, and read back against the root where it is now."""

from pathlib import Path

import pytest

from storage.layout import DataRoot


@pytest.fixture
def root(tmp_path: Path) -> DataRoot:
    return DataRoot(tmp_path / "my root")


def test_paths_and_urls_under_the_root_become_relative(root: DataRoot) -> None:
    assert root.relative(root.path("raw", "lamost", "a.fits.gz")) == "raw/lamost/a.fits.gz"
    # Path.as_uri percent-encodes the space (settings.mirror_url makes URLs that way).
    uri = Path(root.path("mirror", "lamost")).as_uri()
    assert "%20" in uri and root.relative(uri) == "mirror/lamost"
    assert root.relative(root.fs.unstrip_protocol(root.path("mirror"))) == "mirror"
    assert root.relative(root.root) == "."


@pytest.mark.parametrize(
    "outside",
    ["https://www.lamost.org/openapi", "vizier:J/ApJS/244/21", "tree", "dr8", ""],
)
def test_anything_else_is_kept(root: DataRoot, outside: str) -> None:
    assert root.relative(outside) == outside


def test_a_sibling_sharing_the_prefix_is_outside(root: DataRoot) -> None:
    sibling = root.root + "2/mirror"
    assert root.relative(sibling) == sibling
    assert root.resolve(sibling) == sibling


def test_a_root_reached_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    root = DataRoot(tmp_path / "link")
    assert root.relative(str(tmp_path / "real" / "mirror")) == "mirror"


def test_resolve_reads_against_the_current_root(root: DataRoot) -> None:
    assert root.resolve("raw/kepler/x.fits") == root.path("raw", "kepler", "x.fits")
    assert root.resolve(".") == root.root
    # A record written before paths were relative holds full paths: read as they are.
    assert root.resolve(root.path("crossmatch.parquet")) == root.path("crossmatch.parquet")
    assert root.resolve(root.relative(root.path("a", "b"))) == root.path("a", "b")


def test_an_object_store_root() -> None:
    root = DataRoot("memory://bucket/desa")
    assert root.relative("memory://bucket/desa/mirror/lamost") == "mirror/lamost"
    assert root.relative(root.path("state", "x.json")) == "state/x.json"
    assert root.resolve("state/x.json") == root.path("state", "x.json")
    assert root.resolve(root.path("state", "x.json")) == root.path("state", "x.json")


def test_portable_rewrites_a_nested_config(root: DataRoot) -> None:
    mirror = Path(root.path("mirror")).as_uri()
    config = {"source": (f"{mirror}/lamost", "tree", "dr8"), "n": 3, "nested": {"m": mirror}}
    assert root.portable(config) == {
        "source": ["mirror/lamost", "tree", "dr8"],
        "n": 3,
        "nested": {"m": "mirror"},
    }
