"""Per-star embeddings average a star's pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from desa.products.embeddings import star_embeddings


def test_a_star_with_two_spectra_gets_their_mean() -> None:
    pairs = pd.DataFrame(
        {
            "obsid": [1, 2, 3],
            "kic": [20, 10, 20],
            "star_id": ["b", "a", "b"],
            "split": ["test", "train", "test"],
        }
    )
    values = {"desa": np.array([[1.0, 2.0], [5.0, 5.0], [3.0, 6.0]], "f4")}
    stars, means = star_embeddings(pairs, values)
    assert stars["kic"].tolist() == [10, 20]
    assert stars["n_spectra"].tolist() == [1, 2]
    assert stars["split"].tolist() == ["train", "test"]
    np.testing.assert_allclose(means["desa"], [[5.0, 5.0], [2.0, 4.0]])
