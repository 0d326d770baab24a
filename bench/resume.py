"""Kill a training run with SIGKILL after some epochs, start it again, and see it resume.

The run is the project's own `desa.training.fit` (Lightning, checkpoints every epoch) on
the DualFormer of a profile with synthetic features; the first process kills itself as an
epoch ends, the way a lost machine would, and the second must pick up from ``last.ckpt``:

    python -m bench.resume --profile paper --out resume.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from bench.train import _features
from desa.models.dualformer import DualFormer
from desa.models.profiles import model_configs
from desa.training.config import LoopConfig, TrainingConfig
from desa.training.fit import fit
from desa.training.tasks import DualFormerTask

KILLED = -signal.SIGKILL  # subprocess's return code of a child killed by SIGKILL


class _Rows(Dataset):
    """Row ``i`` of every column, as the training loaders yield them."""

    def __init__(self, columns: dict[str, torch.Tensor]) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.columns.items()}


def _train(
    profile: str, folder: str, epochs: int, kill_after: int | None, device: str
) -> dict[str, Any]:
    cfg = model_configs(profile)
    loop = LoopConfig(max_epochs=epochs, batch_size=16, patience=epochs)
    training = TrainingConfig(accelerator="cpu" if device == "cpu" else "gpu")
    # on CPU memory, moved to the device by Lightning batch by batch
    train = DataLoader(_Rows(_features(cfg, 64, torch.device("cpu"))), batch_size=16)
    val = DataLoader(_Rows(_features(cfg, 32, torch.device("cpu"))), batch_size=16)
    torch.manual_seed(training.seed)
    identity = {"bench": "resume", "profile": profile}
    task = DualFormerTask(
        DualFormer(cfg.dualformer),
        lr=1e-4,
        weight_decay=0.0,
        max_epochs=epochs,
        seed=training.seed,
        identity=identity,
    )

    def on_epoch(done: int, _total: int) -> None:
        if done == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    result = fit(
        task,
        train,
        val,
        name="resume-check",
        checkpoint_dir=folder,
        loop=loop,
        training=training,
        log=lambda line: print(line, flush=True),
        on_epoch=on_epoch,
    )
    return {"resumed_at_epoch": result.resumed_at_epoch, "history": result.history}


def resume_check(profile: str, device: str, epochs: int = 4, kill_after: int = 2) -> dict:
    """Run, kill after ``kill_after`` epochs, rerun; each run in its own process."""
    if not 2 <= kill_after < epochs:  # past one saved epoch, with an epoch left to resume
        raise ValueError(f"kill_after must be in [2, {epochs}); got {kill_after}")
    with tempfile.TemporaryDirectory(prefix="desa-resume-") as folder:
        out = Path(folder) / "result.json"
        base = [sys.executable, "-m", "bench.resume", "--child", "--profile", profile,
                "--device", device, "--epochs", str(epochs), "--folder", f"{folder}/run",
                "--out", str(out)]  # fmt: skip
        start = time.perf_counter()
        first = subprocess.run([*base, "--kill-after", str(kill_after)], check=False)
        killed_s = time.perf_counter() - start
        second = subprocess.run(base, check=False)
        if second.returncode != 0:
            raise RuntimeError(f"the resumed run failed with exit code {second.returncode}")
        resumed = json.loads(out.read_text())
    epochs_seen = [int(row["epoch"]) for row in resumed["history"]]
    return {
        "profile": profile,
        "model": "dualformer",
        "device": device,
        "epochs": epochs,
        "killed_after_epochs": kill_after,
        "first_run_exit_code": first.returncode,
        "first_run_killed": first.returncode == KILLED,
        "first_run_s": killed_s,
        "resumed_at_epoch": resumed["resumed_at_epoch"],
        "epochs_in_history": epochs_seen,
        # the kill lands as epoch `kill_after` ends, before or after its checkpoint is saved
        "ok": first.returncode == KILLED
        and resumed["resumed_at_epoch"] in (kill_after - 1, kill_after)
        and resumed["resumed_at_epoch"] >= 1
        and epochs_seen == list(range(epochs)),
        "val_loss": [row["val_loss"] for row in resumed["history"]],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", choices=("demo", "paper"))
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--kill-after", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = _train(args.profile, args.folder, args.epochs, args.kill_after, args.device)
    else:
        kill_after = 2 if args.kill_after is None else args.kill_after
        result = resume_check(args.profile, args.device, args.epochs, kill_after)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
