"""Does a bf16-autocast training step give the fp32 loss? One batch per model, both ways.

Each model's loss is computed twice on the same weights, batch and RNG seed: in full fp32
(TF32 off, so the reference really is fp32) and under bf16 autocast, as the training stages
run on CUDA. The models are in eval mode so that dropout draws no random masks, which could
differ between the two kernels; the tasks' own random masks and crops come from the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import torch

from bench.train import CASES
from desa.models.profiles import model_configs
from desa.training.config import TrainingConfig

# bf16 keeps 8 significant bits (relative rounding 2^-9 ~ 0.2%); a loss summed over a deep
# network's rounded activations drifts by a few of those, so 2% is a loose but telling bound
# (a dtype bug, e.g. a softmax or variance in bf16, moves it by far more).
RELATIVE_TOLERANCE = 0.02


@contextmanager
def _full_fp32() -> Any:
    """Turn TF32 off (cuDNN convolutions use it by default) for the fp32 reference."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _loss(case: Any, device: torch.device, bf16: bool) -> float:
    torch.manual_seed(0)  # the same masks and crops both times (seeds CUDA too)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        return float(case.loss())


def bf16_agreement(
    profile: str,
    training: TrainingConfig,
    *,
    batch_size: int,
    device: str | torch.device,
    models: Sequence[str] = ("spectra", "lightcurves", "dualformer"),
    tolerance: float = RELATIVE_TOLERANCE,
) -> dict[str, Any]:
    """Per model: the fp32 and bf16-autocast losses of one batch and their relative gap."""
    dev = torch.device(device)
    rows: list[dict[str, Any]] = []
    for model in models:
        build, _ = CASES[model]
        case = build(model_configs(profile), training, batch_size, dev)
        case.task.eval()
        with _full_fp32():
            fp32 = _loss(case, dev, bf16=False)
        bf16 = _loss(case, dev, bf16=True)
        gap = abs(bf16 - fp32) / max(abs(fp32), 1e-12)
        rows.append(
            {
                "model": model,
                "loss_fp32": fp32,
                "loss_bf16": bf16,
                "relative_gap": gap,
                "agrees": gap <= tolerance,
            }
        )
        del case
    return {
        "profile": profile,
        "device": str(dev),
        "batch_size": batch_size,
        "tolerance": tolerance,
        "ok": all(r["agrees"] for r in rows),
        "models": rows,
    }
