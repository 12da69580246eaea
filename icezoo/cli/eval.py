"""``icezoo eval RECIPE --protocol loso|sde|split [--shard I/N] [--merge] [--keep-models] [--seeds N] [--out DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import IcezooError
from . import options

HELP = "train and test every fold of a protocol (loso, sde, split); UF1 / UAR report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.recipe(p)
    options.protocol(p, None, help="default: the recipe's eval.protocol")
    p.add_argument("--shard", default=None, metavar="I/N", help="run only shard I of N of the folds (1-based)")
    p.add_argument("--merge", action="store_true", help="only pool the folds already in --out and write the report")
    p.add_argument("--keep-models", action="store_true", help="save each fold's model as folds/NAME.pt (icezoo test)")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="repeat with N training seeds; mean +- SD")
    options.allow_mixed_versions(p)
    options.out(p, "output folder (default runs/eval-NAME-PROTOCOL)")
    options.device(p)
    options.no_progress(p)
    options.parallel(p)


def run(args: argparse.Namespace) -> int:
    from ..api import load_recipe
    from ..errors import IcezooError
    from ..eval.protocols import parse_shard
    from ..eval.runner import evaluate
    from ..eval.seeds import evaluate_seeds

    recipe = load_recipe(args.recipe, args.overrides)
    protocol = args.protocol or recipe.eval.protocol
    out = Path(args.out) if args.out else Path("runs") / f"eval-{recipe.name or Path(args.recipe).stem}-{protocol}"
    if args.seeds < 1:
        raise IcezooError(f"--seeds {args.seeds}: must be at least 1")
    if args.seeds > 1 and ((args.workers or 1) > 1 or args.launcher != "processes"):
        raise IcezooError("--seeds repeats a whole protocol: run one seed per call with --workers (--set train.seed=S)")
    evaluate = _in_parallel(args, evaluate)  # --workers N / --launcher ray: the same call, folds run in parallel
    kwargs = dict(shard_of=parse_shard(args.shard), merge_only=args.merge, progress=not args.no_progress,
                  device=args.device, keep_models=args.keep_models,
                  allow_mixed_versions=args.allow_mixed_versions)  # fmt: skip
    if args.seeds > 1:
        summary = evaluate_seeds(recipe, protocol, out, args.seeds, **kwargs)
        if summary is not None:
            print(f"{summary['warning']}\n" if summary["warning"] else "", end="")
            from ..eval.seeds import headline as seeds_headline

            print(f"{recipe.name} {protocol} over {args.seeds} seeds: {seeds_headline(summary)}; "
                  f"summary in {out}/seeds.md")  # fmt: skip
            return 0
        metrics = None
    else:
        metrics = evaluate(recipe, protocol, out, **kwargs)
    if metrics is None:
        print(f"shard {args.shard} done; the report is written once every fold is in {out} (or run with --merge)")
        return 0
    print(f"{metrics['warning']}" if "warning" in metrics else "", end="\n" if "warning" in metrics else "")
    print(f"{recipe.name} {protocol}: {headline(metrics)} from {metrics['folds']} fold(s); report in {out}/table.md")
    return 0


def headline(metrics: dict) -> str:
    """The run's figure as its table reports it: per database for sde (Table II's F1), else pooled UF1 / UAR."""
    o, ci = metrics["overall"], metrics.get("interval_95") or {}
    if metrics["protocol"] == "sde":
        per = ci.get("per_dataset") or {}
        return "; ".join(
            f"{d} F1 {v['f1']:.3f}" + (f" [{per[d]['uf1'][0]:.3f}, {per[d]['uf1'][1]:.3f}]" if d in per else "")
            + f" on {v['n']} clips"
            for d, v in metrics["per_dataset"].items()
        )  # fmt: skip
    span = (
        f" (95% CI UF1 [{ci['uf1'][0]:.3f}, {ci['uf1'][1]:.3f}], UAR [{ci['uar'][0]:.3f}, {ci['uar'][1]:.3f}])"
        if ci
        else ""
    )
    return f"UF1 {o['uf1']:.3f}, UAR {o['uar']:.3f}{span} on {o['n']} clips"


def _in_parallel(args: argparse.Namespace, evaluate):
    """``evaluate`` itself, or with ``--workers N`` / ``--launcher ray`` a stand-in that runs the folds in parallel
    (each fold a job given as data to a worker process or a Ray task)."""
    if (args.workers or 1) == 1 and args.launcher == "processes":
        return evaluate
    if args.shard or args.merge:
        raise IcezooError("--workers / --launcher ray run every shard themselves; drop --shard / --merge")
    from ..eval.parallel import evaluate_parallel

    def run_parallel(recipe, protocol, out, *, keep_models, device, allow_mixed_versions, **_shard_and_progress):
        return evaluate_parallel(recipe, protocol, out, workers=args.workers, per_gpu=args.workers_per_gpu,
                                 device=device, launcher=args.launcher, ray_address=args.ray_address,
                                 keep_models=keep_models, retries=args.retries,
                                 allow_mixed_versions=allow_mixed_versions)  # fmt: skip

    return run_parallel
