"""Fixtures shared by the flows tests."""

from pathlib import Path

import pytest

from catalogs.labels.config import LABEL_CATALOGS
from flows.clients import load_settings
from flows.stage import StageContext, freshness, plan
from flows.stages import stages_for
from storage import layout
from storage.layout import DataRoot
from storage.state import StageState, write_state


@pytest.fixture
def recorded_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root (DESA_DATA_ROOT) with an up-to-date state record for every stage, each with
    every output some stage reads and the catalogs the labels and evaluate stages may read:
    `desa status` and `desa rebuild` compute every stage's key in full, as on a built root."""
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    settings = load_settings()
    root = DataRoot(settings.data_root)
    stages = stages_for(settings.profile)
    made: dict[str, dict[str, str]] = {stage.name: {} for stage in stages}
    for product in [p for stage in stages for p in stage.reads] + list(layout.APOGEE_INPUTS):
        made[product.stage][product.output] = f"fingerprint of {product.key}"
    made["catalogs"] |= {name: f"fingerprint of {name}" for name in LABEL_CATALOGS}
    for stage in stages:  # in order: a stage's key is made of its upstream records
        now = freshness(stage, StageContext(settings, root))
        record = StageState(
            stage=stage.name,
            key=now.key,
            version=stage.version,
            config=now.config,
            inputs=now.inputs,
            outputs=made[stage.name],
            paths={},
            started_at="",
            finished_at="",
            duration_s=0.0,
        )
        write_state(root.fs, root.state_path(stage.name), record)
    assert all(now.fresh for now in plan(stages, StageContext(settings, root)))
    return tmp_path
