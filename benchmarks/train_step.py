"""The whole ICE-GAN training step (D and G updates) over batch sizes: eager fp32 against the optimised paths.

Variants, all in one process: eager fp32 (TF32 matrix units allowed, the
PyTorch default for convolutions), eager bf16 autocast, bf16 + channels_last,
fp32 + torch.compile, bf16 + torch.compile, and bf16 + torch.compile with CUDA graphs
(mode reduce-overhead). The summary gives each variant's images/s over eager
fp32 at batch 16 and at the largest batch that fits.

    python benchmarks/train_step.py                 # on the GPU
    python benchmarks/train_step.py --smoke         # tiny, on the CPU
"""

from __future__ import annotations

from common import Results, device_from, mfu_text, parser, recipe, timing

import icezoo
from icezoo.bench.recipes import bench_recipe

VARIANTS = [
    ("eager fp32", dict(precisions=["fp32"], compile_variants=[False])),
    ("eager bf16", dict(precisions=["bf16"], compile_variants=[False])),
    ("eager bf16 channels_last", dict(precisions=["bf16"], compile_variants=[False], channels_last=True)),
    ("compiled fp32", dict(precisions=["fp32"], compile_variants=[True])),
    ("compiled bf16", dict(precisions=["bf16"], compile_variants=[True])),
    ("compiled bf16 cudagraphs", dict(precisions=["bf16"], compile_variants=[True], compile_mode="reduce-overhead")),
]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--recipe", default="recipes/icegan.yaml")
    p.add_argument("--batch-sizes", default="16,64,256,512")
    p.add_argument(
        "--compiled-batch-sizes", default="16,256", help="batch sizes for the compiled variants (compiling is slow)"
    )
    p.add_argument(
        "--variants", default=",".join(v for v, _ in VARIANTS), help="comma-separated subset of the variants"
    )
    args = p.parse_args()
    device = device_from(args)
    overrides = (
        ["model.image_size=32", "model.generator.width=8", "model.discriminator.trunk.ndf=8"] if args.smoke else []
    )
    rec = icezoo.load_recipe(recipe(args.recipe), overrides)
    batches = [2] if args.smoke else [int(b) for b in args.batch_sizes.split(",")]
    compiled_batches = [2] if args.smoke else [int(b) for b in args.compiled_batch_sizes.split(",")]
    warmup, iters = timing(args, full=(3, 10))
    results = Results(
        "train_step",
        device,
        args.out_dir,
        tag=args.tag,
        notes=f"Recipe {args.recipe}; random inputs on the device; Adam (fused on CUDA).",
    )
    wanted = [v.strip() for v in args.variants.split(",")]
    for label, variant in VARIANTS:
        if label not in wanted:
            continue
        compiled = variant["compile_variants"] == [True]
        if compiled and (
            args.no_compile or (variant.get("compile_mode") == "reduce-overhead" and device.type != "cuda")
        ):
            continue
        sizes = compiled_batches if compiled else batches
        for m in bench_recipe(
            rec, device=device, batch_sizes=sizes, what=["step"], warmup=warmup, iters=iters, name=label, **variant
        ):
            results.add(m)
        summarize(results)
    results.finish()


def summarize(results: Results) -> None:
    steps = [r for r in results.rows if r["what"] == "train step"]
    base = {r["batch"]: r["images_per_s"] for r in steps if r["name"] == "eager fp32"}
    if not base:
        return
    largest = max(base)
    for r in steps:
        if r["name"] != "eager fp32" and r["batch"] in base:
            results.summary[f"{r['name']} / eager fp32 at batch {r['batch']}"] = (
                f"{r['images_per_s'] / base[r['batch']]:.2f}x"
            )
    best = max(steps, key=lambda r: r["mfu"] or 0.0)  # None: above the measured peak, a measurement error
    oom = [r["batch"] for r in results.rows if r["what"] == "skipped" and r["name"] == "eager fp32"]
    results.summary["largest batch measured (eager fp32)"] = f"{largest}" + (
        f"; {min(oom)} ran out of memory" if oom else "; nothing larger was tried"
    )
    results.summary["best MFU"] = f"{mfu_text(best['mfu'])} ({best['name']}, batch {best['batch']})"
    results.save()


if __name__ == "__main__":
    main()
