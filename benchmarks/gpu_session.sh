#!/usr/bin/env bash
# One session on a lent GPU: CUDA correctness tests, then the benchmark set.
# Everything lands in $OUT (logs and a tarball of the result files), each part
# under its own time limit so that a slow part cannot eat the others.
#   bash benchmarks/gpu_session.sh [tests] [step] [blocks] [heads] [cudagraphs] [step-short] [step-compiled]
# step-compiled gives inductor the nine minutes the whole G+D step needs to compile
# (it did not finish in 220 s on an H200): run it alone, with timeout_s 600.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/icezoo-gpu}; RES=$OUT/results; mkdir -p "$RES"
parts=${*:-tests step blocks heads}
log=$OUT/session.log
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
  python3 -c "import torch, torch_geometric, timm; print('torch', torch.__version__, 'pyg', torch_geometric.__version__, 'timm', timm.__version__)"
} >>"$log" 2>&1
for part in $parts; do
  start=$(date +%s)
  case $part in
    tests)  timeout 170 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py ;;
    step)   timeout 260 python3 benchmarks/train_step.py --out-dir "$RES" --variants "eager fp32,eager bf16,eager bf16 channels_last,compiled bf16" ;;
    cudagraphs) timeout 110 python3 benchmarks/train_step.py --out-dir "$RES" --tag cudagraphs --variants "eager fp32,compiled bf16 cudagraphs" --batch-sizes 16 --compiled-batch-sizes 16 ;;
    step-compiled) timeout 540 python3 benchmarks/train_step.py --out-dir "$RES" --tag compiled --variants "eager fp32,eager bf16,compiled bf16" --batch-sizes 16,256 --compiled-batch-sizes 16,256 ;;
    step-short) timeout 220 python3 benchmarks/train_step.py --out-dir "$RES" --variants "eager fp32,eager bf16,compiled bf16" --batch-sizes 16,256 --compiled-batch-sizes 16,256 ;;
    retest) timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py -k "equals_einsum or training_on_cuda or full_size" ;;
    blocks) timeout 150 python3 benchmarks/reasoning_blocks.py --out-dir "$RES" ;;
    heads)  timeout 110 python3 benchmarks/discriminator_heads.py --out-dir "$RES" ;;
  esac >>"$log" 2>&1
  echo "== part $part: exit $? after $(( $(date +%s) - start )) s" | tee -a "$log"
done
tar -czf "$OUT/results.tar.gz" -C "$RES" . 2>/dev/null
grep -E "passed|failed|error|==|summary|x$|Summary|: [0-9.]+x" "$log" | tail -40
