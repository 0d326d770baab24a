#!/usr/bin/env bash
# The GPU path, measured in one command (issue 13 item 4): install what is needed, then
#   train          `desa bench train --profile paper` for the spectra encoder, the light-curve
#                  encoder and the DualFormer in bf16 autocast: samples/s, FLOPs per sample,
#                  MFU against the GPU's dense bf16 peak
#   train_compiled the spectra encoder again with torch.compile (skipped with --no-compile)
#   precision      a bf16-autocast step's loss against fp32, per model, within a tolerance
#   ddp            a few steps of one-GPU DDP under torchrun (NCCL)
#   resume         a training run killed with SIGKILL and started again from its checkpoint
# and write everything to one JSON file: $OUT/gpu-check.json (the device tool copies $OUT
# back), or the path given as the last argument.
#
#   bash scripts/gpu-check.sh [--device cpu] [--quick] [--python PY] [--no-compile]
#                             [--only STEP,STEP...] [RESULT.json]
#
# --device cpu --quick: the same steps on a CPU with the demo profile and tiny step counts,
# so the script's logic runs (and is tested) where there is no GPU; MFU is then null.
# --python PY: use this interpreter (with the project installed) instead of making a venv.
# --only: run just these steps (names above).
# Every step runs under a time limit taken from what is left of the total (TOTAL_S); a step
# that fails or runs out is recorded with its exit code and the others still run.
set -euo pipefail

TOTAL_S=${GPU_CHECK_TOTAL_S:-480}  # the issue's 8 minutes, install included
START=$(date +%s)
DEVICE=cuda
QUICK=0
COMPILE=1
PY=""
ONLY=""
RESULT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --no-compile) COMPILE=0; shift ;;
        --python) PY="$2"; shift 2 ;;
        --only) ONLY=",$2,"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^set / { exit } NR > 1' "$0"; exit 0 ;;
        -*) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
        *) RESULT="$1"; shift ;;
    esac
done
if [ -z "$RESULT" ]; then
    if [ -n "${OUT:-}" ]; then RESULT="$OUT/gpu-check.json"; else RESULT="gpu-check.json"; fi
fi
case "$DEVICE" in cuda|cpu) ;; *) echo "gpu-check: --device must be cuda or cpu" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
PARTS=$(mktemp -d -t gpu-check.XXXXXX)
trap 'rm -rf "$PARTS"' EXIT
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# seconds left of TOTAL_S, at least 1 (`timeout 0` would mean no limit at all)
left() { local s=$(( TOTAL_S - ($(date +%s) - START) )); echo $(( s > 0 ? s : 1 )); }
say() { printf '\n== %s (%ss left)\n' "$*" "$(left)"; }

# --- install ---------------------------------------------------------------------------------
# torch==2.13.0 from PyPI is the CUDA build on Linux x86_64. PIP_FIND_LINKS is cleared for it so
# that a local CPU wheel folder (this workplace's /opt/wheels holds the +cpu build) is not
# used on the GPU machine. A torch already in the interpreter that sees CUDA is kept as is.
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then
        PY=.venv/bin/python
    else
        say "creating .venv-gpu"
        # system site packages: a machine image's CUDA torch stays usable if pip cannot reach PyPI
        python3 -m venv --system-site-packages .venv-gpu
        PY=.venv-gpu/bin/python
    fi
    if [ "$DEVICE" = cuda ] && ! "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
        say "installing torch==2.13.0 (CUDA build from PyPI)"
        PIP_FIND_LINKS="" timeout "$(left)" "$PY" -m pip install --quiet "torch==2.13.0"
    fi
    if ! "$PY" -c 'import flows.cli, lightning' 2>/dev/null; then
        say "installing the project"
        PIP_FIND_LINKS="" timeout "$(left)" "$PY" -m pip install --quiet -e .
    fi
fi
"$PY" - "$DEVICE" <<'PYEOF'
import sys, torch
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), cuda available: {torch.cuda.is_available()}")
if sys.argv[1] == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu-check: --device cuda but this torch sees no CUDA device (a +cpu build?)")
PYEOF

# --- steps -----------------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
    PROFILE=demo; TRAIN=(--steps 1 --batch-size 4); BATCH=4; DDP_STEPS=2; EPOCHS=3
else
    PROFILE=paper; TRAIN=(); BATCH=8; DDP_STEPS=5; EPOCHS=4
fi

# step NAME SHARE COMMAND...: run with a limit of SHARE% of the time left (at least 10 s);
# record its exit code and wall time in steps.tsv
step() {
    local name=$1 share=$2; shift 2
    if [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]]; then return 0; fi
    local limit=$(( $(left) * share / 100 ))
    [ "$limit" -ge 10 ] || limit=10
    say "$name (limit ${limit}s)"
    local t0 code=0
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" || code=$?
    printf '%s\t%s\t%s\n' "$name" "$code" "$(( $(date +%s) - t0 ))" >>"$PARTS/steps.tsv"
    [ "$code" = 0 ] || echo "gpu-check: step $name failed with exit code $code" >&2
}

step train 40 "$PY" -m flows bench train --profile "$PROFILE" --device "$DEVICE" \
    --models spectra,lightcurves,dualformer "${TRAIN[@]}" --output "$PARTS/train.json"
if [ "$COMPILE" = 1 ]; then
    step train_compiled 35 "$PY" -m flows bench train --profile "$PROFILE" --device "$DEVICE" \
        --models spectra --compile "${TRAIN[@]}" --output "$PARTS/train_compiled.json"
fi
step precision 25 "$PY" -m bench.gpu_check precision --profile "$PROFILE" --device "$DEVICE" \
    --batch-size "$BATCH" --out "$PARTS/precision.json"
step ddp 40 "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m bench.ddp \
    --profile "$PROFILE" --device "$DEVICE" --steps "$DDP_STEPS" --batch-size "$BATCH" \
    --out "$PARTS/ddp.json"
step resume 90 "$PY" -m bench.resume --profile "$PROFILE" --device "$DEVICE" \
    --epochs "$EPOCHS" --kill-after 2 --out "$PARTS/resume.json"

say "report"
"$PY" -m bench.gpu_check report --parts "$PARTS" --out "$RESULT"
