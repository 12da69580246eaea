"""``icezoo convert-release GEN.pth DISC.pth --out CKPT``: the authors' released weights as an icezoo checkpoint."""

from __future__ import annotations

import argparse

from . import options

HELP = "turn state dicts saved from the authors' released classes into an icezoo checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("generator", help="torch.save(Generator(...).state_dict()) of the release")
    p.add_argument("discriminator", help="torch.save(Discriminator(...).state_dict()) of the release")
    options.out(p, "the checkpoint to write (read by icezoo synth, --resume and icezoo.load_checkpoint)", required=True)
    options.overrides(p)


def run(args: argparse.Namespace) -> int:
    from ..convert import write_release_checkpoint

    path = write_release_checkpoint(args.generator, args.discriminator, args.out, args.overrides)
    print(f"wrote {path}: the release's weights under recipes/icegan_release.yaml")
    return 0
