"""Options shared by several commands, each defined once so its name, default and help agree everywhere."""

from __future__ import annotations

import argparse

PROTOCOLS = ("loso", "sde", "split")
"""The evaluation protocols (:mod:`icezoo.eval.protocols`), listed here so ``--help`` needs no torch."""


def recipe(p: argparse.ArgumentParser, many: bool = False) -> None:
    """The recipe file (or files) and its ``--set KEY=VALUE`` overrides."""
    if many:
        p.add_argument("recipes", nargs="+", help="recipe YAML files")
    else:
        p.add_argument("recipe", help="recipe YAML file")
    overrides(p)


def overrides(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE``, repeatable: a recipe key by dotted path, the value read as YAML."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe key (dotted path, YAML value; every recipe when several); repeatable",
    )


def device(
    p: argparse.ArgumentParser,
    default: str | None = None,
    help: str = "override train.device (auto, cpu, cuda, cuda:N)",
) -> None:
    """``--device``: where to run; None leaves the recipe's choice."""
    p.add_argument("--device", default=default, help=help)


def out(p: argparse.ArgumentParser, help: str, default: str | None = None, required: bool = False) -> None:
    """``--out``: the folder or file a command writes; each command says what goes there."""
    p.add_argument("--out", default=default, required=required, help=help)


def protocol(p: argparse.ArgumentParser, default: str | None, help: str | None = None) -> None:
    """``--protocol``: which evaluation protocol splits the clips into folds."""
    p.add_argument("--protocol", choices=PROTOCOLS, default=default, help=help)


def no_progress(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: no progress bars (logs, CI)."""
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def json_output(p: argparse.ArgumentParser) -> None:
    """``--json``: machine-readable output on stdout."""
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def plugins(p: argparse.ArgumentParser) -> None:
    """``--plugins MODULE|FILE.py``, repeatable: plugins the user trusts, imported before anything is loaded.

    A checkpoint's stored recipe never imports its own ``plugins:``; this is how a user allows one.
    """
    p.add_argument(
        "--plugins",
        action="append",
        default=[],
        metavar="MODULE|FILE.py",
        help="import this plugin (a checkpoint's own plugins run only when named here); repeatable",
    )
