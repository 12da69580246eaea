"""``icezoo ablate RECIPES... --protocol split``: several recipes, one protocol, one comparison table."""

from __future__ import annotations

import argparse

from . import options

HELP = "several recipes under one protocol, one comparison table"


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.recipe(p, many=True)
    options.protocol(p, "split")
    options.out(p, "output folder (one sub-folder per recipe, comparison.md on top)", default="runs/ablation")
    options.device(p)
    options.no_progress(p)


def run(args: argparse.Namespace) -> int:
    from ..api import load_recipe
    from ..eval.ablate import ablate

    recipes = [load_recipe(path, args.overrides) for path in args.recipes]  # validate them all before training any
    print(ablate(recipes, args.protocol, args.out, progress=not args.no_progress, device=args.device))
    return 0
