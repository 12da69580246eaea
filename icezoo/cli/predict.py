"""``icezoo predict MODEL (--image FACE | --frames DIR | --video FILE) [--align | --no-align] [--json]``: a face's expression.

MODEL is a checkpoint, a fold model, a model folder of ``icezoo export`` or ``hf-hub:ORG/NAME`` (local cache).
The output names the data the model was trained on and what its scores are; a model trained on the synthetic
faces adds one line saying its answer on a photograph is not meaningful.
"""

from __future__ import annotations

import argparse

from . import options

HELP = "recognise the expression of a face image or clip with a trained model (class and scores)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        help="checkpoint.pt of icezoo train, a fold model folds/NAME.pt of eval --keep-models, a model folder of "
        "icezoo export, or hf-hub:ORG/NAME from the local Hub cache",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", help="face image (any format Pillow reads)")
    what.add_argument(
        "--frames", help="a clip as a folder of frame images (name order; the first is the onset): the apex is found"
    )
    what.add_argument("--video", help="a clip as a video file (the video extra: imageio with PyAV): the apex is found")
    options.face_crop(p)
    options.device(p, default="cpu", help="device for the model (default cpu)")
    options.json_output(p)
    options.plugins(p)


def run(args: argparse.Namespace) -> int:
    import json

    from ..inference.recognise import predict_clip, predict_image

    if args.image is not None:
        result = predict_image(
            args.checkpoint, args.image, align=args.align, device=args.device, allow_plugins=args.plugins
        )
    else:
        result = predict_clip(
            args.checkpoint, frames=args.frames, video=args.video, align=args.align, device=args.device,
            allow_plugins=args.plugins,
        )  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    where = f", apex frame {result['apex_frame']} of {result['frame_count']}" if "apex_frame" in result else ""
    print(f"{result['class']} ({result['crop']}{where})")
    if result["caution"]:
        print(result["caution"])
    print(f"trained on: {result['data'].removeprefix('Data: ')}")
    print(f"scores: {result['score_kind']} ({result['score_meaning']})")
    for name, score in result["scores"].items():
        prob = f"  (probability {result['probabilities'][name]:.3f})" if "probabilities" in result else ""
        print(f"  {name:<9} {score:.4g}{prob}")
    return 0
