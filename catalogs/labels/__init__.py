"""Labels and star-level splits for the DESA tasks (issue 3, "labels").

``star_ids`` gives spectra and light curves one star identity; ``build_labels`` turns the
normalised catalogs into the task tables of ``LABEL_TABLES``, each with ``star_id`` and
``split``; ``LabelConfig`` holds every source precedence and cut, with its citation.

The names load with their module on first use, so that `flows.settings` (which needs only
``catalogs.labels.config``) does not import pandas for every `desa` command.
"""

from importlib import import_module
from typing import Any

_MODULE_OF = {
    "LABEL_TABLES": "build",
    "LabelConfig": "config",
    "StarIds": "identity",
    "ages": "build",
    "binary_labels": "binary",
    "build_labels": "build",
    "main_sequence": "build",
    "nearest_gaia_rows": "identity",
    "rotation_periods": "build",
    "star_ids": "identity",
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
