"""Evaluation metrics of DESA embeddings and heads (paper §6; desa_reference.md §11).

The metrics are plain functions on arrays (numpy, scipy, scikit-learn);
`desa.evaluate.comparison` runs them for every compared model on the same stars.
"""

from desa.evaluate.bootstrap import (
    Scored,
    bootstrap_interval,
    paired_difference,
    paired_verdict,
    scored,
)
from desa.evaluate.classification import (
    auc_score,
    average_precision,
    binary_metrics,
    regression_metrics,
)
from desa.evaluate.consistency import (
    distance_summary,
    pair_distances,
    pair_star_ids,
    random_pair_median,
)
from desa.evaluate.fast_rotators import fast_rotator_sides, velocity_dispersion
from desa.evaluate.few_shot import (
    few_shot,
    r2_per_target,
    within_absolute_error,
    within_relative_error,
)
from desa.evaluate.zero_shot import (
    adjusted_rand,
    in_cmd_sample,
    matched_accuracy,
    purity,
    zero_shot,
)

__all__ = [
    "Scored",
    "adjusted_rand",
    "auc_score",
    "average_precision",
    "binary_metrics",
    "bootstrap_interval",
    "distance_summary",
    "fast_rotator_sides",
    "few_shot",
    "in_cmd_sample",
    "matched_accuracy",
    "pair_distances",
    "pair_star_ids",
    "paired_difference",
    "paired_verdict",
    "purity",
    "r2_per_target",
    "random_pair_median",
    "regression_metrics",
    "scored",
    "velocity_dispersion",
    "within_absolute_error",
    "within_relative_error",
    "zero_shot",
]
