"""``icezoo build RECIPE [--set ...] [--json] [--depth N]``: the recipe's model, one forward pass, its size and cost."""

from __future__ import annotations

import argparse
import json

from . import options

HELP = "build a recipe's model, run one forward pass, print parameters, FLOPs and shapes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.recipe(p)
    options.json_output(p)
    p.add_argument(
        "--depth", type=int, default=1, help="levels of sub-modules to show under each component (default 1)"
    )
    options.device(p, default="cpu", help="device for the dummy forward pass (default cpu)")


def run(args: argparse.Namespace) -> int:
    from ..api import load_recipe
    from ..devices import resolve_device
    from ..models import build_model
    from ..summary import format_table, summarize, summarize_baseline

    recipe = load_recipe(args.recipe, args.overrides)
    device = resolve_device(args.device, "--device")
    model = build_model(recipe).to(device)
    nodes = (summarize_baseline if recipe.model.is_baseline else summarize)(model, depth=args.depth)
    if args.json:
        total_p, total_f = sum(n.params for n in nodes), sum(n.flops for n in nodes)
        print(json.dumps({
            "recipe": recipe.source, "name": recipe.name, "overrides": recipe.overrides, "device": str(device),
            "components": [n.to_dict() for n in nodes],
            "total": {"params": total_p, "mb_fp32": round(total_p * 4 / 1e6, 3), "flops_per_image": total_f},  # per clip for a baseline
        }, indent=2))  # fmt: skip
    else:
        title = f"{recipe.name or recipe.source}: {recipe.description}".rstrip(": ")
        print(format_table(nodes, title))
    return 0
