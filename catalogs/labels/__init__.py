"""Labels and star-level splits for the DESA tasks (issue 3, "labels").

``star_ids`` gives spectra and light curves one star identity; ``build_labels`` turns the
normalised catalogs into the task tables of ``LABEL_TABLES``, each with ``star_id`` and
``split``; ``LabelConfig`` holds every source precedence and cut, with its citation.
"""

from catalogs.labels.binary import binary_labels
from catalogs.labels.build import LABEL_TABLES, ages, build_labels, main_sequence, rotation_periods
from catalogs.labels.config import LabelConfig
from catalogs.labels.identity import StarIds, nearest_gaia_rows, star_ids

__all__ = [
    "LABEL_TABLES",
    "LabelConfig",
    "StarIds",
    "ages",
    "binary_labels",
    "build_labels",
    "main_sequence",
    "nearest_gaia_rows",
    "rotation_periods",
    "star_ids",
]
