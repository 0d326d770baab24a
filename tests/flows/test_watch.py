"""watch-releases: each source now against sources.lock.json, announced once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalogs.refresh import KEPLER_TREE_SOURCE
from flows.settings import Settings
from flows.stages.catalogs import current_sources
from flows.watch import (
    CATALOG,
    RELEASE,
    SourceChange,
    detect_changes,
    seen_path,
    to_announce,
    watch_releases,
)
from storage.layout import DataRoot

MCQUILLAN = "mcquillan2014/Table_1_Periodic.txt"


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root whose sources.lock.json matches a small mirror (dr8, one light curve)."""
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    mirror = tmp_path / "mirror"
    (mirror / "lamost" / "dr8" / "v2.0" / "catalog").mkdir(parents=True)
    target = mirror / "kepler" / "lightcurves" / "0025" / "002556081"
    target.mkdir(parents=True)
    (target / "kplr002556081-2009166043257_llc.fits").write_bytes(b"SIMPLE")
    (mirror / "mcquillan2014").mkdir()
    (mirror / MCQUILLAN).write_text("kepid,Prot\n892376,1.5\n")
    stamps = current_sources(Settings())
    lock = {
        "lamost": {"dr": "dr8", "version": "v2.0"},
        "kepler": {"stamp": stamps[KEPLER_TREE_SOURCE]},
        "catalogs": {
            key.removeprefix("source:"): {"stamp": value}
            for key, value in stamps.items()
            if key != KEPLER_TREE_SOURCE
        },
    }
    (tmp_path / "sources.lock.json").write_text(json.dumps(lock))
    return mirror


def test_nothing_to_report_before_a_build_or_when_the_sources_are_as_built(
    built: Path, tmp_path: Path
) -> None:
    assert detect_changes(Settings()) == []
    (tmp_path / "sources.lock.json").unlink()
    assert detect_changes(Settings()) == []


def test_a_catalog_update_is_a_catalog_event(built: Path) -> None:
    (built / MCQUILLAN).write_text("kepid,Prot\n892376,1.6\n")
    (change,) = detect_changes(Settings())
    assert (change.event, change.source) == (CATALOG, "mcquillan2014")
    assert change.old != change.new and change.followed
    assert change.resource()["prefect.resource.id"] == "desa.catalog.mcquillan2014"


def test_a_new_release_is_one_event_per_survey_and_covers_the_catalogs(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (built / MCQUILLAN).write_text("kepid,Prot\n892376,1.6\n")
    (built / "lamost" / "dr9" / "v2.0").mkdir(parents=True)
    new_target = built / "kepler" / "lightcurves" / "0114" / "011442793"
    new_target.mkdir(parents=True)
    (new_target / "kplr011442793-2009166043257_llc.fits").write_bytes(b"SIMPLE")
    changes = detect_changes(Settings())  # the demo profile follows the newest release
    assert [(c.event, c.source) for c in changes] == [(RELEASE, "lamost"), (RELEASE, "kepler")]
    assert (changes[0].old, changes[0].new) == ("dr8/v2.0", "dr9/v2.0")
    assert changes[0].resource()["prefect.resource.id"] == "desa.source.lamost"

    monkeypatch.setenv("DESA_ARCHIVE__LAMOST_DR", "dr8")  # pinned: reported, not followed
    changes = detect_changes(Settings())
    assert changes[0] == SourceChange(RELEASE, "lamost", "dr8/v2.0", "dr9/v2.0", followed=False)
    assert {c.source for c in changes[1:]} == {"kepler"}


def test_a_change_is_announced_once() -> None:
    change = SourceChange(RELEASE, "lamost", "dr8/v2.0", "dr9/v2.0")
    pinned = SourceChange(RELEASE, "lamost", "dr8/v2.0", "dr9/v2.0", followed=False)
    assert to_announce([change], {}) == [change]
    assert to_announce([change], {"lamost": "dr9/v2.0"}) == []
    assert to_announce([change], {"lamost": "dr8/v2.0"}) == [change]
    assert to_announce([pinned], {}) == []


def test_the_flow_announces_records_and_does_not_repeat(built: Path, tmp_path: Path) -> None:
    (built / MCQUILLAN).write_text("kepid,Prot\n892376,1.6\n")
    first = watch_releases()
    assert [(r["source"], r["status"]) for r in first] == [("mcquillan2014", "announced")]
    seen = json.loads(Path(seen_path(DataRoot(tmp_path))).read_text())
    assert seen == {"mcquillan2014": first[0]["new"]}
    again = watch_releases()
    assert [(r["source"], r["status"]) for r in again] == [("mcquillan2014", "announced before")]


def test_desa_watch_without_a_server_reports_and_announces_nothing(
    built: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    assert (
        "every source is as the data root was built from"
        in CliRunner().invoke(app, ["watch"]).output
    )
    (built / MCQUILLAN).write_text("kepid,Prot\n892376,1.6\n")
    result = CliRunner().invoke(app, ["watch"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "mcquillan2014" in result.output and "desa rebuild" in result.output
    assert not Path(seen_path(DataRoot(tmp_path))).exists()
