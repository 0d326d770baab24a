"""A few DDP training steps of one model, run under `torchrun` (one process per GPU).

    torchrun --standalone --nproc_per_node=1 -m bench.ddp --profile paper --out ddp.json

NCCL on CUDA (each rank on its LOCAL_RANK's GPU), gloo on a CPU. Rank 0 writes the steps'
losses and times; every rank checks that its weights equal rank 0's after the steps (DDP
averages the gradients, so they must).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from bench.train import CASES
from desa.models.profiles import model_configs
from desa.training.config import TrainingConfig


class _StepLoss(nn.Module):
    """The task's loss as a module's forward: DDP syncs gradients only of what forward ran."""

    def __init__(self, case: Any) -> None:
        super().__init__()
        self.task, self.batch = case.task, case.batch

    def forward(self) -> torch.Tensor:
        return self.task.batch_loss(self.batch)["loss"]


def _weights_match_rank0(module: nn.Module) -> bool:
    flat = torch.cat([p.detach().float().flatten() for p in module.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    return bool(torch.equal(flat, reference))


def run(profile: str, model: str, steps: int, batch_size: int, device: str | None) -> dict:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", 0))
    cuda = device != "cpu" and torch.cuda.is_available()
    dev = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        build, _ = CASES[model]
        torch.manual_seed(0)  # the same initial weights on every rank
        wrapped = _StepLoss(build(model_configs(profile), TrainingConfig(), batch_size, dev))
        ddp = DistributedDataParallel(wrapped, device_ids=[local] if cuda else None)
        optimizer = torch.optim.AdamW([p for p in ddp.parameters() if p.requires_grad], lr=1e-5)
        losses, seconds = [], []
        for _ in range(steps):
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
                loss = ddp()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))  # waits for the step (a device sync)
            seconds.append(time.perf_counter() - start)
        in_step = _weights_match_rank0(wrapped)
        return {
            "profile": profile,
            "model": model,
            "backend": dist.get_backend(),
            "world_size": world,
            "rank": rank,
            "device": str(dev),
            "batch_size_per_rank": batch_size,
            "steps": steps,
            "losses": losses,
            "seconds_per_step": seconds,
            "finite": all(math.isfinite(v) for v in losses),
            "weights_match_rank0": in_step,
        }
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", choices=("demo", "paper"))
    parser.add_argument("--model", default="spectra", choices=list(CASES))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run(args.profile, args.model, args.steps, args.batch_size, args.device)
    if result["rank"] == 0:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
