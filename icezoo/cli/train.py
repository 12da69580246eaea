"""``icezoo train RECIPE [--set ...] [--out DIR] [--resume [auto]]``, also as ``torchrun --nproc-per-node N -m icezoo train ...``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import options

HELP = "train a recipe (progress bar, run folder, checkpoints, --resume)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.recipe(p)
    options.out(p, "run folder (default runs/NAME-TIMESTAMP)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="yes",
        choices=("yes", "auto"),
        default=None,
        metavar="auto",
        help="continue the run in --out from its checkpoint; --resume auto: continue it if there is one, else start "
        "(one command line for torchrun --max-restarts and requeued jobs)",
    )
    options.device(p)
    options.no_progress(p)
    options.plugins(p)


def run(args: argparse.Namespace) -> int:
    from ..api import load_recipe
    from ..devices import resolve_device
    from ..errors import IcezooError
    from ..train.distributed import from_environment, shutdown
    from ..train.trainer import Trainer

    if args.plugins:
        from ..registry import registry

        registry.plugins.load_modules(args.plugins)
    recipe = load_recipe(args.recipe, args.overrides)
    if recipe.model.is_baseline:  # a recogniser on its input (Table I): fitted on every clip, one checkpoint
        from ..recognition.fit import train_baseline

        out = Path(args.out or Path("runs") / f"{recipe.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        path, step = train_baseline(recipe, out, device=args.device, progress=not args.no_progress)
        print(f"trained {step} steps; checkpoint: {path}")
        return 0
    if args.resume and args.out is None:
        raise IcezooError("--resume needs --out DIR, the run folder to continue")
    device = resolve_device(args.device or recipe.train.device, "train.device")
    distributed = from_environment(device.type)  # several processes under torchrun, else one
    try:
        out = (
            Path(args.out)
            if args.out
            else Path("runs") / f"{recipe.name or Path(args.recipe).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        out = distributed.broadcast_object(out)  # process 0's clock names the folder
        resume = {None: False, "yes": True, "auto": "auto"}[args.resume]
        trainer = Trainer(
            recipe, out, resume=resume, progress=not args.no_progress, device=args.device, distributed=distributed
        )
        result = trainer.run()
    finally:
        shutdown()
    if not distributed.main:
        return 0
    last = result.history[-1] if result.history else {}
    losses = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.endswith("_total"))
    print(f"trained {result.step} steps ({losses}); run folder: {out}")
    return 0
