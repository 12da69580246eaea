#!/usr/bin/env bash
# One session on a lent GPU: CUDA correctness tests, then the benchmark set.
# Everything lands in $OUT (logs and a tarball of the result files), each part
# under its own time limit so that a slow part cannot eat the others.
#   bash benchmarks/gpu_session.sh [tests] [step] [blocks] [heads] [cudagraphs] [step-short] [step-compiled]
#                                  [graphtests] [loso] [fast] [issue14]
# issue14 (= graphtests loso fast) fits 8 minutes of an H100/H200: the CUDA-graph equality tests and the GRM
# check at 512x2x2 (80 s), the LOSO protocol timed and extrapolated (230 s), the CUDA-graph step at batch 16,
# regional-compiled bf16 against eager fp32 at batch 256 with compile seconds, the largest batch (160 s).
# Run it with timeout_s 540; results also land in benchmarks/results/ of the device's working copy.
# step-compiled gives inductor the nine minutes the whole G+D step needs to compile
# (it did not finish in 220 s on an H200): run it alone, with timeout_s 600.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/icezoo-gpu}; RES=$OUT/results; mkdir -p "$RES"
parts=${*:-tests step blocks heads}
parts=${parts/issue14/graphtests loso fast}
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
    graphtests) timeout 80 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py -k "cuda_graph or component_that_syncs or (equals_einsum and 512)" ;;
    loso)   timeout 230 python3 benchmarks/loso.py --out-dir "$RES" --time-limit 210 --variants "sequential,workers 4,workers 8,cuda graphs,workers 4 + cuda graphs,workers 8 + cuda graphs" ;;
    fast)   timeout 160 python3 benchmarks/fast_step.py --out-dir "$RES" --max-batch 2048 ;;
    blocks) timeout 150 python3 benchmarks/reasoning_blocks.py --out-dir "$RES" ;;
    heads)  timeout 110 python3 benchmarks/discriminator_heads.py --out-dir "$RES" ;;
  esac >>"$log" 2>&1
  echo "== part $part: exit $? after $(( $(date +%s) - start )) s" | tee -a "$log"
done
tar -czf "$OUT/results.tar.gz" -C "$RES" . 2>/dev/null
cp "$RES"/* benchmarks/results/ 2>/dev/null
grep -E "passed|failed|error|==|summary|x$|Summary|: [0-9.]+x" "$log" | tail -40
cat "$RES"/loso-*.md 2>/dev/null | tail -12
