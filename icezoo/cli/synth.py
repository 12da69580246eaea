"""``icezoo synth CHECKPOINT --onset IMAGE``: faces from a trained generator, and Fig. 5's difference maps."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import options

HELP = "synthesise faces from a trained generator, with difference maps"

CLASSES = ("positive", "negative", "surprise")
"""``icezoo.data.CLASSES``, spelled out so ``--help`` needs no torch (a test keeps the two equal)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        help="a checkpoint.pt of icezoo train, a fold model, a model folder of icezoo export or hf-hub:ORG/NAME (cached)",
    )
    p.add_argument(
        "--onset",
        required=True,
        help="image of a neutral (onset) face, cropped as --align / --no-align say, then resized",
    )
    options.face_crop(p)
    p.add_argument("--label", default="all", choices=[*CLASSES, "all"], help="class to synthesise (default all)")
    p.add_argument("--n", type=int, default=4, help="faces per class (different noise)")
    p.add_argument("--seed", type=int, default=0)
    options.out(p, "output folder (default runs/synth-TIMESTAMP)")
    options.device(p, default="cpu", help="device for the generator (default cpu)")
    options.plugins(p)


def run(args: argparse.Namespace) -> int:
    from ..inference.synth import write_synth

    out = args.out or Path("runs") / f"synth-{time.strftime('%Y%m%d-%H%M%S')}"
    count = write_synth(
        args.checkpoint,
        args.onset,
        out,
        args.label,
        args.n,
        args.seed,
        args.device,
        args.align,
        allow_plugins=args.plugins,
    )
    print(f"wrote {count} faces, grid.png and difference.png to {out}")
    return 0
