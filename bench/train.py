"""`desa bench train`: training throughput of every model per profile, and MFU on CUDA.

Each model takes optimiser steps (forward, backward, AdamW) on synthetic inputs of its real
shapes with the loss its training task optimises (`desa.training.tasks`). The first warm-up
step runs under `FlopCounterMode` to count the FLOPs of one step; the timed steps follow.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from desa.models.baselines import MoCoAligner
from desa.models.dualformer import DualFormer
from desa.models.layers import count_parameters
from desa.models.lightcurves import LightCurveEncoder
from desa.models.profiles import ModelConfigs, model_configs
from desa.models.spectra import SpectraModel
from desa.preprocess.lightcurves import N_CADENCES
from desa.training.config import TrainingConfig
from desa.training.tasks import (
    AlignerTask,
    DualFormerTask,
    LightCurveModel,
    LightCurveTask,
    SpectraTask,
    TrainTask,
)

# Dense (no 2:4 sparsity) bf16 tensor-core peaks, matched in order against the CUDA device name,
# so the PCIe and NVL H100s are tried before the SXM one. NVIDIA data sheets: H100 (SXM 989.4,
# PCIe 756, NVL 835 TFLOP/s; the sheet's 1,979 / 1,513 / 1,671 are "with sparsity", twice the
# dense figure), nvidia.com/en-us/data-center/h100; H200 (989, same tensor cores as the H100
# SXM), nvidia.com/en-us/data-center/h200; A100 (312), nvidia.com/en-us/data-center/a100.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("A100", 312e12),
)
# (warm-up, timed) steps by default: the paper spectra model (523 M parameters) takes
# seconds per step on a CPU even at batch 2.
CPU_STEPS = {"demo": (2, 10), "paper": (1, 2)}
CUDA_STEPS = (3, 20)
CPU_PAPER_BATCH = 2


def _cpu_sdpa_flops(q: Any, k: Any, v: Any, *args: Any, **kwargs: Any) -> int:
    return flop_counter.sdpa_flop_count(q, k, v)


def _cpu_sdpa_backward_flops(grad: Any, q: Any, k: Any, v: Any, *args: Any, **kwargs: Any) -> int:
    return flop_counter.sdpa_backward_flop_count(grad, q, k, v)


# FlopCounterMode knows only the CUDA attention kernels; without these the CPU count would
# miss the attention of the spectra and light-curve Conformers (the DualFormer's attention,
# with dropout, runs as counted matrix products).
_CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}


@dataclass
class _Case:
    """One model's training step: its task (the module AdamW updates) and a batch."""

    task: TrainTask
    batch: dict[str, torch.Tensor]

    def loss(self) -> torch.Tensor:
        return self.task.batch_loss(self.batch)["loss"]


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak FLOP/s of a CUDA device from `PEAK_BF16_FLOPS`; None when unknown."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_FLOPS if key in name), None)


def _random(device: torch.device) -> Callable[..., torch.Tensor]:
    """Standard-normal tensors of a given shape, the same on every run, made on `device`."""
    gen = torch.Generator().manual_seed(0)
    return lambda *shape: torch.randn(*shape, generator=gen).to(device)


_TASK_ARGS = {"lr": 1e-5, "weight_decay": 0.0, "max_epochs": 1, "seed": 0, "identity": {}}


def _spectra(cfg: ModelConfigs, training: TrainingConfig, batch: int, dev: torch.device) -> _Case:
    rand = _random(dev)
    task = SpectraTask(
        SpectraModel(cfg.spectra),
        ssl_weight=training.spectra_ssl_weight,
        mask_rate=training.mask_rate,
        **_TASK_ARGS,
    )
    flux, labels, snr = rand(batch, cfg.spectra.n_pixels), rand(batch, 3), rand(batch).abs()
    return _Case(task.to(dev), {"flux": flux, "labels": labels, "snr": snr})


def _lightcurves(
    cfg: ModelConfigs, training: TrainingConfig, batch: int, dev: torch.device
) -> _Case:
    rand, lc = _random(dev), cfg.lightcurves
    task = LightCurveTask(
        LightCurveModel(LightCurveEncoder(lc)),
        ssl_weight=training.lightcurve_ssl_weight,
        **_TASK_ARGS,
    )
    # the whole Kepler grid, as the store holds it; each step crops two random windows
    flux = 1.0 + 0.01 * rand(batch, max(N_CADENCES, lc.crop_length))
    return _Case(task.to(dev), {"flux": flux, "prot": 1.0 + 49.0 * rand(batch).abs()})


def _features(cfg: ModelConfigs, batch: int, dev: torch.device) -> dict[str, torch.Tensor]:
    rand = _random(dev)
    return {
        "spec": rand(batch, cfg.spectra.d_model),
        "lc": rand(batch, cfg.lightcurves.feature_dim),
        "priors": rand(batch, cfg.dualformer.n_priors),
    }


