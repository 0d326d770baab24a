"""`desa bench products` on a small N: the structure of what it measures."""

from __future__ import annotations

from bench.products import products_benchmark
from flows.settings import Settings


def test_products_benchmark_measures_both_sizes() -> None:
    result = products_benchmark(Settings(profile="demo").comparison(), n=60)
    assert result["n"] == 60 and result["embedding_dim"] > 0
    for key in (
        "embed_pairs_per_s_n",
        "embed_pairs_per_s_4n",
        "umap_fit_s_n",
        "umap_fit_s_4n",
        "umap_transform_s_n",
        "umap_transform_s_4n",
    ):
        assert result[key] > 0, key
    assert result["umap_fit_ratio_4n_vs_n"] == result["umap_fit_s_4n"] / result["umap_fit_s_n"]
