"""A small data root for the product stages: an embeddings store and the star labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from desa.products.embeddings import star_embeddings, write_embeddings
from storage import layout
from storage.layout import DataRoot
from storage.tables import write_parquet


def write_embeddings_store(root: DataRoot, n_stars: int, models: tuple[str, ...]) -> None:
    """``n_stars`` stars (kic 1000...) with one pair each, in three clusters, every fifth
    a test star; each model's embedding is the same 6-d points scaled."""
    rng = np.random.default_rng(0)
    kic = np.arange(1000, 1000 + n_stars)
    pairs = pd.DataFrame(
        {
            "obsid": kic * 10,
            "kic": kic,
            "star_id": [f"s{k}" for k in kic],
            "split": np.where(np.arange(n_stars) % 5 == 0, "test", "train"),
        }
    )
    centres = rng.normal(size=(3, 6)) * 5
    x = centres[np.arange(n_stars) % 3] + rng.normal(size=(n_stars, 6))
    values = {m: (x * (i + 1)).astype("f4") for i, m in enumerate(models)}
    stars, star_values = star_embeddings(pairs, values)
    attrs = {"models": list(models), "binary_only": [], "model_keys": {m: m for m in models}}
    write_embeddings(root.url_of(layout.EMBEDDINGS), pairs, values, stars, star_values, attrs)


def write_star_labels(root: DataRoot) -> None:
    """Labels of kic 1000 (two pairs) and 1001; a CMD class for 1000 and 1002 only."""
    pairs = pd.DataFrame(
        {
            "kic": [1000, 1000, 1001],
            "teff": [5000.0, 5200.0, 6000.0],
            "logg": [4.4, 4.6, 4.0],
            "feh": [0.0, 0.2, -0.5],
            "prot": [10.0, 12.0, np.nan],
        }
    )
    cmd = pd.DataFrame({"kic": [1000, 1002], "cmd_class": ["main_sequence", "giant"]})
    write_parquet(pairs, root.fs, root.of(layout.labels("pairs")))
    write_parquet(cmd, root.fs, root.of(layout.labels("cmd")))
