"""The labels stage: read the catalogs and the stores' row manifests, write every label table."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from catalogs.labels.build import LABEL_TABLES, build_labels
from catalogs.labels.config import LabelConfig
from storage import layout
from storage.fingerprint import fingerprint_frame
from storage.layout import DataRoot
from storage.state import StageResult
from storage.tables import read_parquet, write_parquet


def _ok_keys(root: DataRoot, row_manifest: str, column: str) -> pd.DataFrame:
    rows = read_parquet(root.fs, root.path(row_manifest))
    return pd.DataFrame({column: rows.loc[rows["status"] == "ok", "key"].astype("int64")})


def write_labels(root: DataRoot, catalogs: Iterable[str], config: LabelConfig) -> StageResult:
    """Build ``LABEL_TABLES`` from the named catalogs, the crossmatch, and the objects the
    spectra and light-curve stores hold."""
    tables = {name: read_parquet(root.fs, root.of(layout.catalog(name))) for name in catalogs}
    built = build_labels(
        tables,
        read_parquet(root.fs, root.of(layout.CROSSMATCH)),
        _ok_keys(root, layout.SPECTRA_ROWS, "obsid"),
        _ok_keys(root, layout.LIGHTCURVE_ROWS, "kic"),
        config,
    )
    outputs, paths, rows = {}, {}, []
    for name in LABEL_TABLES:
        frame = built[name]
        path = root.of(layout.labels(name))
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
