"""``icezoo eval RECIPE --protocol loso|sde|split [--shard I/N] [--merge] [--out DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import options

HELP = "train and test every fold of a protocol (loso, sde, split); UF1 / UAR report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.recipe(p)
    options.protocol(p, None, help="default: the recipe's eval.protocol")
    p.add_argument("--shard", default=None, metavar="I/N", help="run only shard I of N of the folds (1-based)")
    p.add_argument("--merge", action="store_true", help="only pool the folds already in --out and write the report")
    options.out(p, "output folder (default runs/eval-NAME-PROTOCOL)")
    options.device(p)
    options.no_progress(p)


def run(args: argparse.Namespace) -> int:
    from ..api import load_recipe
    from ..eval.protocols import parse_shard
    from ..eval.runner import evaluate

    recipe = load_recipe(args.recipe, args.overrides)
    protocol = args.protocol or recipe.eval.protocol
    out = Path(args.out) if args.out else Path("runs") / f"eval-{recipe.name or Path(args.recipe).stem}-{protocol}"
    metrics = evaluate(
        recipe,
        protocol,
        out,
        shard_of=parse_shard(args.shard),
        merge_only=args.merge,
        progress=not args.no_progress,
        device=args.device,
    )
    if metrics is None:
        print(f"shard {args.shard} done; the report is written once every fold is in {out} (or run with --merge)")
        return 0
    o = metrics["overall"]
    print(
        f"{recipe.name} {protocol}: UF1 {o['uf1']:.3f}, UAR {o['uar']:.3f} on {o['n']} clips from {metrics['folds']} fold(s); report in {out}/table.md"
    )
    return 0
