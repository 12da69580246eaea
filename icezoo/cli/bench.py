"""``icezoo bench RECIPE... [--batch-sizes 16,64,256] [--precision fp32,bf16] [--compile] [--device D] [--what g,d,step] [--out FILE]``."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from . import options

HELP = "time generator, discriminator and training step: images/s, FLOPs, MFU, memory"


def _list(kind, choices=None):
    def parse(text: str):
        items = [kind(x.strip()) for x in text.split(",") if x.strip()]
        bad = [x for x in items if choices and x not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list{' of ' + ', '.join(choices) if choices else ''}, got {text!r}"
            )
        return items

    return parse


def _first(*values):
    return next(v for v in values if v is not None)


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.recipe(p, many=True)
    p.add_argument("--batch-sizes", type=_list(int), default=None, help="default: the recipe's bench.batch_sizes")
    p.add_argument(
        "--precision",
        type=_list(str, ["fp32", "bf16"]),
        default=None,
        help="fp32, bf16 or both (default: bench.precision)",
    )
    p.add_argument("--compile", action="store_true", help="also time the torch.compile'd variant of each")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode (e.g. reduce-overhead for CUDA graphs)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    options.device(p, help="cuda, cpu, ... (default: bench.device, auto)")
    p.add_argument(
        "--what",
        type=_list(str, ["g", "d", "step"]),
        default=None,
        help="g, d, step (default: all; for a Table I baseline, g is its input's feature extraction in clips/s "
        "and d its recogniser)",
    )
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--iters", type=int, default=None)
    options.out(p, "JSON file (a Markdown table is written beside it); default runs/bench/DEVICE-TIME.json")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..api import load_recipe
    from ..bench.harness import environment, markdown_table, mfu_text
    from ..bench.recipes import bench_recipe, cudnn_autotune
    from ..devices import resolve_device
    from ..errors import IcezooError
    from ..files import atomic_write_text, check_out

    if args.out:
        check_out(args.out, folder=False)
    for flag, values, least in (
        ("--batch-sizes", args.batch_sizes, 1),
        ("--iters", [args.iters], 1),
        ("--warmup", [args.warmup], 0),
    ):
        bad = [v for v in values or [] if v is not None and v < least]
        if bad:
            raise IcezooError(f"{flag}: must be at least {least}, got {bad[0]}")
    recipes = [load_recipe(path, args.overrides) for path in args.recipes]
    cfg = recipes[0].bench
    device = resolve_device(args.device or cfg.device)
    settings = {
        "batch_sizes": args.batch_sizes or cfg.batch_sizes,
        "precisions": args.precision or cfg.precision,
        "compile_variants": [False, True] if (args.compile or cfg.compile) else [False],
        "what": args.what or cfg.what,
        "warmup": _first(args.warmup, cfg.warmup, 5 if device.type == "cuda" else 1),
        "iters": _first(args.iters, cfg.iters, 20 if device.type == "cuda" else 3),
        "channels_last": args.channels_last,
        "compile_mode": args.compile_mode,
    }
    results = []
    with cudnn_autotune(device):
        env = environment(device)
        for recipe in recipes:
            for m in bench_recipe(recipe, device=device, **settings):
                results.append(m.to_dict())
                if m.what != "skipped":
                    print(
                        f"{m.name:>16} {m.what:<11} batch {m.batch:>4} {m.precision} {'compiled' if m.compiled else 'eager   '} "
                        f"{m.median_ms:9.2f} ms  {m.images_per_s:9.1f} {m.extra.get('unit', 'img/s')}  MFU {mfu_text(m.mfu)}",
                        flush=True,
                    )
                else:
                    print(f"{m.name:>16} batch {m.batch} {m.precision}: skipped ({m.extra['reason']})", flush=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", env["device"]).strip("-").lower()
    out = Path(args.out) if args.out else Path("runs") / "bench" / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        "environment": env, "settings": settings, "results": results,
        "recipes": [{"source": r.source, "overrides": r.overrides, "resolved": r.to_dict()} for r in recipes],
    }  # fmt: skip
    atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown_table(results, env, "icezoo bench " + " ".join(args.recipes)))
    print(f"wrote {out} and {out.with_suffix('.md')} ({torch.__version__}, {env['device']})")
    return 0
