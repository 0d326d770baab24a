"""Stage `crossmatch`: LAMOST spectra to Kepler stars (LK link, Gaia id, then position)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from catalogs.crossmatch import crossmatch
from flows.stage import StageContext, StageDef, StageResult
from storage.fingerprint import fingerprint_frame
from storage.tables import read_parquet, write_parquet

NAME = "crossmatch"
LAMOST, KEPLER = "lamost_lrs_stellar", "kepler_gaia"


@task(name="crossmatch", cache_policy=NO_CACHE)
def crossmatch_task(ctx: StageContext) -> StageResult:
    root = ctx.root
    lamost = read_parquet(root.fs, root.catalog_path(LAMOST))
    kepler = read_parquet(root.fs, root.catalog_path(KEPLER))
    # Several Gaia rows per kic can exist in the Kepler–Gaia table; positions are the KIC's.
    kepler = kepler.drop_duplicates("kic")
    matches = crossmatch(lamost, kepler, radius_arcsec=ctx.settings.crossmatch.radius_arcsec)
    fingerprint = fingerprint_frame(matches)
    path = root.crossmatch_path()
    write_parquet(matches, root.fs, path, metadata={"content_fingerprint": fingerprint})
    by_method = matches["method"].value_counts().to_dict()
    summary = {
        "spectra": len(lamost),
        "matched": len(matches),
        "stars": int(matches["kic"].nunique()),
        "ambiguous": int(matches["ambiguous"].sum()),
        **{f"by_{method}": int(n) for method, n in by_method.items()},
    }
    rows = [{"method": m, "matches": int(n)} for m, n in sorted(by_method.items())]
    return StageResult({"crossmatch": fingerprint}, {"crossmatch": path}, summary, rows)


STAGE = StageDef(
    name=NAME,
    version="1",
    writes=("crossmatch.parquet",),
    reads=(("catalogs", LAMOST), ("catalogs", KEPLER)),
    config=lambda s: s.crossmatch.model_dump(),
    body=lambda ctx: crossmatch_task(ctx),
    description="Match LAMOST spectra to Kepler stars.",
)
