"""``icezoo synth-metrics RUN``: identity, expression, KID/FID and motion of an eval run's synthesised faces."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import options

HELP = "measure the synthesised faces of an eval run folder (identity, expression, KID/FID, motion)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="an icezoo eval run folder whose fold models were kept (--keep-models)")
    options.device(p, default="cpu", help="device for the fold models (default cpu)")
    options.plugins(p)
    p.add_argument(
        "--network",
        help="KID/FID feature network instead of the recipe's eval.synthesis_network: fer_xception or a timm model name",
    )
    p.add_argument("--network-weights", metavar="FILE", help="local weights file of a timm --network")


def run(args: argparse.Namespace) -> int:
    from ..errors import IcezooError
    from ..eval.synthesis.run import synth_metrics
    from ..eval.synthesis.summary import markdown
    from ..train.checkpoint import load_run_recipe

    recipe_file = Path(args.run) / "recipe.yaml"
    if not recipe_file.is_file():
        raise IcezooError(f"{args.run}: not an icezoo eval run folder (no recipe.yaml)")
    recipe = load_run_recipe(args.run, args.plugins)
    network = None
    if args.network is not None or args.network_weights is not None:
        from ..eval.synthesis.distribution import feature_network

        network = feature_network(args.network or recipe.eval.synthesis_network, args.network_weights)
    result = synth_metrics(recipe, args.run, device=args.device, allow_plugins=args.plugins, network=network)
    print(markdown(result["pooled"]), end="")
    print(f"wrote {Path(args.run) / 'synthesis.json'} and the section of table.md")
    return 0
