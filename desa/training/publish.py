"""Trained models under the data root: publish a run's best checkpoint, find a kept one.

A finished model is published atomically to ``models/`` as its complete best checkpoint and
its checkpoint folder is removed; a published model is kept while its identity stays the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import fsspec

from desa.training.checkpoints import CheckpointError, read_checkpoint, weights_fingerprint
from storage import layout
from storage.layout import DataRoot
from storage.publish import publishing

if TYPE_CHECKING:
    from desa.training.fit import FitResult


def publish_model(root: DataRoot, result: FitResult, dest: str, checkpoints: str) -> str:
    """Copy the best checkpoint to ``dest`` atomically, drop the ``checkpoints`` folder (under
    the root); the weights' fingerprint."""
    fs = root.fs
    best = fsspec.core.url_to_fs(result.best_path)[1]  # under the data root, like ``dest``
    checkpoint = read_checkpoint(fs, best)
    with publishing(fs, dest) as tmp:
        fs.copy(best, tmp)  # a paper checkpoint is GBs: copied, not held in memory twice
    drop_checkpoints(root, checkpoints)
    return weights_fingerprint(checkpoint)


def drop_checkpoints(root: DataRoot, checkpoints: str) -> None:
    """Remove a published model's ``checkpoints`` folder (under the root), if any: a run killed
    between publishing the model and this leaves it for the next run to remove."""
    fs, folder = root.fs, root.path(checkpoints)
    if not fs.exists(folder):
        return
    fs.rm(folder, recursive=True)
    parent = folder.rpartition("/")[0]
    if parent != root.path(layout.CHECKPOINTS) and not fs.ls(parent):
        fs.rm(parent, recursive=True)  # e.g. checkpoints/baselines/ once its last model is out


def published(fs: fsspec.AbstractFileSystem, path: str, identity: dict) -> str | None:
    """Fingerprint of a published model with exactly ``identity``, else None."""
    if not fs.exists(path):
        return None
    try:
        checkpoint = read_checkpoint(fs, path)
    except CheckpointError:
        return None
    return weights_fingerprint(checkpoint) if checkpoint["desa"]["identity"] == identity else None
