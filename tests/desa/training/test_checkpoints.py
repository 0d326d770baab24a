"""Checkpoints: missing, unreadable, another identity, weight fingerprints."""

from __future__ import annotations

import fsspec
import pytest
import torch

from desa.models.heads import BinaryHead, HeadConfig
from desa.training.checkpoints import (
    CheckpointError,
    check_identity,
    model_state,
    read_checkpoint,
    weights_fingerprint,
)
from desa.training.runs import load_trained

FS = fsspec.filesystem("file")


def _checkpoint(weight: float, identity: dict) -> dict:
    return {
        "state_dict": {"model.w": torch.full((2,), weight), "other": torch.zeros(1)},
        "desa": {"identity": identity, "rng": {}},
    }


def test_missing_garbage_and_foreign_files_are_clear_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(FS, str(tmp_path / "none.ckpt"))
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable"):
        read_checkpoint(FS, str(tmp_path / "bad.ckpt"))
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match="not a DESA training checkpoint"):
        read_checkpoint(FS, str(tmp_path / "foreign.ckpt"))


def test_identity_mismatch_names_the_fields() -> None:
    checkpoint = _checkpoint(1.0, {"config": {"width": 8, "depth": 2}, "data": "abc"})
    check_identity(checkpoint, {"config": {"width": 8, "depth": 2}, "data": "abc"}, "x.ckpt")
    with pytest.raises(CheckpointError, match=r"x\.ckpt: .*config\.width, data"):
        check_identity(checkpoint, {"config": {"width": 4, "depth": 2}, "data": "d"}, "x.ckpt")


def test_model_state_and_fingerprint_follow_the_weights_only() -> None:
    a, b = _checkpoint(1.0, {"n": 1}), _checkpoint(2.0, {"n": 1})
    assert list(model_state(a)) == ["w"]
    assert weights_fingerprint(a) == weights_fingerprint(_checkpoint(1.0, {"n": 1}))
    assert weights_fingerprint(a) != weights_fingerprint(b)
    assert weights_fingerprint(a) != weights_fingerprint(_checkpoint(1.0, {"n": 2}))


def test_load_trained_refuses_a_model_of_another_config(tmp_path) -> None:
    config = HeadConfig(in_dim=4, hidden=8)
    head = BinaryHead(config)
    identity = {
        "config": {"in_dim": 4, "hidden": 8, "dropout": 0.1, "quantiles": [0.14, 0.5, 0.86]}
    }
    state = {f"model.{k}": v for k, v in head.state_dict().items()}
    torch.save({"state_dict": state, "desa": {"identity": identity}}, tmp_path / "m.ckpt")
    loaded = load_trained(str(tmp_path / "m.ckpt"), BinaryHead(config), config)
    assert torch.equal(loaded.net[0].weight, head.net[0].weight)
    other = HeadConfig(in_dim=4, hidden=16)
    with pytest.raises(CheckpointError, match=r"another model config .*hidden"):
        load_trained(str(tmp_path / "m.ckpt"), BinaryHead(other), other)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_trained(str(tmp_path / "missing.ckpt"), BinaryHead(config), config)
