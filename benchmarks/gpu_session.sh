#!/usr/bin/env bash
# One session on a lent GPU: CUDA correctness tests, then the benchmarks, each part in a time box of its own.
#   OUT=DIR bash benchmarks/gpu_session.sh [issue31 | rehearse [PART...] | plan [PART...] | PART...]   (default: issue31)
# issue31 (also issue22, issue14) takes every number of issues 22 and 31 inside one command of the device tool
# (timeout_s 600); its worst case (every box, every grace, the header) is printed first and is at most 570 s.
# Most wanted first:
#   graphtests     60 s  the CUDA-graph tests (equality with eager, the Trainer's graphed run against an eager
#                        twin, the capture error), the GRM check at 512x2x2, the GPU paths' torch APIs
#   fast-graphs    35 s  the CUDA-graph step at batch 16 (fp32, bf16) against eager fp32
#   fast-compiled 150 s  regional-compiled bf16 at batch 256 first (compile seconds, MFU), then eager fp32, bf16
#   loso          200 s  the LOSO protocol, 2 folds x 1 and 5 epochs, eval.bootstrap=0, three variants
#                        (sequential, cuda graphs, workers 4 + cuda graphs), the full run extrapolated
#   fast-largest   40 s  the largest batch: predicted from batch 512's peak memory and the free memory, then
#                        that batch and its double tried
#   table1 (optional)    `icezoo bench` of the Table I baselines (recipes/table1/*.yaml, or the glob in
#                        ICEZOO_GPU_TABLE1), only where they exist, in whatever the core parts left of the 570 s
# rehearse: every part of issue31 on the CPU at tiny sizes, through the same scripts, boxes and tarball; it ends
# with "rehearsal: K of N parts wrote their results; worst case S s" (tests/test_gpu_session.py runs it).
# plan: the parts, their boxes and the worst case, running nothing. Other parts: tests step blocks heads
# cudagraphs step-compiled step-short retest; smoke-loso smoke-box smoke-fast (tests/test_loso_bench.py).
#
# Each part runs in a process group of its own with ICEZOO_SESSION_PART=<session>-<part> in its environment
# (inherited by every process it starts, the LOSO workers in their own sessions included). When its box runs
# out it gets a SIGINT (the scripts stop as Ctrl-C does and record what they have), its grace, then SIGKILL to
# its group; then every process still carrying the marker is killed, so nothing goes on using the GPU while the
# next part measures. The scripts' own time limits end them inside their boxes. ICEZOO_GPU_SCALE multiplies
# every box. Each part writes into a folder of its own under $ICEZOO_GPU_WORK/results (default
# /tmp/icezoo-gpu-work, outside $OUT, with the data cache ICEZOO_CACHE unless set); $OUT (default
# /tmp/icezoo-gpu) receives only session.log and results.tar.gz (the device tool brings back 8 files of $OUT,
# each under 16 MiB). Nothing is written into the checkout: unpack the tarball into benchmarks/results/ here.
# The terminal shows the summary lines, test results and every line saying FAILED, error or Traceback.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/icezoo-gpu}
WORK=${ICEZOO_GPU_WORK:-/tmp/icezoo-gpu-work}
RES=$WORK/results
SESSION=${ICEZOO_SESSION:-gpu-session-$$}
SCALE=${ICEZOO_GPU_SCALE:-1}
BOUND=570  # seconds: the worst case of a session must stay under one command's 600 s
HEADER=20  # seconds: the import check, nvidia-smi, the tarball
CORE="graphtests fast-graphs fast-compiled loso fast-largest"
OPTIONAL="table1"
TABLE1=${ICEZOO_GPU_TABLE1:-recipes/table1/*.yaml}  # the recipes of the optional part table1 (a glob)
REHEARSE=
log=$OUT/session.log

launch='import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])'

CAP=0  # when set, no box is longer (spec's time limits inside the commands follow)
secs() { awk -v s="$1" -v k="$SCALE" -v c="$CAP" 'BEGIN { v = int(s * k); if (c > 0 && v > c) v = c; print (v < 1 ? 1 : v) }'; }

spec() {  # NAME: sets BOX, GR (its grace), CMD (the command) and SKIP (why it does not run, if so)
  local n=$1 d=$RES/$1 r=$REHEARSE
  GR=10 SKIP= CMD=()
  local fast=(python3 benchmarks/fast_step.py --out-dir "$d")
  [ -n "$r" ] && fast+=(--smoke --device cpu --iters 1)
  case $n in
    graphtests) BOX=$(secs 60); CMD=(python3 -m pytest -q -p no:cacheprovider --junitxml "$d/junit.xml" tests/test_cuda.py tests/test_fast_paths.py
        -k "cuda_graph or component_that_syncs or (equals_einsum and 512) or apis_of_the_declared") ;;
    fast-graphs) BOX=$(secs 35); CMD=("${fast[@]}" --tag graphs --parts graphs --time-limit $((BOX - 10))) ;;
    fast-compiled) BOX=$(secs 150); CMD=("${fast[@]}" --tag compiled --parts compiled --time-limit $((BOX - 15)) ${r:+--no-compile}) ;;
    loso) BOX=$(secs 200); GR=15; CMD=(python3 benchmarks/loso.py --out-dir "$d" --folds 2 --epochs 1,5 --set eval.bootstrap=0
        --time-limit $((BOX - 5)) --stop-grace 10 --variants "sequential,cuda graphs,workers 4 + cuda graphs" ${r:+--smoke}) ;;
    fast-largest) BOX=$(secs 40); CMD=("${fast[@]}" --tag largest --parts largest --time-limit $((BOX - 5))) ;;
    table1) BOX=$(secs 120)
      local recipes
      read -r -a recipes <<<"$(echo $TABLE1)"  # the glob, expanded (left as written where nothing matches)
      [ -f "${recipes[0]}" ] || SKIP="no $TABLE1 in this checkout (the Table I baselines)"
      CMD=(python3 -m icezoo bench "${recipes[@]}" --out "$d/bench.json" --what step)
      if [ -n "$r" ]; then CMD+=(--device cpu --batch-sizes 2 --precision fp32 --warmup 0 --iters 1); else CMD+=(--batch-sizes 16,256 --precision bf16); fi ;;
    tests) BOX=$(secs 170); CMD=(python3 -m pytest -q -p no:cacheprovider --junitxml "$d/junit.xml" tests/test_cuda.py) ;;
    retest) BOX=$(secs 90); CMD=(python3 -m pytest -q -p no:cacheprovider --junitxml "$d/junit.xml" tests/test_cuda.py -k "equals_einsum or training_on_cuda or full_size") ;;
    step) BOX=$(secs 260); CMD=(python3 benchmarks/train_step.py --out-dir "$d" --variants "eager fp32,eager bf16,eager bf16 channels_last,compiled bf16") ;;
    cudagraphs) BOX=$(secs 110); CMD=(python3 benchmarks/train_step.py --out-dir "$d" --tag cudagraphs --variants "eager fp32,compiled bf16 cudagraphs" --batch-sizes 16 --compiled-batch-sizes 16) ;;
    step-compiled) BOX=$(secs 540); CMD=(python3 benchmarks/train_step.py --out-dir "$d" --tag compiled --variants "eager fp32,eager bf16,compiled bf16" --batch-sizes 16,256 --compiled-batch-sizes 16,256) ;;
    step-short) BOX=$(secs 220); CMD=(python3 benchmarks/train_step.py --out-dir "$d" --variants "eager fp32,eager bf16,compiled bf16" --batch-sizes 16,256 --compiled-batch-sizes 16,256) ;;
    blocks) BOX=$(secs 150); CMD=(python3 benchmarks/reasoning_blocks.py --out-dir "$d") ;;
    heads) BOX=$(secs 110); CMD=(python3 benchmarks/discriminator_heads.py --out-dir "$d") ;;
    # CPU smoke parts (tests/test_loso_bench.py): LOSO cut by its own limit mid-run (workers 2), LOSO cut by
    # the box (SIGINT to the script while a run is going), the fast-step parts at tiny sizes with a batch cap
    smoke-loso) BOX=$(secs 60); GR=25; CMD=(python3 benchmarks/loso.py --smoke --out-dir "$d" --variants "workers 2" --time-limit "$(secs 32)") ;;
    smoke-box) BOX=$(secs 12); GR=25; CMD=(python3 benchmarks/loso.py --smoke --out-dir "$d" --variants "workers 2" --time-limit 600) ;;
    smoke-fast) BOX=$(secs 120); CMD=(python3 benchmarks/fast_step.py --smoke --device cpu --no-compile --iters 1 --out-dir "$d" --tag smoke --parts graphs,compiled,largest --max-batch 16 --time-limit $((BOX - 10))) ;;
    *) BOX=0 GR=0 SKIP="unknown part" ;;
  esac
}

worst_case() {  # PART...: the header plus every part's box and grace; an optional part that can run fills what
  local p total=$HEADER fill=0  # the others left up to the bound (its box is cut to that), so the bound is then the worst
  for p in "$@"; do
    spec "$p"
    [ -n "$SKIP" ] && continue
    case " $OPTIONAL " in *" $p "*) fill=1; continue ;; esac
    total=$((total + BOX + GR))
  done
  ((fill && total < BOUND)) && total=$BOUND
  echo "$total"
}

wrote() { [ -n "$(find "$RES/$1" -type f -size +0 2>/dev/null | head -1)" ]; }  # PART: it wrote a result

run_part() {  # NAME BOX GRACE COMMAND...: the command in its own process group, stopped at the box's end
  local name=$1 box=$2 grace=$3 marker="$SESSION-$1" start pid rc left
  shift 3
  start=$(date +%s)
  mkdir -p "$RES/$name"
  echo "== part $name: box $box s, grace $grace s" | tee -a "$log"
  # the log gets everything; the terminal the summary lines, test results and failures, as they come
  # started in a session of its own with SIGINT at its default: a background job of a script gets it ignored,
  # and an ignored SIGINT is inherited through exec (Python would then not stop on it, nor would its children)
  ICEZOO_SESSION_PART=$marker python3 -c "$launch" "$@" > >(tee -a "$log" | grep --line-buffered -iE "^summary:|passed|failed|error|traceback") 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && (($(date +%s) - start < box)); do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "== part $name: box of $box s reached: SIGINT, then SIGKILL after $grace s" | tee -a "$log"
    kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid" 2>/dev/null
    local until=$(($(date +%s) + grace))
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
  local wrote_what="wrote nothing"
  wrote "$name" && wrote_what="wrote $(find "$RES/$name" -type f | sed "s|^$RES/||" | tr '\n' ' ')"
  echo "== part $name: exit $rc after $(($(date +%s) - start)) s; ${wrote_what% }${left:+; killed left behind: $(echo $left | wc -w)}" | tee -a "$log"
}

marked() {  # pids of the processes carrying this part's marker (own processes only; others are unreadable)
  local f
  for f in /proc/[0-9]*/environ; do
    if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qx "ICEZOO_SESSION_PART=$1"; then
      f=${f#/proc/}; echo "${f%/environ}"
    fi
  done
}

check_imports() {  # one line on the terminal and a stop where a module the session needs is missing
  python3 - <<'EOF'
import importlib, sys
for name in ("torch", "torch_geometric", "timm", "einops", "pluggy", "yaml", "numpy", "sklearn", "pytest",
             "icezoo", "icezoo.train.graphs", "icezoo.eval.protocols", "icezoo.bench.harness"):
    try:
        importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any failure to import stops the session
        print(f"import check FAILED: {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        sys.exit(1)
import torch, torch_geometric, timm
print(f"import check: ok: torch {torch.__version__} (cuda {torch.cuda.is_available()}), pyg {torch_geometric.__version__}, timm {timm.__version__}")
EOF
}

MODE=${1:-}
case $MODE in
  plan) shift; parts="${*:-issue31}" ;;
  rehearse) shift; REHEARSE=1; parts="${*:-issue31}"
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ;;  # tiny sizes: more threads only contend (on shared cores, 10x)
  *) parts="${*:-issue31}" ;;
