"""The training step's fast paths against eager: whole-step CUDA graphs, regional compile, the largest batch.

* batch 16 (the paper's): eager fp32 against the step captured as one CUDA
  graph (``train.cuda_graphs``), fp32 and bf16;
* batch 256: bf16 with regional compile (``train.compile_scope: regional``)
  first, so that its compile seconds come back even when the time runs out
  (``extra.compile_s``: the first call, less one timed call), then eager fp32
  and eager bf16, the ratios as each comes;
* the largest batch that fits (eager bf16): on CUDA predicted from batch 512's
  peak memory and the free memory (``torch.cuda.mem_get_info``), then that
  batch and its double tried, the summary saying where the limit lies; on the
  CPU (``--smoke``) doubling from 8 up to ``--max-batch``.

Peak memory of the CUDA-graph rows is not reset after the capture (the graph's
memory is allocated while capturing; replays allocate nothing); every CUDA row
also records the allocator's reserved peak and what stays allocated between
steps (``extra.resident_bytes``: weights, gradients, optimizer states, inputs).
Summary lines are printed as they are found; a SIGINT (a time box's end) adds
one saying what was running. ``--parts`` runs a subset, so that a session can
give each part a time box of its own (``gpu_session.sh``); ``--time-limit``
(counted from the start, imports included) starts a measurement only while
time is left.

    python benchmarks/fast_step.py              # on the GPU
    python benchmarks/fast_step.py --smoke      # tiny, on the CPU (only what runs there)
"""

from __future__ import annotations

import gc
import sys
import time

STARTED = time.monotonic()  # --time-limit counts from here, the imports inside it

import torch  # noqa: E402
from common import Results, device_from, parser, recipe, timing  # noqa: E402

import icezoo  # noqa: E402
from icezoo.bench.harness import count_flops, measure  # noqa: E402
from icezoo.bench.recipes import _inputs  # noqa: E402
from icezoo.models import build_model  # noqa: E402
from icezoo.train.graphs import CudaGraphStep  # noqa: E402
from icezoo.train.objective import Objective  # noqa: E402
from icezoo.train.step import GANStep, make_optimizers  # noqa: E402


def build_step(rec, device, batch, precision, *, graphs=False, regional=False):
    """A fresh model and its step (eager, CUDA graph or regionally compiled), its inputs, and an eager twin for FLOPs."""
    torch.manual_seed(0)
    model = build_model(rec).to(device)
    objective = Objective(rec.loss, model.discriminator.head, rec.model.in_channels).to(device)
    opt_g, opt_d = make_optimizers(model, rec.train, capturable=graphs)
    eager = GANStep(model, objective, opt_g, opt_d, precision=precision)
    step = eager
    if graphs:
        step = CudaGraphStep(eager, random_fake_labels=True, num_classes=model.num_classes)
    elif regional:
        step = GANStep(model, objective, opt_g, opt_d, precision=precision, compile=True, compile_scope="regional")
    return step, eager, _inputs(model, batch, device, False)


def timed(results, rec, name, device, batch, precision, warmup, iters, **kind):
    step, eager, inputs = build_step(rec, device, batch, precision, **kind)
    graphs = bool(kind.get("graphs"))
    flops = count_flops(lambda: eager(*inputs)) if graphs else None  # before the capture: see the peak below
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)  # a graph row's peak: capture and replays, not reset between
    start = time.perf_counter()
    step(*inputs)  # the first call: capture or compile
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    first_s = time.perf_counter() - start
    label = "cuda graph" if graphs else "regional compile" if kind.get("regional") else "eager"
    m = measure(name, f"train step {label}", lambda: step(*inputs), batch=batch, device=device, precision=precision,
                compiled=bool(kind.get("regional")), warmup=warmup, iters=iters, flops=flops,
                eager_fn=lambda: eager(*inputs), reset_peak=not graphs, first_call_s=first_s)  # fmt: skip
    m.extra["compile_s"] = max(0.0, first_s - m.median_ms / 1e3) if kind.get("regional") else None
    if (
        device.type == "cuda"
    ):  # between steps: weights, gradients, optimizer states, inputs (what a batch does not scale)
        m.extra["resident_bytes"] = int(torch.cuda.memory_allocated(device))
    results.add(m)
    return m


