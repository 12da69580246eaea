"""The training step's fast paths against eager: whole-step CUDA graphs, regional compile, the largest batch.

* batch 16 (the paper's): eager fp32 against the step captured as one CUDA
  graph (``train.cuda_graphs``), fp32 and bf16;
* batch 256: eager fp32 against eager bf16 and bf16 with regional compile
  (``train.compile_scope: regional``), its compile seconds recorded
  (``extra.compile_s``: the first call, less one timed call);
* the largest batch that fits (eager bf16, doubling from 256 until out of
  memory or ``--max-batch``).

    python benchmarks/fast_step.py              # on the GPU
    python benchmarks/fast_step.py --smoke      # tiny, on the CPU (only what runs there)
"""

from __future__ import annotations

import time

import torch
from common import Results, device_from, parser, recipe, timing

import icezoo
from icezoo.bench.harness import measure
from icezoo.bench.recipes import _inputs
from icezoo.models import build_model
from icezoo.train.graphs import CudaGraphStep
from icezoo.train.objective import Objective
from icezoo.train.step import GANStep, make_optimizers


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
    flops_fn = lambda: eager(*inputs)  # noqa: E731
    start = time.perf_counter()
    step(*inputs)  # the first call: capture or compile
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    first_s = time.perf_counter() - start
    label = "cuda graph" if kind.get("graphs") else "regional compile" if kind.get("regional") else "eager"
    m = measure(name, f"train step {label}", lambda: step(*inputs), batch=batch, device=device, precision=precision,
                compiled=bool(kind.get("regional")), warmup=warmup, iters=iters, eager_fn=flops_fn,
                first_call_s=first_s)  # fmt: skip
    m.extra["compile_s"] = max(0.0, first_s - m.median_ms / 1e3) if kind.get("regional") else None
    results.add(m)
    return m


def largest_batch(rec, device, start: int, limit: int, warmup: int, iters: int, results, name) -> int | None:
    best, batch = None, start
    while batch <= limit:
        try:
            timed(results, rec, name, device, batch, "bf16", warmup, iters)
            best, batch = batch, batch * 2
        except torch.OutOfMemoryError:
            break
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return best


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--recipe", default="recipes/icegan.yaml")
    p.add_argument("--parts", default="graphs,compiled,largest", help="comma-separated: graphs, compiled, largest")
    p.add_argument("--max-batch", type=int, default=4096)
    args = p.parse_args()
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
    if "graphs" in parts:
        base = timed(results, rec, name, device, small, "fp32", warmup, iters)
        if device.type == "cuda":
            for precision in ("fp32", "bf16"):
                g = timed(results, rec, name, device, small, precision, warmup, iters, graphs=True)
                results.summary[f"cuda graph {precision} / eager fp32 at batch {small}"] = (
                    f"{g.images_per_s / base.images_per_s:.2f}x"
                )
    if "compiled" in parts:
        base = timed(results, rec, name, device, large, "fp32", warmup, iters)
        bf16 = timed(results, rec, name, device, large, "bf16", warmup, iters)
        results.summary[f"eager bf16 / eager fp32 at batch {large}"] = f"{bf16.images_per_s / base.images_per_s:.2f}x"
        if not args.no_compile:
            c = timed(results, rec, name, device, large, "bf16", warmup, iters, regional=True)
            results.summary[f"regional compile bf16 / eager fp32 at batch {large}"] = (
                f"{c.images_per_s / base.images_per_s:.2f}x (compile {c.extra['compile_s']:.0f} s, MFU {100 * c.mfu:.1f}%)"
            )
    if "largest" in parts and device.type == "cuda":
        best = largest_batch(rec, device, large * 2, args.max_batch, 2, 5, results, name)
        results.summary["largest batch that fits (eager bf16, doubling)"] = best
    results.finish()


if __name__ == "__main__":
    main()
