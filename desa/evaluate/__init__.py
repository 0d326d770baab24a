"""Evaluation metrics of DESA embeddings and heads (paper §6; desa_reference.md §11).

Plain functions on arrays (numpy, scipy, scikit-learn); no orchestration here.
"""

from desa.evaluate.classification import binary_metrics, regression_metrics
from desa.evaluate.consistency import distance_summary, pair_distances
from desa.evaluate.fast_rotators import fast_rotator_sides
from desa.evaluate.few_shot import few_shot, r2_per_target, within_relative_error
from desa.evaluate.zero_shot import matched_accuracy, purity, zero_shot

__all__ = [
    "binary_metrics",
    "distance_summary",
    "fast_rotator_sides",
    "few_shot",
    "matched_accuracy",
    "pair_distances",
    "purity",
    "r2_per_target",
    "regression_metrics",
    "within_relative_error",
    "zero_shot",
]
