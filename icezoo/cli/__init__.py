"""The ``icezoo`` command line.

Every user error is one line on stderr and exit code 2 (``--debug`` shows the
traceback instead). Commands stay thin: each is a module of this package with
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` that parses its
arguments and calls the library. Command modules import torch inside ``run``
only, so ``--help`` and ``--version`` answer without loading it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import typing
import warnings
from collections.abc import Sequence
from types import ModuleType

from ..errors import IcezooError

COMMANDS: dict[str, str] = {
    "list": "icezoo.cli.list",
    "describe": "icezoo.cli.describe",
    "build": "icezoo.cli.build",
    "train": "icezoo.cli.train",
    "eval": "icezoo.cli.eval",
    "ablate": "icezoo.cli.ablate",
    "test": "icezoo.cli.test",
    "predict": "icezoo.cli.predict",
    "synth": "icezoo.cli.synth",
    "export": "icezoo.cli.export",
    "synth-metrics": "icezoo.cli.synth_metrics",
    "prepare": "icezoo.cli.prepare",
    "bench": "icezoo.cli.bench",
    "convert-release": "icezoo.cli.convert_release",
}
"""Every subcommand, in ``--help`` order: name -> module with ``HELP``, ``add_arguments`` and ``run``.

Importing ``icezoo.cli.list`` and ``icezoo.cli.eval`` binds ``list`` and ``eval`` in this module's
namespace (a package's submodules are its attributes), so code here must not call those builtins."""


def command(name: str) -> ModuleType:
    """The module behind subcommand ``name``."""
    return importlib.import_module(COMMANDS[name])


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its usage errors in the project's form: one line on stderr, exit code 2 (``--help`` still
    prints the usage)."""

    def error(self, message: str) -> typing.NoReturn:
        command = self.prog.removeprefix("icezoo").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"icezoo: error: {where}{message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``icezoo`` parser with every subcommand; builds without importing torch."""
    from .. import __version__

    parser = OneLineParser(
        prog="icezoo", description="Build, train, evaluate and benchmark ICE-GAN and its ablations from YAML recipes."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"icezoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = command(name)
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("icezoo: %(levelname)s: %(message)s"))
    log = logging.getLogger("icezoo")
    if not log.handlers:
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)


def _quiet_stdout() -> None:
    """Point stdout at devnull after its reader went away, so the flush at exit raises nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _one_line(err: BaseException) -> str:
    """``Type: first line of the message`` (a file error names its file)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``icezoo`` console script; returns the exit code."""
    _setup_logging()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed in one line
        return int(done.code or 0)
    try:
        code = int(command(args.command).run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at interpreter exit
        return code
    except IcezooError as err:
        if args.debug:
            raise
        print(f"icezoo: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("icezoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader closed early (`icezoo list --json | head -1`): not an error worth a traceback
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by the closed pipe
    except (OSError, MemoryError, RecursionError) as err:  # a file, the disk, the input's size: still one line
        if args.debug:
            raise
        print(f"icezoo: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug, not the user's input: one line that says so, exit 1
        if args.debug:
            raise
        print(f"icezoo: internal error: {_one_line(err)} (a bug; --debug shows the traceback)", file=sys.stderr)
        return 1
