"""``icezoo export CHECKPOINT --out DIR``: a checkpoint or fold model as a model folder to share."""

from __future__ import annotations

import argparse

from . import options

HELP = "write a model folder to share: model.safetensors (no pickle), the resolved recipe and a model card"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint", help="checkpoint.pt of icezoo train or a fold model RUN/folds/NAME.pt of eval --keep-models"
    )
    options.out(p, "the model folder to write (predict, synth and icezoo.load_checkpoint read it)", required=True)
    options.plugins(p)


def run(args: argparse.Namespace) -> int:
    from ..export import export_model

    out = export_model(args.checkpoint, args.out, allow_plugins=args.plugins)
    print(f"wrote {out}: model.safetensors, recipe.yaml, model.json and the model card README.md")
    return 0
