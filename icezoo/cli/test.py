"""``icezoo test RUN_DIR [--out DIR]``: re-score an eval run's saved fold models, without training."""

from __future__ import annotations

import argparse

from . import options

HELP = "re-score the fold models an eval saved (--keep-models) on their test subjects; compares predictions.csv"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="the run folder of `icezoo eval ... --keep-models`")
    options.out(p, "where to write the new predictions.csv (default RUN_DIR/retest)")
    options.device(p, default="cpu", help="device for the models (default cpu)")
    options.plugins(p)
    options.allow_mixed_versions(p)


def run(args: argparse.Namespace) -> int:
    from ..eval.retest import retest

    path, same, warning = retest(args.run_dir, args.out, args.device, args.plugins, args.allow_mixed_versions)
    if warning:
        print(warning)
    verdict = "identical to" if same else "DIFFERENT from"
    print(f"wrote {path}: {verdict} {args.run_dir}/predictions.csv")
    return 0 if same else 1
