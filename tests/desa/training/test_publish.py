"""Publishing a trained model: the best checkpoint copied whole, its checkpoints removed."""

from __future__ import annotations

import torch

from desa.training.checkpoints import read_checkpoint, weights_fingerprint
from desa.training.fit import FitResult
from desa.training.publish import publish_model, published
from storage.layout import DataRoot


def _checkpoint(weight: float, identity: dict) -> dict:
    return {"state_dict": {"model.w": torch.full((2,), weight)}, "desa": {"identity": identity}}


def _fit(root: DataRoot, job: str, checkpoint: dict) -> FitResult:
    best = root.local_path("checkpoints", job, "abc", "best.ckpt")
    best.parent.mkdir(parents=True)
    torch.save(checkpoint, best)
    return FitResult(str(best), [{"epoch": 0, "train_loss": 1.0, "val_loss": 1.0}], None)


def test_a_published_model_is_the_best_checkpoint_and_its_checkpoints_go(tmp_path) -> None:
    root = DataRoot(tmp_path)
    checkpoint = _checkpoint(1.0, {"name": "baselines/moco"})
    result = _fit(root, "baselines/moco", checkpoint)
    (root.local_path("checkpoints", "train-spectra")).mkdir()
    dest = root.path("models", "baselines", "moco.ckpt")
    fingerprint = publish_model(root, result, dest, "checkpoints/baselines/moco")
    assert fingerprint == weights_fingerprint(checkpoint)
    assert weights_fingerprint(read_checkpoint(root.fs, dest)) == fingerprint
    # the empty folder of the model set goes, the checkpoints folder itself stays
    assert sorted(p.name for p in root.local_path("checkpoints").iterdir()) == ["train-spectra"]


def test_a_published_model_is_kept_only_with_the_same_identity(tmp_path) -> None:
    root = DataRoot(tmp_path)
    path = root.path("models", "m.ckpt")
    assert published(root.fs, path, {"n": 1}) is None
    root.makedirs("models")
    root.local_path("models", "m.ckpt").write_bytes(b"half-written")
    assert published(root.fs, path, {"n": 1}) is None
    checkpoint = _checkpoint(2.0, {"n": 1})
    torch.save(checkpoint, path)
    assert published(root.fs, path, {"n": 1}) == weights_fingerprint(checkpoint)
    assert published(root.fs, path, {"n": 2}) is None
