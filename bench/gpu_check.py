"""The pieces of `scripts/gpu-check.sh` that are Python: the bf16 check and the report.

    python -m bench.gpu_check precision --profile paper --out precision.json
    python -m bench.gpu_check report --parts DIR --out results.json

``report`` gathers the parts the script's steps wrote into DIR (``<step>.json``, and
``steps.tsv``: one ``step<TAB>exit code<TAB>seconds`` line per step), writes them as one JSON
document and prints a summary. A step that failed, timed out (exit code 124) or wrote no
part is reported as failed, with whatever figures it wrote.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from bench.precision import bf16_agreement
from desa.training.config import TrainingConfig

MFU_GOAL = 0.40  # issue 13: MFU >= 40% for the spectra encoder on an H100


def _steps(parts: Path) -> dict[str, dict[str, Any]]:
    table = parts / "steps.tsv"
    rows = table.read_text().splitlines() if table.exists() else []
    steps = {}
    for row in rows:
        name, code, seconds = row.split("\t")
        part = parts / f"{name}.json"
        result = json.loads(part.read_text()) if part.exists() else None
        # a step that exits 0 without writing its part did not do its job either
        steps[name] = {
            "exit_code": int(code),
            "seconds": float(seconds),
            "ok": int(code) == 0 and result is not None,
            "result": result,
        }
    return steps


def _summary(steps: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, step in steps.items():
        status = "ok" if step["ok"] else f"FAILED (exit {step['exit_code']})"
        lines.append(f"{name:<16} {status:<22} {step['seconds']:8.1f} s")
        result = step["result"] or {}
        for run in result.get("runs", []):
            mfu = "n/a" if run["mfu"] is None else f"{run['mfu']:.1%}"
            lines.append(
                f"    {run['profile']}/{run['model']:<12} batch {run['batch_size']:>4}  "
                f"{run['samples_per_s']:10.3g} samples/s  "
                f"{run['flops_per_sample']:9.3g} FLOP/sample  MFU {mfu}"
            )
        if "runs" in result:
            lines.append(f"    {result['device_name']}: {result['mfu_note']}")
        for row in result.get("models", []):
            lines.append(
                f"    {row['model']:<12} fp32 {row['loss_fp32']:.6g}  bf16 {row['loss_bf16']:.6g}"
                f"  gap {row['relative_gap']:.2%} (tolerance {result['tolerance']:.0%})"
            )
        if "ok" in result and "models" not in result:
            lines.append(f"    ok: {result['ok']}")
    return lines


def spectra_mfu_goal(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Whether the spectra encoder's MFU met `MFU_GOAL`; None where no MFU was measured."""
    runs = [
        run
        for name in ("train", "train_compiled")
        for run in ((steps.get(name) or {}).get("result") or {}).get("runs", [])
        if run["model"] == "spectra" and run["mfu"] is not None
    ]
    best = max((run["mfu"] for run in runs), default=None)
    return {
        "goal": MFU_GOAL,
        "best_spectra_mfu": best,
        "met": None if best is None else best >= MFU_GOAL,
    }


def report(parts: Path, out: Path, environment: dict[str, Any]) -> dict[str, Any]:
    steps = _steps(parts)
    result = {
        "environment": environment,
        "steps": steps,
        "spectra_mfu_goal": spectra_mfu_goal(steps),
        "ok": bool(steps) and all(s["ok"] for s in steps.values()),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print("\n".join(_summary(steps)))
    print(f"spectra MFU goal: {result['spectra_mfu_goal']}")
    print(f"results: {out}")
    return result


def environment() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": cuda,
        "device_name": torch.cuda.get_device_name(0) if cuda else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    precision = sub.add_parser("precision", help="bf16-autocast loss against fp32")
    precision.add_argument("--profile", default="paper", choices=("demo", "paper"))
    precision.add_argument("--device", choices=("cuda", "cpu"), default=None)
    precision.add_argument("--batch-size", type=int, default=8)
    precision.add_argument("--out", type=Path, required=True)
    summary = sub.add_parser("report", help="gather the steps' parts into one JSON")
    summary.add_argument("--parts", type=Path, required=True)
    summary.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "precision":
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        training = TrainingConfig()  # the profiles differ only in loop sizes; batch given here
        result = bf16_agreement(args.profile, training, batch_size=args.batch_size, device=device)
        args.out.write_text(json.dumps(result, indent=2))
        raise SystemExit(0 if result["ok"] else 1)
    result = report(args.parts, args.out, environment())
    raise SystemExit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
