"""Capsule head against CNN heads, and dynamic-routing iterations 1 / 3 / 5.

Discriminator forward (inference) and forward + backward of its losses, for
the capsule discriminator of icegan.yaml with 1, 3 and 5 routing iterations,
with the trunk's max-pooled downsampling (``downsample: max``), Table IV's DCNN and the DCNN of comparable size.

    python benchmarks/discriminator_heads.py [--smoke]
"""

from __future__ import annotations

import torch
from common import Results, device_from, parser, recipe, timing

import icezoo
from icezoo.bench.harness import measure
from icezoo.devices import autocast

CONFIGS = {
    "capsule, 1 routing iteration": ("recipes/icegan.yaml", ["model.discriminator.head.routing_iterations=1"]),
    "capsule, 3 routing iterations": ("recipes/icegan.yaml", []),
    "capsule, 5 routing iterations": ("recipes/icegan.yaml", ["model.discriminator.head.routing_iterations=5"]),
    "capsule, max-pooled trunk": ("recipes/icegan.yaml", ["model.discriminator.trunk.downsample=max"]),
    "DCNN": ("recipes/table4/dcnn.yaml", []),
    "DCNN, comparable size": ("recipes/table4/dcnn_comparable.yaml", []),
}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--batch-sizes", default="16,256")
    args = p.parse_args()
    device = device_from(args)
    smoke = ["model.image_size=32", "model.discriminator.trunk.ndf=8"] if args.smoke else []
    batches = [2] if args.smoke else [int(b) for b in args.batch_sizes.split(",")]
    warmup, iters = timing(args, full=(5, 20))
    results = Results(
        "discriminator_heads",
        device,
        args.out_dir,
        tag=args.tag,
        notes="D forward is inference (eval, no grad); D fwd+bwd is the classification and adversarial loss, backward.",
    )
    for label, (path, overrides) in CONFIGS.items():
        capsule_smoke = ["model.discriminator.head.recon_hidden=[16]"] if args.smoke and "dcnn" not in path else []
        rec = icezoo.load_recipe(recipe(path), smoke + capsule_smoke + overrides)
        torch.manual_seed(0)
        model = icezoo.build_model(rec).to(device)
        disc = model.discriminator
        s = rec.model.image_size
        for batch in batches:
            x = torch.rand(batch, 1, s, s, device=device) * 2 - 1
            labels = torch.arange(batch, device=device) % 3
            for precision in ("fp32", "bf16"):

                def forward(precision=precision, disc=disc, x=x):
                    with torch.no_grad(), autocast(device, precision):
                        return disc.eval()(x)

                def train(precision=precision, disc=disc, x=x, labels=labels):
                    with autocast(device, precision):
                        out = disc.train()(x, labels)
                    loss = out.cls.float().square().mean() + out.adv.float().mean()
                    if out.recon is not None:
                        loss = loss + out.recon.float().mean()
                    loss.backward()

                for what, fn in (("D forward", forward), ("D fwd+bwd", train)):
                    results.add(
                        measure(label, what, fn, batch=batch, device=device, precision=precision, compiled=False,
                                warmup=warmup, iters=iters)
                    )  # fmt: skip
        del model
    results.finish()


if __name__ == "__main__":
    main()