def _dualformer(
    cfg: ModelConfigs, training: TrainingConfig, batch: int, dev: torch.device
) -> _Case:
    task = DualFormerTask(DualFormer(cfg.dualformer), **_TASK_ARGS)
    return _Case(task.to(dev), _features(cfg, batch, dev))


def _moco(cfg: ModelConfigs, training: TrainingConfig, batch: int, dev: torch.device) -> _Case:
    task = AlignerTask(MoCoAligner(cfg.baselines, reference=training.reference_moco), **_TASK_ARGS)
    return _Case(task.to(dev), _features(cfg, batch, dev))


# model -> (its builder, the `TrainingConfig` loop whose batch size it trains with)
CASES: dict[str, tuple[Callable[..., _Case], str]] = {
    "spectra": (_spectra, "spectra"),
    "lightcurves": (_lightcurves, "lightcurves"),
    "dualformer": (_dualformer, "dualformer"),
    "moco": (_moco, "baselines"),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(
    case: _Case, device: torch.device, warmup: int, steps: int, compile: bool = False
) -> dict[str, Any]:
    case.task.train()
    params = [p for p in case.task.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    # bf16 autocast on CUDA, as the training stages run there (precision "auto")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    eager_loss = case.loss
    # compiled losses are traced on their first call (a warm-up step, not timed)
    loss_of = torch.compile(eager_loss) if compile else eager_loss

    def step(loss_fn: Callable[[], torch.Tensor]) -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = loss_fn()
        loss.backward()
        optimizer.step()

    # FlopCounterMode sees only eager operators, so the counted step runs eagerly
    counter = FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION_FLOPS)
    with counter:
        step(eager_loss)  # the first warm-up step, counted
    for _ in range(warmup - 1 + int(compile)):
        step(loss_of)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(loss_of)
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    return {
        "parameters": count_parameters(case.task),
        "seconds_per_step": seconds,
        "flops_per_step": float(counter.get_total_flops()),
    }


def train_benchmark(
    trainings: Mapping[str, TrainingConfig],
    *,
    steps: int | None = None,
    warmup: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    models: Sequence[str] | None = None,
    compile: bool = False,
) -> dict[str, Any]:
    """Samples/s, seconds/step, FLOPs/sample and (on a known CUDA GPU) MFU per model and profile.

    ``trainings``: each profile's training settings (the CLI's `Settings(profile=...).training`).
    ``models``: which of `CASES` to run (default all). ``compile``: time `torch.compile`d
    steps (one extra warm-up step pays the compilation).

    Defaults: CUDA when present; each model's training batch size of the profile (batch 2 for
    the paper profile on a CPU); warm-up and timed steps from `CPU_STEPS` / `CUDA_STEPS`.
    """
    chosen = list(CASES) if models is None else list(models)
    unknown = [m for m in chosen if m not in CASES]
    if unknown or not chosen:
        raise ValueError(f"unknown models {unknown}; expected some of {list(CASES)}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    peak = peak_flops(dev)
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        note = f"MFU against {peak:.3g} FLOP/s dense bf16" if peak else f"no peak FLOP/s for {name}"
    else:
        name = f"cpu, {torch.get_num_threads()} threads"
        note = "no MFU on a CPU"
    runs: list[dict[str, Any]] = []
    for profile, training in trainings.items():
        default_warmup, default_steps = CUDA_STEPS if dev.type == "cuda" else CPU_STEPS[profile]
        n_warmup = default_warmup if warmup is None else warmup
        n_steps = default_steps if steps is None else steps
        if n_warmup < 1 or n_steps < 1:
            raise ValueError("warm-up and timed steps must be >= 1")
        for model in chosen:
            build, loop = CASES[model]
            if batch_size is not None:
                batch = batch_size
            elif dev.type == "cpu" and profile == "paper":
                batch = CPU_PAPER_BATCH
            else:
                batch = getattr(training, loop).batch_size
            # built one at a time and dropped after its run: only one model is ever in memory
            case = build(model_configs(profile), training, batch, dev)
            measured = _measure(case, dev, n_warmup, n_steps, compile)
            del case
            gc.collect()
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            seconds, flops = measured["seconds_per_step"], measured["flops_per_step"]
            runs.append(
                {
                    "profile": profile,
                    "model": model,
                    "parameters": measured["parameters"],
                    "batch_size": batch,
                    "steps": n_steps,
                    "seconds_per_step": seconds,
                    "samples_per_s": batch / seconds,
                    "flops_per_sample": flops / batch,
                    "mfu": flops / seconds / peak if peak else None,
                    "precision": "bf16-autocast" if dev.type == "cuda" else "fp32",
                    "compiled": compile,
                }
            )
    return {
        "device": str(dev),
        "device_name": name,
        "peak_flops": peak,
        "mfu_note": note,
        "runs": runs,
    }
