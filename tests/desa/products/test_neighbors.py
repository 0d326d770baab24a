"""Nearest stars in embedding space on a constructed case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from desa.products.neighbors import nearest, neighbors_of

STARS = pd.DataFrame({"kic": [10, 20, 30, 40]})
VALUES = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [10.0, 10.0]])


def test_neighbors_of_a_star_are_sorted_by_distance_and_exclude_it() -> None:
    found = neighbors_of(10, STARS, VALUES, 2)
    assert found["kic"].tolist() == [20, 30]
    assert found["distance"].tolist() == pytest.approx([1.0, 3.0])
    with pytest.raises(KeyError, match="KIC 99"):
        neighbors_of(99, STARS, VALUES, 2)


def test_nearest_for_every_row() -> None:
    indices, distances = nearest(VALUES, 1)
    assert indices[:, 0].tolist() == [1, 0, 0, 2]
    assert distances[:, 0] == pytest.approx([1.0, 1.0, 3.0, np.hypot(10, 7)])
