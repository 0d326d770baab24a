"""Complete checkpoints: read, check against the run that wants them, fingerprint.

A checkpoint is Lightning's dict (``state_dict``, ``optimizer_states``, ``lr_schedulers``,
``global_step``, ``epoch``, loop and callback states) plus ``"desa"``: the identity of the
run (model config, training settings, data fingerprint) and the RNG state.
"""

from __future__ import annotations

import hashlib
from typing import Any

import fsspec
import torch

from storage.fingerprint import fingerprint_json


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or belongs to another configuration."""


def read_checkpoint(fs: fsspec.AbstractFileSystem, path: str) -> dict[str, Any]:
    if not fs.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with fs.open(path, "rb") as handle:
            checkpoint = torch.load(handle, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from exc
    if "desa" not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a DESA training checkpoint")
    return checkpoint


def differences(found: Any, wanted: Any, prefix: str = "") -> list[str]:
    """Dotted names of the fields where two nested dicts differ (e.g. ``config.width``)."""
    if isinstance(found, dict) and isinstance(wanted, dict):
        return [
            diff
            for key in sorted(found.keys() | wanted.keys())
            for diff in differences(found.get(key), wanted.get(key), f"{prefix}{key}.")
        ]
    return [] if found == wanted else [prefix.rstrip(".")]


def check_identity(checkpoint: dict[str, Any], wanted: dict[str, Any], path: str) -> None:
    """Raise unless the checkpoint was made by a run with identity ``wanted``."""
    found = checkpoint["desa"]["identity"]
    if found != wanted:
        fields = ", ".join(differences(found, wanted)[:8])
        raise CheckpointError(f"{path}: made with another configuration or data ({fields})")


def model_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The plain module's weights (the task wraps the module as ``model``)."""
    prefix = "model."
    state = checkpoint["state_dict"]
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def weights_fingerprint(checkpoint: dict[str, Any]) -> str:
    """Content fingerprint of a trained model: its identity and the bytes of its weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model_state(checkpoint).items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return fingerprint_json(
        {"identity": checkpoint["desa"]["identity"], "weights": digest.hexdigest()}
    )
