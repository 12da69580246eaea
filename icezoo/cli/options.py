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


def face_crop(p: argparse.ArgumentParser) -> None:
    """``--align`` / ``--no-align``, into ``args.align``: how ``predict`` and ``synth`` crop a photograph's face.

    Default (None): by its 68 landmarks when the landmarks extra is installed, as ``icezoo prepare`` crops the
    databases' faces, else the centre square; the command says which. ``--align`` (True) requires the extra.
    (``prepare`` itself requires it unless ``--no-align``: a database is never centre-cropped silently.)
    """
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--align",
        dest="align",
        action="store_const",
        const=True,
        default=None,
        help="crop the face by its 68 landmarks, and fail without the landmarks extra (default: by the landmarks "
        "when the extra is installed, as icezoo prepare does, else the centre square; said which)",
    )
    how.add_argument(
        "--no-align",
        dest="align",
        action="store_const",
        const=False,
        help="take the centre square, even with the extra",
    )


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


def parallel(p: argparse.ArgumentParser) -> None:
    """``--workers``, ``--workers-per-gpu``, ``--launcher``, ``--ray-address``: folds in parallel."""
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="run the folds in N processes at once, GPUs round-robin, CPU threads split (default 1); "
        "with --launcher ray: at most N folds at once (default: as many as the cluster's resources allow)",
    )
    p.add_argument(
        "--workers-per-gpu",
        type=int,
        default=None,
        metavar="K",
        help="at most K workers share a GPU (Ray: each fold asks for 1/K of a GPU)",
    )
    p.add_argument(
        "--launcher",
        choices=("processes", "ray"),
        default="processes",
        help="processes on this machine, or Ray tasks (pip install -e '.[ray]')",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=1,
        metavar="N",
        help="start a fold whose --workers process died again, at most N times (default 1; never one that exited 2, "
        "the input's fault); Ray retries its own tasks",
    )
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="a running Ray cluster (e.g. auto or ray://head:10001); default: a local Ray")  # fmt: skip


def allow_mixed_versions(p: argparse.ArgumentParser) -> None:
    """``--allow-mixed-versions``: accept a run's files computed by other versions of the code (a run's report names
    them all)."""
    p.add_argument("--allow-mixed-versions", action="store_true",
                   help="accept folds computed by other versions of icezoo, torch or the libraries that compute "
                   "results (refused otherwise); the report names every version")  # fmt: skip
