"""Stage `labels`: task tables (Parquet) with star-level splits, from catalogs and stores."""

from __future__ import annotations

from catalogs.labels.config import LABEL_CATALOGS
from flows.stage import StageContext, StageDef
from flows.stages.lazy_task import LazyTask
from storage import layout
from storage.state import read_state

labels_task = LazyTask("catalogs.labels.tables:write_labels", name="build-labels")


def _catalog_inputs(ctx: StageContext) -> dict[str, str]:
    record = read_state(ctx.root.fs, ctx.root.state_path("catalogs"))
    outputs = record.outputs if record else {}
    return {layout.catalog(n).key: outputs[n] for n in LABEL_CATALOGS if n in outputs}


def _catalogs_read(ctx: StageContext) -> list[str]:
    """The catalogs this run's key was made of (those the profile has)."""
    prefix = layout.catalog("").key
    return [key.removeprefix(prefix) for key in ctx.inputs if key.startswith(prefix)]


STAGE = StageDef(
    name="labels",
    version="1",
    writes=(layout.labels("<table>").relpath,),
    reads=(layout.CROSSMATCH, layout.SPECTRA, layout.LIGHTCURVES),
    config=lambda s: s.labels.model_dump(mode="json"),
    body=lambda ctx: labels_task(ctx.root, _catalogs_read(ctx), ctx.settings.labels.config()),
    external_inputs=_catalog_inputs,
    description="Label tables for pretraining, pairs, CMD/HR, binaries, ages, kinematics.",
)