esac
for alias in issue31 issue22 issue14; do parts=${parts//$alias/$CORE $OPTIONAL}; done
worst=$(worst_case $parts)

if [ "$MODE" = plan ]; then
  for p in $parts; do
    spec "$p"
    case " $OPTIONAL " in *" $p "*) echo "part $p: optional, box up to $BOX s in what is left of $BOUND s${SKIP:+; skipped: $SKIP}" ;;
      *) echo "part $p: box $BOX s, grace $GR s${SKIP:+; skipped: $SKIP}" ;; esac
  done
  echo "header $HEADER s; worst case $worst s (bound $BOUND s)"
  exit 0
fi

case $WORK/ in "$OUT"/*) echo "ICEZOO_GPU_WORK ($WORK) must lie outside OUT ($OUT): only the log and the tarball go there"; exit 2 ;; esac
mkdir -p "$OUT" "$WORK"
rm -rf "$RES" "$OUT/session.log" "$OUT/results.tar.gz"
mkdir -p "$RES"
export ICEZOO_CACHE=${ICEZOO_CACHE:-$WORK/cache}  # the synthetic data, generated once for every part
began=$(date +%s)
echo "session ${REHEARSE:+rehearsal }$SESSION: parts $parts; worst case $worst s (boxes, graces and $HEADER s of header; bound $BOUND s)" | tee -a "$log"
((worst > BOUND)) && echo "warning: the worst case $worst s is over the $BOUND s bound: a command of 600 s may be cut" | tee -a "$log"
checked=$(check_imports 2>&1); echo "$checked" >>"$log"
if ! grep -q "^import check: ok" <<<"$checked"; then  # one line, then stop: no row of failed parts
  echo "$(grep -m1 "^import check" <<<"$checked" || tail -1 <<<"$checked"); session stopped (PYTHONPATH=$PYTHONPATH)" | tee -a "$log"
  exit 1
fi
grep "^import check" <<<"$checked"
echo "header: imports checked after $(($(date +%s) - began)) s" >>"$log"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1 || echo "no nvidia-smi"
} >>"$log" 2>&1

ran=0 done_=0
for p in $parts; do
  spec "$p"
  if [ -n "$SKIP" ]; then echo "== part $p: skipped: $SKIP" | tee -a "$log"; continue; fi
  # every box is cut to what is left of the bound (a core part's only where the header ran over its 20 s), so the
  # session ends inside it whatever happens; an optional part runs only in what the core parts left
  room=$((BOUND - ($(date +%s) - began) - GR - 5)) least=10
  case " $OPTIONAL " in *" $p "*) least=30 ;; esac
  if ((room < least)); then echo "== part $p: skipped: $room s left of the $BOUND s bound" | tee -a "$log"; continue; fi
  ((room < BOX)) && { CAP=$room; spec "$p"; CAP=0; }
  run_part "$p" "$BOX" "$GR" "${CMD[@]}"
  ran=$((ran + 1))
  wrote "$p" && done_=$((done_ + 1))
done
tar -czf "$OUT/results.tar.gz" -C "$RES" . 2>>"$log"
cat "$RES"/loso/loso-*.md 2>/dev/null | tail -6
echo "results: $OUT/results.tar.gz (unpack into benchmarks/results/), log: $log; took $(($(date +%s) - began)) s" | tee -a "$log"
echo "$([ -n "$REHEARSE" ] && echo rehearsal || echo session): $done_ of $ran parts wrote their results; worst case $worst s" | tee -a "$log"
[ -z "$REHEARSE" ] || ((done_ == ran))
