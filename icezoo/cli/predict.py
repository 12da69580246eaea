"""``icezoo predict CHECKPOINT --image FACE [--align] [--json]``: the expression of one face image."""

from __future__ import annotations

import argparse

from . import options

HELP = "recognise the expression of a face image with a trained model (class and scores)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint", help="checkpoint.pt of icezoo train, or a fold model folds/NAME.pt of eval --keep-models"
    )
    p.add_argument("--image", required=True, help="face image (any format Pillow reads)")
    p.add_argument("--align", action="store_true", help="crop the face by 68 landmarks (landmarks extra; else centre)")
    options.device(p, default="cpu", help="device for the model (default cpu)")
    options.json_output(p)
    options.plugins(p)


def run(args: argparse.Namespace) -> int:
    import json

    from ..inference.recognise import predict_image

    result = predict_image(
        args.checkpoint, args.image, align=None if args.align else False, device=args.device, allow_plugins=args.plugins
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['class']} ({result['crop']})")
    for name, score in result["scores"].items():
        print(f"  {name:<9} {score:.4g}")
    return 0
