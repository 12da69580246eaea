"""The ``icezoo`` command line.

Every user error is one line on stderr and exit code 2 (``--debug`` shows the
traceback instead). Commands stay thin: each parses its arguments and calls
the library.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import sys
import warnings
from typing import Callable, Sequence

from .errors import IcezooError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def wrap(fn):
        COMMANDS[name] = fn
        return fn

    return wrap


def _recipe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (dotted path, YAML value); repeatable")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icezoo", description="Build, train, evaluate and benchmark ICE-GAN and its ablations from YAML recipes.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"icezoo {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="list registered components (kind and name may be glob patterns)")
    p.add_argument("kind", nargs="?", default=None, help="component kind (generator, reasoning, trunk, head, loss, perceptual, dataset)")
    p.add_argument("pattern", nargs="?", default="*", help="name pattern, e.g. 'grm*'")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("describe", help="show a component's parameters, defaults and documentation")
    p.add_argument("kind")
    p.add_argument("name")

    p = sub.add_parser("build", help="build a recipe's model, run one forward pass, print parameters, FLOPs and shapes")
    _recipe_args(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--depth", type=int, default=1, help="levels of sub-modules to show under each component (default 1)")
    p.add_argument("--device", default="cpu", help="device for the dummy forward pass (default cpu)")

    for name, module in _EXTRA_COMMANDS.items():
        __import__(module, fromlist=["add_arguments"]).add_arguments(sub.add_parser(name, help=_EXTRA_HELP[name]))
    return parser


# Commands defined next to the code they drive: name -> module with add_arguments(parser) and run(args).
_EXTRA_COMMANDS: dict[str, str] = {
    "train": "icezoo.train.cli",
    "eval": "icezoo.eval.cli",
    "ablate": "icezoo.eval.ablate",
    "synth": "icezoo.eval.synth",
    "prepare": "icezoo.data.prepare",
    "bench": "icezoo.bench.cli",
}
_EXTRA_HELP: dict[str, str] = {
    "train": "train a recipe (progress bar, run folder, checkpoints, --resume)",
    "eval": "train and test every fold of a protocol (loso, sde, split); UF1 / UAR report",
    "ablate": "several recipes under one protocol, one comparison table",
    "synth": "synthesise faces from a trained generator, with difference maps",
    "bench": "time generator, discriminator and training step: images/s, FLOPs, MFU, memory",
    "prepare": "turn a CASME II, SAMM or SMIC-HS release into the megc2019 manifest and 128x128 face crops",
}


def _version() -> str:
    from . import __version__

    return __version__


@command("list")
def _list(args: argparse.Namespace) -> int:
    from .registry import registry

    registry.ensure_loaded()
    kinds = [k for k in registry.kinds if args.kind is None or fnmatch.fnmatchcase(k, args.kind)]
    if not kinds:
        registry.entries(args.kind)  # raises: unknown kind, with the nearest ones
    rows = [e for kind in kinds for e in registry.entries(kind, args.pattern)]
    host = registry.plugins
    if args.json:
        print(json.dumps({
            "components": [{"kind": e.kind, "name": e.name, "source": e.source, "summary": e.summary} for e in rows],
            "plugins": {"loaded": host.loaded, "failed": host.failed, "skipped": host.skipped},
        }, indent=2))  # fmt: skip
        return 0
    if not rows:
        print(f"no {args.kind or 'component'} matches '{args.pattern}' {host.status_line()}")
        return 1
    widths = [max(len(getattr(e, f)) for e in rows) for f in ("kind", "name", "source")]
    for e in rows:
        print(f"{e.kind:<{widths[0]}}  {e.name:<{widths[1]}}  {e.source:<{widths[2]}}  {e.summary}")
    print(host.status_line())
    return 0


@command("describe")
def _describe(args: argparse.Namespace) -> int:
    from .registry import registry

    print(registry.describe(args.kind, args.name))
    return 0


@command("build")
def _build(args: argparse.Namespace) -> int:
    from .config.loader import load_recipe
    from .devices import resolve_device
    from .models import build_model
    from .summary import format_table, summarize

    recipe = load_recipe(args.recipe, args.overrides)
    device = resolve_device(args.device, "--device")
    model = build_model(recipe).to(device)
    nodes = summarize(model, depth=args.depth)
    if args.json:
        total_p, total_f = sum(n.params for n in nodes), sum(n.flops for n in nodes)
        print(json.dumps({
            "recipe": recipe.source, "name": recipe.name, "overrides": recipe.overrides, "device": str(device),
            "components": [n.to_dict() for n in nodes],
            "total": {"params": total_p, "mb_fp32": round(total_p * 4 / 1e6, 3), "flops_per_image": total_f},
        }, indent=2))  # fmt: skip
    else:
        title = f"{recipe.name or recipe.source}: {recipe.description}".rstrip(": ")
        print(format_table(nodes, title))
    return 0


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("icezoo: %(levelname)s: %(message)s"))
    log = logging.getLogger("icezoo")
    if not log.handlers:
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``icezoo`` console script; returns the exit code."""
    _setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    runner = COMMANDS.get(args.command)
    if runner is None:
        runner = __import__(_EXTRA_COMMANDS[args.command], fromlist=["run"]).run
    try:
        return int(runner(args) or 0)
    except IcezooError as err:
        if args.debug:
            raise
        print(f"icezoo: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("icezoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
