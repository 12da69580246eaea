"""``icezoo convert-release GEN.pth DISC.pth --out CKPT`` (ICE-GAN) or ``--ststnet WEIGHTS.pth --out CKPT``
(STSTNet): the authors' released weights as an icezoo checkpoint."""

from __future__ import annotations

import argparse

from . import options

HELP = "turn state dicts saved from the authors' released classes (ICE-GAN or STSTNet) into an icezoo checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("generator", nargs="?", help="torch.save(Generator(...).state_dict()) of the ICE-GAN release")
    p.add_argument(
        "discriminator", nargs="?", help="torch.save(Discriminator(...).state_dict()) of the ICE-GAN release"
    )
    p.add_argument(
        "--ststnet",
        metavar="WEIGHTS.pth",
        help="instead: one of christy1206/STSTNet's STSTNet_Weights/*.pth (scores permuted to icezoo's class order)",
    )
    options.out(p, "the checkpoint to write (read by icezoo synth, --resume and icezoo.load_checkpoint)", required=True)
    options.overrides(p)


def run(args: argparse.Namespace) -> int:
    from ..errors import IcezooError

    if args.ststnet is not None:
        if args.generator or args.discriminator or args.overrides:
            raise IcezooError("convert-release --ststnet takes one state dict and no GEN.pth, DISC.pth or --set")
        from ..convert import write_ststnet_checkpoint

        path = write_ststnet_checkpoint(args.ststnet, args.out)
        print(f"wrote {path}: the released STSTNet's weights as icezoo's ststnet, scores in icezoo's class order")
        return 0
    if not (args.generator and args.discriminator):
        raise IcezooError("convert-release needs GEN.pth and DISC.pth (the ICE-GAN release) or --ststnet WEIGHTS.pth")
    from ..convert import write_release_checkpoint

    path = write_release_checkpoint(args.generator, args.discriminator, args.out, args.overrides)
    print(f"wrote {path}: the release's weights under recipes/icegan_release.yaml")
    return 0
