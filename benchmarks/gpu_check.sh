#!/usr/bin/env bash
# The GPU check, one command on one H100/H200 (at most 8 minutes; about 4 expected):
# Pythia-410m's throughput and MFU in bf16 under DeepSpeed ZeRO-1 against a plain PyTorch loop
# (sdpa, and flash_attention_2 when flash-attn imports), then a 20-step bf16 resume from a Hugging
# Face directory against an fp32 one (benchmarks/gpu_check.py says what is measured and why).
# Needs .whl/ from benchmarks/gpu_wheels.sh when DeepSpeed or Hydra is missing there. Through the
# device tool: run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540).
# Figures go to $OUT (the device tool's folder) or /tmp: gpu.txt, gpu_check.log, gpu_check.json.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp}"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 2
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 -c "import deepspeed, hydra" 2>/dev/null || {
    echo "gpu_check: DeepSpeed or Hydra does not import; fetch the wheels with: bash benchmarks/gpu_wheels.sh"; exit 2; }
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 DEBIAS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
timeout 480 python3 benchmarks/gpu_check.py --out "$out/gpu_check.json" "$@" 2>&1 | tee "$out/gpu_check.log"
exit "${PIPESTATUS[0]}"
