"""Stage `crossmatch`: LAMOST spectra to Kepler stars (LK link, Gaia id, then position)."""

from __future__ import annotations

from flows.stage import StageDef
from flows.stages.lazy_task import LazyTask
from storage import layout

crossmatch_task = LazyTask("catalogs.crossmatch:write_crossmatch", name="crossmatch")

STAGE = StageDef(
    name="crossmatch",
    version="1",
    writes=(layout.CROSSMATCH.relpath,),
    reads=(layout.LAMOST_CATALOG, layout.KEPLER_GAIA),
    config=lambda s: s.crossmatch.model_dump(),
    body=lambda ctx: crossmatch_task(ctx.root, ctx.settings.crossmatch.radius_arcsec),
    description="Match LAMOST spectra to Kepler stars.",
)
