"""``icezoo ablate RECIPES... --protocol split``: several recipes, one protocol, one comparison table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipes", nargs="+", help="recipe YAML files")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a key in every recipe")
    p.add_argument("--protocol", choices=["loso", "sde", "split"], default="split")
    p.add_argument("--out", default="runs/ablation", help="output folder (one sub-folder per recipe, comparison.md on top)")
    p.add_argument("--device", default=None)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..config.loader import load_recipe
    from ..io import atomic_write_text
    from .runner import evaluate
    from .report import table_ablation

    recipes = [load_recipe(path, args.overrides) for path in args.recipes]  # validate them all before training any
    names = [r.name or Path(r.source).stem for r in recipes]
    if len(set(names)) != len(names):
        from ..errors import IcezooError

        raise IcezooError(f"recipes must have distinct names for one comparison, got {names}")
    out = Path(args.out)
    entries = []
    for recipe, name in zip(recipes, names):
        metrics = evaluate(recipe, args.protocol, out / name, progress=not args.no_progress, device=args.device)
        entries.append({"name": name, "paper": metrics["paper"], "overall": metrics["overall"], "discriminator_mb": metrics["discriminator_mb"]})
        print(f"{name}: UF1 {metrics['overall']['uf1']:.3f}, UAR {metrics['overall']['uar']:.3f}")
    table = table_ablation(entries)
    atomic_write_text(out / "comparison.md", f"# Ablation ({args.protocol} protocol)\n\n{table}\n")
    atomic_write_text(out / "comparison.json", json.dumps(entries, indent=2) + "\n")
    print(table)
    return 0
