"""The explorer's data: the DESA map's stars with their labels and nearest stars."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from desa.products.embeddings import read_embeddings
from desa.products.neighbors import nearest
from storage import layout
from storage.layout import DataRoot
from storage.tables import read_parquet


def star_labels(root: DataRoot, columns: Sequence[str]) -> pd.DataFrame:
    """Per kic: the mean of ``columns`` over the star's pairs and its CMD class."""
    pairs = read_parquet(root.fs, root.of(layout.labels("pairs")))
    labels = pairs.groupby("kic")[list(columns)].mean()
    cmd = read_parquet(root.fs, root.of(layout.labels("cmd"))).set_index("kic")["cmd_class"]
    return labels.join(cmd, how="outer")  # a star in either table keeps what it has


def explorer_points(root: DataRoot, k: int) -> tuple[list[dict], dict[int, list[int]]]:
    """The DESA map's stars with their labels, and each star's ``k`` nearest stars in the
    embedding (not in the map)."""
    stars, values, _ = read_embeddings(root.url_of(layout.EMBEDDINGS), "stars")
    maps = read_parquet(root.fs, root.of(layout.MAPS))
    desa = maps[(maps["model"] == "desa") & (maps["level"] == "star")].set_index("kic")
    table = desa[["x", "y"]].join(star_labels(root, ("teff", "logg", "prot"))).reset_index()
    table = table.astype(object).where(table.notna(), None)
    indices, _ = nearest(values["desa"], k)
    kics = stars["kic"].to_numpy()
    neighbors = {
        int(kic): [int(n) for n in kics[row]] for kic, row in zip(kics, indices, strict=True)
    }
    return table.to_dict(orient="records"), neighbors
