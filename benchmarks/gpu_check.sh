#!/usr/bin/env bash
# One command for whoever has a GPU: the CUDA-only tests, vislab's training steps against a plain PyTorch loop
# on the same GPU, resnet50's images/s against the published anchor, and an exact resume with deterministic
# algorithms (one of the CUDA tests). Prints one table; under 8 minutes on one GPU. Without a GPU it says so
# and exits 0 at once.
#
#   bash benchmarks/gpu_check.sh            (PYTHON=... to choose the interpreter; default .venv's, else python3)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD/src:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA GPU visible here; nothing to check"
    exit 0
fi
LOG=${GPU_CHECK_LOG:-$(mktemp -d)}
mkdir -p "$LOG"
rows=()
row() { rows+=("$(printf '| %-44s | %-40s |' "$1" "$2")"); }
last() { grep -E "$2" "$1" | tail -1 | sed -E "s/.*$2 *//"; }

gpu=$("$PY" -c 'import torch; print(f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}")')

timeout 300 "$PY" -m pytest -m cuda -q -p no:cacheprovider tests > "$LOG/cuda_tests.txt" 2>&1
row "pytest -m cuda (OOM, bf16/16-mixed, DDP, CL+compile, resume)" "$(tail -1 "$LOG/cuda_tests.txt")"

timeout 120 "$PY" benchmarks/loop_overhead.py --device cuda --images 60000 --rounds 3 > "$LOG/loop.txt" 2>&1
row "classification step, vislab/plain (MNIST CNN)" "$(last "$LOG/loop.txt" 'ratio vislab/plain:')"

timeout 120 "$PY" benchmarks/seg_step.py --batches 40 --rounds 3 > "$LOG/seg.txt" 2>&1
row "segmentation step, vislab/plain (voc-unet 256)" "$(last "$LOG/seg.txt" 'ratio vislab/plain:')"

timeout 120 "$PY" benchmarks/resnet50_amp.py > "$LOG/resnet50.txt" 2>&1
row "resnet50 224 bf16 CL img/s (A100 anchor ~2470)" "$(last "$LOG/resnet50.txt" 'images/s:')"

echo "GPU check on $gpu (logs: $LOG)"
printf '| %-44s | %-40s |\n' "check" "result"
printf '|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..42})"
printf '%s\n' "${rows[@]}"
