#!/usr/bin/env bash
# One session on a lent GPU: CUDA correctness tests, then the benchmarks, each part in a time box of its own.
#   bash benchmarks/gpu_session.sh [PART...]            (default: issue22)
# issue22 (also issue14) takes the numbers of issue 22 in about 9 minutes of an H100/H200, most wanted first:
#   graphtests     70 s  the CUDA-graph equality tests, the capture-error test, the GRM check at 512x2x2, the
#                        torch APIs of the GPU paths present in the GPU's torch
#   fast-graphs    50 s  the CUDA-graph step at batch 16 (fp32, bf16) against eager fp32
#   loso          200 s  the LOSO protocol, 4 folds x 1 and 3 epochs per variant, the full run extrapolated
#   fast-compiled 160 s  eager fp32 / bf16 and regional-compiled bf16 at batch 256, compile seconds, MFU
#   fast-largest   50 s  the largest batch (eager bf16, doubling from 512), saying what ended the doubling
# Run it with the device tool's timeout_s 600. Other parts: tests step blocks heads cudagraphs step-compiled
# step-short retest; smoke-loso smoke-box smoke-fast are tiny CPU runs for tests/test_loso_bench.py.
#
# Each part runs in a process group of its own with ICEZOO_SESSION_PART=<session>-<part> in its environment
# (inherited by every process it starts, the LOSO workers in their own sessions included). When its box
# runs out it gets a SIGINT (the scripts stop their runs as Ctrl-C does and record what they have), GRACE
# seconds, then SIGKILL to its group; then every process still carrying the marker is killed, so nothing
# goes on using the GPU while the next part measures. The scripts' own time limits end them inside their
# boxes (loso.py's limit includes its stopping; fast_step.py's only keeps it from starting a measurement).
# ICEZOO_GPU_SCALE multiplies every box (and the limits inside it). Logs, results and a tarball go to
# $OUT (default /tmp/icezoo-gpu); results (not the smoke parts') are copied to benchmarks/results/; summary
# lines are printed as they come.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/icezoo-gpu}; RES=$OUT/results; mkdir -p "$RES"
export ICEZOO_CACHE=${ICEZOO_CACHE:-$OUT/cache}  # the synthetic data, generated once for every part
SESSION=${ICEZOO_SESSION:-gpu-session-$$}
SCALE=${ICEZOO_GPU_SCALE:-1}
GRACE=${ICEZOO_GPU_GRACE:-25}
log=$OUT/session.log

launch='import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])'

secs() { awk -v s="$1" -v k="$SCALE" 'BEGIN { v = int(s * k); print (v < 1 ? 1 : v) }'; }

