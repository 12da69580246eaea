"""``icezoo list [KIND [PATTERN]] [--json]``: the registered components and the plugins that brought them."""

from __future__ import annotations

import argparse
import fnmatch
import json

from . import options

HELP = "list registered components (kind and name may be glob patterns)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "kind",
        nargs="?",
        default=None,
        help="component kind (generator, reasoning, trunk, head, loss, perceptual, dataset)",
    )
    p.add_argument("pattern", nargs="?", default="*", help="name pattern, e.g. 'grm*'")
    options.json_output(p)


def run(args: argparse.Namespace) -> int:
    from ..registry import registry

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
