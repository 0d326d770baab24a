"""Stage `labels`: task tables (Parquet) with star-level splits, from catalogs and stores."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from catalogs.labels import LABEL_TABLES, build_labels
from flows.stage import StageContext, StageDef
from storage import layout
from storage.fingerprint import fingerprint_frame
from storage.state import StageResult, read_state
from storage.tables import read_parquet, write_parquet

NAME = "labels"
# Catalogs the label tables draw on; those a profile does not fetch are simply absent.
LABEL_CATALOGS = (
    "lamost_lrs_stellar",
    "kepler_gaia",
    "berger2020",
    "berger2020_input",
    "godoy_rivera2025",
    "lightpred2025",
    "santos2021",
    "santos2019",
    "mcquillan2014",
    "reinhold2023",
    "lu2024",
    "bouma2024",
    "kamai_perets2025b",
    "chen2021",
    "kepler_eb",
)


def _catalog_inputs(ctx: StageContext) -> dict[str, str]:
    record = read_state(ctx.root.fs, ctx.root.state_path("catalogs"))
    outputs = record.outputs if record else {}
    return {f"catalogs:{n}": outputs[n] for n in LABEL_CATALOGS if n in outputs}


def _ok_keys(ctx: StageContext, manifest: str, column: str) -> pd.DataFrame:
    rows = read_parquet(ctx.root.fs, ctx.root.path(layout.manifest(manifest)))
    return pd.DataFrame({column: rows.loc[rows["status"] == "ok", "key"].astype("int64")})


@task(name="build-labels", cache_policy=NO_CACHE)
def labels_task(ctx: StageContext) -> StageResult:
    root = ctx.root
    names = [key.removeprefix("catalogs:") for key in ctx.inputs if key.startswith("catalogs:")]
    tables = {name: read_parquet(root.fs, root.of(layout.catalog(name))) for name in names}
    built = build_labels(
        tables,
        read_parquet(root.fs, root.of(layout.CROSSMATCH)),
        _ok_keys(ctx, "spectra", "obsid"),
        _ok_keys(ctx, "lightcurves", "kic"),
        ctx.settings.labels.config(),
    )
    outputs, paths, rows = {}, {}, []
    for name in LABEL_TABLES:
        frame = built[name]
        path = root.path("labels", f"{name}.parquet")
        outputs[name] = fingerprint_frame(frame)
        write_parquet(frame, root.fs, path, metadata={"content_fingerprint": outputs[name]})
        paths[name] = path
        counts = frame["split"].value_counts().to_dict()
        rows.append(
            {
                "table": name,
                "rows": len(frame),
                **{s: counts.get(s, 0) for s in ("train", "val", "test")},
            }
        )
    summary = {row["table"]: row["rows"] for row in rows}
    return StageResult(outputs, paths, summary, rows)


STAGE = StageDef(
    name=NAME,
    version="1",
    writes=("labels/<table>.parquet",),
    reads=(layout.CROSSMATCH, layout.SPECTRA, layout.LIGHTCURVES),
    config=lambda s: s.labels.model_dump(mode="json"),
    body=lambda ctx: labels_task(ctx),
    external_inputs=_catalog_inputs,
    description="Label tables for pretraining, pairs, CMD/HR, binaries, ages, kinematics.",
)
