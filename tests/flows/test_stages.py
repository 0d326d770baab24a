"""The stage list: every stage reads only outputs of stages before it."""

from __future__ import annotations

from flows.stages import STAGES, stages_for


def test_every_stage_reads_from_earlier_stages_only() -> None:
    seen: set[str] = set()
    for stage in STAGES:
        late = [upstream for upstream in stage.upstream if upstream not in seen]
        assert not late, f"{stage.name} reads {late}, which run after it"
        seen.add(stage.name)


def test_until_stops_after_the_named_stage() -> None:
    names = [s.name for s in stages_for("demo", "labels")]
    assert names[-1] == "labels" and "train-spectra" not in names
    assert [s.name for s in stages_for("demo")][-1] == "report"