marked() {  # pids of the processes carrying this part's marker (own processes only; others are unreadable)
  local f
  for f in /proc/[0-9]*/environ; do
    if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qx "ICEZOO_SESSION_PART=$1"; then
      f=${f#/proc/}; echo "${f%/environ}"
    fi
  done
}

run_part() {  # NAME BOX_SECONDS COMMAND...: the command in its own process group, stopped at the box's end
  local name=$1 box=$2 marker="$SESSION-$1" start pid rc left
  shift 2
  start=$(date +%s)
  echo "== part $name: box $box s" | tee -a "$log"
  # the log gets everything; the terminal the summary lines and test results, as they come
  # started in a session of its own with SIGINT at its default: a background job of a script gets it ignored,
  # and an ignored SIGINT is inherited through exec (Python would then not stop on it, nor would its children)
  ICEZOO_SESSION_PART=$marker python3 -c "$launch" "$@" > >(tee -a "$log" | grep --line-buffered -E "^summary:|passed|failed") 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && (($(date +%s) - start < box)); do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "== part $name: box of $box s reached: SIGINT, then SIGKILL after $GRACE s" | tee -a "$log"
    kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid" 2>/dev/null
    local until=$(($(date +%s) + GRACE))
    while kill -0 "$pid" 2>/dev/null && (($(date +%s) < until)); do sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null
  fi
  wait "$pid"; rc=$?
  left=$(marked "$marker")
  if [ -n "$left" ]; then
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
    for p in $left; do while kill -0 "$p" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; do sleep 0.1; done; done
  fi
  echo "== part $name: exit $rc after $(($(date +%s) - start)) s${left:+; killed left behind: $(echo $left | wc -w)}" | tee -a "$log"
}

part() {  # NAME: its box and command
  local n=$1 b
  case $n in
    graphtests) b=$(secs 70); run_part "$n" "$b" python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_fast_paths.py -k "cuda_graph or component_that_syncs or (equals_einsum and 512) or apis_of_the_declared" ;;
    fast-graphs) b=$(secs 50); run_part "$n" "$b" python3 benchmarks/fast_step.py --out-dir "$RES" --tag graphs --parts graphs --time-limit $((b - GRACE - 5)) ;;
    loso) b=$(secs 200); run_part "$n" "$b" python3 benchmarks/loso.py --out-dir "$RES" --folds 4 --epochs 1,3 --time-limit $((b - 10)) \
            --variants "sequential,cuda graphs,workers 4 + cuda graphs,workers 2,workers 4" ;;
    fast-compiled) b=$(secs 160); run_part "$n" "$b" python3 benchmarks/fast_step.py --out-dir "$RES" --tag compiled --parts compiled --time-limit $((b - GRACE - 5)) ;;
    fast-largest) b=$(secs 50); run_part "$n" "$b" python3 benchmarks/fast_step.py --out-dir "$RES" --tag largest --parts largest --max-batch 4096 --time-limit $((b - GRACE - 5)) ;;
    tests) run_part "$n" "$(secs 170)" python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py ;;
    retest) run_part "$n" "$(secs 90)" python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py -k "equals_einsum or training_on_cuda or full_size" ;;
    step) run_part "$n" "$(secs 260)" python3 benchmarks/train_step.py --out-dir "$RES" --variants "eager fp32,eager bf16,eager bf16 channels_last,compiled bf16" ;;
    cudagraphs) run_part "$n" "$(secs 110)" python3 benchmarks/train_step.py --out-dir "$RES" --tag cudagraphs --variants "eager fp32,compiled bf16 cudagraphs" --batch-sizes 16 --compiled-batch-sizes 16 ;;
    step-compiled) run_part "$n" "$(secs 540)" python3 benchmarks/train_step.py --out-dir "$RES" --tag compiled --variants "eager fp32,eager bf16,compiled bf16" --batch-sizes 16,256 --compiled-batch-sizes 16,256 ;;
    step-short) run_part "$n" "$(secs 220)" python3 benchmarks/train_step.py --out-dir "$RES" --variants "eager fp32,eager bf16,compiled bf16" --batch-sizes 16,256 --compiled-batch-sizes 16,256 ;;
    blocks) run_part "$n" "$(secs 150)" python3 benchmarks/reasoning_blocks.py --out-dir "$RES" ;;
    heads) run_part "$n" "$(secs 110)" python3 benchmarks/discriminator_heads.py --out-dir "$RES" ;;
    # CPU smoke parts (tests/test_loso_bench.py): LOSO cut by its own limit mid-run (workers 2), LOSO cut by
    # the box (SIGINT to the script while a run is going), the fast-step parts at tiny sizes with a batch cap
    smoke-loso) b=$(secs 60); run_part "$n" "$b" python3 benchmarks/loso.py --smoke --out-dir "$RES" --variants "workers 2" --time-limit "$(secs 32)" ;;
    smoke-box) b=$(secs 12); run_part "$n" "$b" python3 benchmarks/loso.py --smoke --out-dir "$RES/box" --variants "workers 2" --time-limit 600 ;;
    smoke-fast) b=$(secs 120); run_part "$n" "$b" python3 benchmarks/fast_step.py --smoke --device cpu --no-compile --iters 1 --out-dir "$RES" --tag smoke --parts graphs,compiled,largest --max-batch 16 --time-limit $((b - 10)) ;;
    *) echo "== part $n: unknown part" | tee -a "$log" ;;
  esac
}

parts=${*:-issue22}
parts=${parts//issue22/graphtests fast-graphs loso fast-compiled fast-largest}
parts=${parts//issue14/graphtests fast-graphs loso fast-compiled fast-largest}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1 || echo "no nvidia-smi"
  python3 -c "import torch, torch_geometric, timm; print('torch', torch.__version__, 'pyg', torch_geometric.__version__, 'timm', timm.__version__)"
} >>"$log" 2>&1
for p in $parts; do part "$p"; done
tar -czf "$OUT/results.tar.gz" -C "$RES" . 2>/dev/null
for f in "$RES"/*.json "$RES"/*.md; do  # the recorded results; not the smoke parts' (tests)
  case $f in *-smoke-*) ;; *) [ -f "$f" ] && cp "$f" benchmarks/results/ ;; esac
done
cat "$RES"/loso-*.md 2>/dev/null | tail -12
exit 0
