"""The training stages' bodies: a model set is published model by model, kept on a rerun
with the same identity, trained again when forced; the progress follows each model."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from desa.training.config import LoopConfig, TrainingConfig
from desa.training.fit import FitResult
from desa.training.runs import Job
from desa.training.stages import job_for, train_each, train_model
from storage import layout
from storage.fingerprint import fingerprint_json
from storage.layout import DataRoot

LOOP = LoopConfig(max_epochs=3)
INPUTS = {"features:store": "f1"}


@dataclass(frozen=True)
class Config:
    width: int


class Bars:
    """A progress factory that records what each bar was opened for and reached."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, str, int, str | None]] = []
        self.reached: list[int] = []

    def __call__(self, stage: str, unit: str, total: int, label: str | None) -> Bars:
        self.opened.append((stage, unit, total, label))
        return self

    def update(self, done: int, total: int | None = None) -> None:
        self.reached.append(done)

    def close(self, completed: bool = True) -> None:
        pass

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _trainer(root: DataRoot, weight: float, trained: list[str], identity: dict):
    def train(job: Job) -> tuple[FitResult, dict]:
        trained.append(job.name)
        job.on_epoch(1, LOOP.max_epochs)
        best = root.local_path(layout.checkpoints(job.name), "run", "best.ckpt")
        best.parent.mkdir(parents=True)
        checkpoint = {
            "state_dict": {"model.w": torch.full((2,), weight)},
            "desa": {"identity": job.identity(**identity)},
        }
        torch.save(checkpoint, best)
        history = [{"epoch": 0, "train_loss": 2.0, "val_loss": 1.5}]
        return FitResult(str(best), history, None), {"loss": 0.1234567}

    return train


def test_a_job_checkpoints_under_its_name_and_knows_the_inputs(tmp_path) -> None:
    root = DataRoot(tmp_path)
    job = job_for(root, "dualformer/desa", TrainingConfig(), LOOP, INPUTS)
    assert job.checkpoints == str(tmp_path / "checkpoints" / "dualformer" / "desa")
    assert job.data == fingerprint_json(INPUTS) and job.on_epoch is None


def test_a_stage_model_is_published_as_its_product(tmp_path) -> None:
    root, bars, trained = DataRoot(tmp_path), Bars(), []
    identity = {"config": Config(4)}
    train = _trainer(root, 1.0, trained, identity)
    result = train_model(
        root, layout.SPECTRA_MODEL, TrainingConfig(), LOOP, INPUTS, train, bars, print
    )
    assert trained == ["train-spectra"]
    assert result.paths == {"model": root.of(layout.SPECTRA_MODEL)}
    assert root.fs.exists(root.of(layout.SPECTRA_MODEL))
    assert not root.fs.exists(root.path(layout.checkpoints("train-spectra")))
    assert result.summary["loss"] == 0.123457 and result.summary["epochs"] == 1
    assert bars.opened == [("train-spectra", "epochs", 3, None)] and bars.reached == [1]


def test_a_model_set_keeps_what_is_published_unless_forced(tmp_path) -> None:
    root, bars, trained = DataRoot(tmp_path), Bars(), []
    identities = {"desa": {"config": Config(4)}, "desa_no_priors": {"config": Config(2)}}

    def models(weight: float) -> dict:
        return {
            name: (identity, _trainer(root, weight, trained, identity))
            for name, identity in identities.items()
        }

    def run(weight: float, force: bool = False):
        return train_each(
            root,
            "train-dualformer",
            "dualformer",
            TrainingConfig(),
            LOOP,
            INPUTS,
            models(weight),
            bars,
            print,
            force=force,
        )

    first = run(1.0)
    assert trained == ["dualformer/desa", "dualformer/desa_no_priors"]
    assert first.paths["desa"] == root.path("models", "dualformer", "desa.ckpt")
    assert set(first.outputs) == {"desa", "desa_no_priors", "models"}
    assert [label for *_, label in bars.opened] == ["desa", "desa_no_priors"]
    assert {row["model"] for row in first.rows} == {"desa", "desa_no_priors"}
    assert not root.fs.exists(root.path("checkpoints", "dualformer"))

    kept = run(2.0)
    assert len(trained) == 2 and kept.summary == {"desa": "kept", "desa_no_priors": "kept"}
    assert kept.outputs == first.outputs

    forced = run(2.0, force=True)
    assert len(trained) == 4 and forced.outputs["desa"] != first.outputs["desa"]
