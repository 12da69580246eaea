"""``icezoo describe KIND NAME``: one component's parameters, their types, defaults and meaning."""

from __future__ import annotations

import argparse

HELP = "show a component's parameters, defaults and documentation"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", help="component kind, e.g. reasoning")
    p.add_argument("name", help="component name, e.g. grm")


def run(args: argparse.Namespace) -> int:
    from ..registry import registry

    print(registry.describe(args.kind, args.name))
    return 0
