"""A built demo data root copied elsewhere (its original deleted) is up to date where it stands.

The module builds one small root up to `labels`, copies it and deletes the original; the tests
then read only the copy, in file order.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import xarray as xr

from flows.clients import load_settings
from flows.pipeline import STAGE_FLOWS, rebuild
from flows.stage import StageContext, plan
from flows.stages import stages_for
from storage import layout
from storage.layout import DataRoot
from storage.manifest import read_manifest
from storage.state import read_state

pytestmark = pytest.mark.slow(seconds=75)  # on the 2-core machine
UNTIL = "labels"


def _use_root(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("DESA_DATA_ROOT", str(root))
    monkeypatch.setenv("DESA_SKY__N_STARS", "20")
    monkeypatch.setenv("DESA_SKY__SEED", "11")
    monkeypatch.setenv("DESA_SKY__WORKERS", "1")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(where the root was built, now gone; where its copy is)."""
    base = tmp_path_factory.mktemp("moved")
    original, copy = base / "original", base / "elsewhere" / "copy"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _use_root(monkeypatch, original)
        rebuild(until=UNTIL)
    shutil.copytree(original, copy, symlinks=True)
    shutil.rmtree(original)
    return original, copy


@pytest.fixture(autouse=True)
def moved_root(monkeypatch: pytest.MonkeyPatch, roots: tuple[Path, Path]) -> DataRoot:
    _use_root(monkeypatch, roots[1])
    return DataRoot(roots[1])


def test_every_stage_of_the_copy_is_up_to_date(moved_root: DataRoot) -> None:
    settings = load_settings()
    planned = plan(stages_for(settings.profile, UNTIL), StageContext(settings, moved_root))
    assert [(f.stage, f.reason) for f in planned if not f.fresh] == []
    assert len(planned) == 8
    assert [r["stage"] for r in rebuild(until=UNTIL) if r["ran"]] == []


def test_nothing_under_the_copy_names_the_old_root(
    moved_root: DataRoot, roots: tuple[Path, Path]
) -> None:
    old = str(roots[0]).encode()
    files = [p for p in Path(moved_root.root).rglob("*") if p.is_file()]
    assert len(files) > 100  # the mirror, raw files, stores, records
    assert [str(p) for p in files if old in p.read_bytes()] == []
    assert not [p for p in files if str(roots[1]).encode() in p.read_bytes()]  # nor the new one


def test_preprocessing_reads_the_fetched_files_of_the_copy(
    moved_root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = read_manifest(moved_root.fs, moved_root.of(layout.FETCHED_SPECTRA))
    assert (fetched["status"] == "ok").all() and len(fetched) > 10
    assert not any(p.startswith("/") for p in fetched["path"])
    # Another recipe redoes every spectrum: each is read again from the fetched files.
    monkeypatch.setenv("DESA_SPECTRA__MASK_BAD_PIXELS_BEFORE_FIT", "true")
    assert STAGE_FLOWS["spectra"]()["ran"]
    summary = read_state(moved_root.fs, moved_root.state_path("spectra")).summary
    assert summary["processed"] == summary["ok"] == len(fetched)
    assert summary["quarantined"] == 0
    store = xr.open_zarr(moved_root.url_of(layout.SPECTRA))
    assert sorted(store.obsid.values) == sorted(fetched["key"].astype("int64"))