def predict_largest(batch: int, peak: int, resident: int, free: int, safety: float = 0.9, multiple: int = 64) -> int:
    """The largest batch whose step should fit in ``free`` bytes, from one measured batch.

    Memory is modelled as ``resident + images * per_image``, ``per_image`` from the measured ``batch``'s
    ``peak`` (bytes allocated at the step's high point) less its ``resident`` bytes; ``safety`` of the free
    memory is used (the allocator's fragmentation) and the result rounded down to a ``multiple``, never below
    ``batch`` (which ran).
    """
    if not 0 <= resident < peak:
        raise ValueError(f"the peak ({peak} bytes) must exceed the resident memory ({resident} bytes)")
    per_image = (peak - resident) / batch
    fits = int((free * safety - resident) / per_image)
    return max(batch, fits // multiple * multiple)


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def doubling(rec, device, start: int, limit: int, deadline: float, results, name) -> str:
    """Double the batch from ``start`` (eager bf16) until out of memory, past ``limit`` or out of time.

    Returns the summary: the largest batch that ran and what ended the doubling.
    """
    best, batch, took = None, start, 0.0
    while True:
        if batch > limit:
            ended = f"the --max-batch cap ({limit}) reached: a lower bound, not a limit"
            break
        if time.monotonic() + 2 * took > deadline:  # the next batch takes about twice the last
            ended = f"out of time before batch {batch}: a lower bound, not a limit"
            break
        began = time.monotonic()
        try:
            timed(results, rec, name, device, batch, "bf16", 2, 5)
            best, took, batch = batch, time.monotonic() - began, batch * 2
        except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError's older name (torch < 2.5)
            ended = f"out of memory at batch {batch}"
            break
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return f"{best if best is not None else 'none'} ({ended})"


def largest_batch(rec, device, start: int, limit: int, deadline: float, results, name) -> str:
    """On CUDA: batch ``start``, the prediction from its peak memory (:func:`predict_largest`), then that batch
    and its double (eager bf16). Returns the summary: what ran, the prediction and its inputs, where the limit lies.
    """
    if device.type != "cuda":  # no allocator to read: doubling under the cap
        return doubling(rec, device, start, limit, deadline, results, name)
    began = time.monotonic()
    try:
        m = timed(results, rec, name, device, start, "bf16", 2, 5)
    except torch.cuda.OutOfMemoryError:
        return f"none (out of memory at batch {start})"
    took = time.monotonic() - began
    gc.collect()  # the 512 step's model and optimizer gone before the free memory is read
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    peak, resident = m.peak_memory_bytes, m.extra["resident_bytes"]
    predicted = predict_largest(start, peak, resident, free)
    basis = (
        f"predicted {predicted} from batch {start}'s peak {gib(peak)} ({gib(resident)} resident) and {gib(free)} free"
    )
    best, ended = start, None
    for batch in (predicted, 2 * predicted) if predicted > start else (2 * start,):
        if batch > limit:
            ended = f"batch {batch} is over the --max-batch cap ({limit}): a lower bound"
            break
        if time.monotonic() + took * batch / start > deadline:  # time grows with the batch
            ended = f"out of time before batch {batch}: a lower bound"
            break
        try:
            timed(results, rec, name, device, batch, "bf16", 2, 5)
            best = batch
        except torch.cuda.OutOfMemoryError:
            ended = f"out of memory at batch {batch}: the limit lies in [{best}, {batch})"
            break
        finally:
            torch.cuda.empty_cache()
    if ended is None:
        ended = f"batch {best} ran too: the prediction was low, a lower bound"
    return f"{best} ({basis}; {ended})"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--recipe", default="recipes/icegan.yaml")
    p.add_argument("--parts", default="graphs,compiled,largest", help="comma-separated: graphs, compiled, largest")
    p.add_argument("--max-batch", type=int, default=None,
                   help="the largest batch tried (default 65536; 16 with --smoke); the summary says if it was reached")  # fmt: skip
    p.add_argument("--time-limit", type=float, default=None, help="seconds: no measurement starts after them")
    args = p.parse_args()
    if args.max_batch is None:
        args.max_batch = 16 if args.smoke else 65536
    deadline = STARTED + (args.time_limit if args.time_limit is not None else float("inf"))
    device = device_from(args)
    warmup, iters = timing(args, (5, 30))
    overrides = (
        ["model.image_size=32", "model.generator.width=4", "model.discriminator.trunk.ndf=4"] if args.smoke else []
    )
    rec = icezoo.load_recipe(recipe("recipes/icegan_small.yaml" if args.smoke else args.recipe), overrides)
    name = rec.name or "recipe"
    results = Results("fast_step", device, args.out_dir, tag=args.tag, notes=__doc__.split("\n\n")[1])
    parts = args.parts.split(",")
    small, large = (2, 4) if args.smoke else (16, 256)

    def in_time(what: str) -> bool:
        if time.monotonic() < deadline:
            return True
        results.summarise(what, "not measured: out of time (--time-limit)")
        return False

    doing = ["start-up"]  # what runs now, for the line a SIGINT leaves

    def run_parts() -> None:
        if "graphs" in parts:
            doing[0] = f"eager fp32 at batch {small}"
            base = timed(results, rec, name, device, small, "fp32", warmup, iters)
            if device.type == "cuda":
                for precision in ("fp32", "bf16"):
                    key = f"cuda graph {precision} / eager fp32 at batch {small}"
                    if in_time(key):
                        doing[0] = f"cuda graph {precision} at batch {small}"
                        g = timed(results, rec, name, device, small, precision, warmup, iters, graphs=True)
                        results.summarise(key, f"{g.images_per_s / base.images_per_s:.2f}x")
        if "compiled" in parts:  # the compile first: its seconds are the number most likely to be cut off
            key, compiled = f"regional compile bf16 at batch {large}", None
            if args.no_compile:
                results.summarise(key, "not measured (--no-compile)")
            else:
                doing[0] = f"{key}: its first call, the compile"
                compiled = timed(results, rec, name, device, large, "bf16", warmup, iters, regional=True)
                mfu = f"{100 * compiled.mfu:.1f}%" if compiled.mfu is not None else "error (> peak)"
                results.summarise(key, f"compile {compiled.extra['compile_s']:.0f} s, "
                                  f"{compiled.images_per_s:.0f} img/s, MFU {mfu}")  # fmt: skip
            key = f"eager fp32 at batch {large}"
            if not in_time(key):
                return
            doing[0] = key
            base = timed(results, rec, name, device, large, "fp32", warmup, iters)
            if compiled is not None:
                results.summarise(f"regional compile bf16 / eager fp32 at batch {large}",
                                  f"{compiled.images_per_s / base.images_per_s:.2f}x")  # fmt: skip
            key = f"eager bf16 / eager fp32 at batch {large}"
            if in_time(key):
                doing[0] = f"eager bf16 at batch {large}"
                bf16 = timed(results, rec, name, device, large, "bf16", warmup, iters)
                results.summarise(key, f"{bf16.images_per_s / base.images_per_s:.2f}x")
        if "largest" in parts and (device.type == "cuda" or args.smoke):  # the CPU never runs out: smoke only
            doing[0] = "the largest batch"
            found = largest_batch(rec, device, large * 2, args.max_batch, deadline, results, name)
            how = "predicted" if device.type == "cuda" else "doubling"
            results.summarise(f"largest batch that fits (eager bf16, {how})", found)

    try:
        run_parts()
    except KeyboardInterrupt:  # a time box's end: say what it cut off (the rows so far are saved)
        results.summarise("interrupted", f"SIGINT after {time.monotonic() - STARTED:.0f} s, during {doing[0]}")
        sys.exit(130)
    results.finish()


if __name__ == "__main__":
    main()
