"""Reasoning blocks side by side at every encoder level of the paper's generator, and in the whole generator.

Per level (C x H x W of f_enc_1..6 at 128x128: 64x64x64 ... 512x2x2) each
block's forward + backward; then the generator's forward + backward with
each block on every level (``none`` removes the bridges). The summary gives
the PyG GRM's time over the einsum GRM's, level by level and in the
generator.

    python benchmarks/reasoning_blocks.py [--smoke]
"""

from __future__ import annotations

import torch
from common import Results, device_from, parser, recipe, timing

import icezoo
from icezoo.bench.harness import measure
from icezoo.devices import autocast
from icezoo.registry import registry

LEVELS = [(64, 64), (128, 32), (256, 16), (512, 8), (512, 4), (512, 2)]
BLOCKS = {
    "skip": {"type": "skip"},
    "se": {"type": "se"},
    "grm PyG": {"type": "grm"},
    "grm einsum": {"type": "grm_einsum"},
    "grm PyG gcn": {"type": "grm", "layer": "gcn"},
    "grm einsum gcn": {"type": "grm_einsum", "layer": "gcn"},
    "grm_release": {"type": "grm_release"},
}


def fwd_bwd(module, x, grad, device, precision):
    def call():
        with autocast(device, precision):
            out = module(x)
        out.backward(grad.to(out.dtype))

    return call


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--generator-batch", type=int, default=16)
    p.add_argument(
        "--compile-levels", default="1,4", help="encoder levels (1-6) where the two GRMs are also timed compiled (bf16)"
    )
    args = p.parse_args()
    device = device_from(args)
    levels = [(8, 8), (16, 4)] if args.smoke else LEVELS
    batch = 2 if args.smoke else args.batch
    warmup, iters = timing(args, full=(5, 20))
    results = Results(
        "reasoning_blocks",
        device,
        args.out_dir,
        tag=args.tag,
        notes="Forward + backward per block; the generator rows are forward + backward of identity_unet.",
    )
    precisions = ["fp32", "bf16"]
    compile_levels = {int(i) for i in args.compile_levels.split(",")} if not args.no_compile else set()
    for level, (channels, size) in enumerate(levels, start=1):
        x = torch.randn(batch, channels, size, size, device=device, requires_grad=True)
        grad = torch.randn_like(x)
        for label, spec in BLOCKS.items():
            for precision in precisions:
                compile_here = label in ("grm PyG", "grm einsum") and precision == "bf16" and level in compile_levels
                variants = [False, True] if compile_here else [False]
                for compiled in variants:
                    torch.manual_seed(0)
                    block = registry.build("reasoning", spec, channels=channels).to(device)
                    fast = torch.compile(block) if compiled else block
                    results.add(
                        measure(
                            f"{label} @ {channels}x{size}x{size}",
                            "block fwd+bwd",
                            fwd_bwd(fast, x, grad, device, precision),
                            eager_fn=fwd_bwd(block, x, grad, device, precision),
                            batch=batch,
                            device=device,
                            precision=precision,
                            compiled=compiled,
                            warmup=warmup + 2 * compiled,
                            iters=iters,
                        )
                    )
    # the whole generator with each block
    overrides = ["model.image_size=32", "model.generator.width=8"] if args.smoke else []
    gen_batch = 2 if args.smoke else args.generator_batch
    for label in ["none", "skip", "se", "grm", "grm_einsum", "grm_release"]:
        rec = icezoo.load_recipe(recipe("recipes/icegan.yaml"), overrides + [f"model.generator.reasoning.type={label}"])
        torch.manual_seed(0)
        gen = icezoo.build_model(rec).generator.to(device)
        s = rec.model.image_size
        x_on = torch.randn(gen_batch, 1, s, s, device=device)
        z = torch.randn(gen_batch, 100, device=device)
        c = torch.eye(3, device=device)[torch.arange(gen_batch, device=device) % 3]
        for precision in precisions:

            def call(precision=precision, gen=gen, x_on=x_on, z=z, c=c):
                with autocast(device, precision):
                    out = gen(x_on, z, c)
                out.float().square().mean().backward()

            results.add(
                measure(
                    f"generator with {label}",
                    "G fwd+bwd",
                    call,
                    batch=gen_batch,
                    device=device,
                    precision=precision,
                    compiled=False,
                    warmup=warmup,
                    iters=iters,
                )
            )
        del gen
    summarize(results)
    results.finish()


def summarize(results: Results) -> None:
    rows = {(r["name"], r["precision"], r["compiled"]): r for r in results.rows}
    for (name, precision, compiled), r in rows.items():
        if name.startswith("grm PyG @") or name == "generator with grm":
            ref_name = (
                name.replace("grm PyG", "grm einsum") if name.startswith("grm PyG") else "generator with grm_einsum"
            )
            ref = rows.get((ref_name, precision, compiled))
            if ref:
                results.summary[
                    f"PyG / einsum time, {name.replace('grm PyG @ ', '')} {precision}{' compiled' if compiled else ''}"
                ] = f"{r['median_ms'] / ref['median_ms']:.2f}x"
    results.save()


if __name__ == "__main__":
    main()
