"""The fold job: what every backend runs for one fold (the sequential loop, ``--workers`` processes, Ray tasks).

:func:`run_fold_job` takes a :class:`FoldJob` (plain data: the resolved
recipe, the protocol, the run folder, the fold's name and where to run it),
loads the recipe's plugins and its data, claims the run folder for this run
(refused, naming the first differing key, where the folder's run differs: a
Ray node with other data refuses before it trains; or naming the library where
this code's versions differ), checks that the data fits the model, skips a
fold already done, and otherwise fits and scores it (:mod:`.fold`) and writes
its files through the run folder (:mod:`.folder`).

:func:`main` runs one pickled :class:`FoldJob` read from standard input: how
a ``--workers`` process is given its arguments, as data.
Its exit status is 0 when the fold is done, 2 when the input is at fault
(one line on stderr), 130 on Ctrl-C.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config.schema import Recipe
from ..data import ClipSet


@dataclasses.dataclass(frozen=True)
class FoldJob:
    """One fold to run: everything a process needs, as data."""

    recipe: Recipe
    protocol: str
    out: str
    fold: str
    keep_model: bool = False
    device: str | None = None
    allow_mixed_versions: bool = False
    progress: bool = False
    expected: dict[str, Any] | None = None
    """The run's stamp as the process that scheduled the job computed it: a process whose data or code differs
    refuses before it trains, also where it cannot see the folder's ``run.json`` (no shared filesystem)."""


def load_recipe_plugins(recipe: Recipe) -> None:
    """Import the recipe's ``plugins:`` (resolved paths or module names) in this process: a worker process or a
    Ray task gets the recipe as data and must register its blocks as the process that loaded it did."""
    if recipe.plugins:
        from ..registry import registry

        registry.plugins.load_modules(list(recipe.plugins))


def synthesis_setup(recipe: Recipe):
    """The KID/FID network where ``eval.synthesis_metrics`` is on (else None), its extras checked: before training."""
    if not recipe.eval.synthesis_metrics:
        return None
    from .synthesis.run import measurement_setup

    return measurement_setup(recipe)


@dataclasses.dataclass
class Context:
    """What a process reuses from one fold job to the next: the data, the folds, the claimed folder, the
    KID/FID network (the sequential loop runs every fold in one process; a worker process runs one)."""

    clips: ClipSet | None = None
    folder: Any = None
    folds: dict[str, Any] | None = None
    network: Any = None


def prepare(job: FoldJob, context: Context | None = None) -> Context:
    """Plugins, data, folds and the claimed folder of ``job``'s run, reusing ``context`` where it has them."""
    from ..data import check_fits, load_clips
    from .folder import RunFolder
    from .identity import RunIdentity
    from .protocols import protocol_folds

    context = context or Context()
    recipe = job.recipe
    load_recipe_plugins(recipe)  # before the data: a plugin may register the dataset
    if context.clips is None:  # given clips were checked by whoever loaded them (the sequential loop's open_run)
        context.clips = load_clips(recipe)
        check_fits(context.clips, recipe.model.image_size, recipe.model.in_channels, recipe.model.num_classes,
                   recipe.source)  # fmt: skip
    if context.folds is None:
        context.folds = {f.name: f for f in protocol_folds(recipe, job.protocol, context.clips)}
    if context.folder is None:
        run = RunIdentity.of(recipe, job.protocol, context.clips, allow_mixed_versions=job.allow_mixed_versions)
        if job.expected is not None:  # before the folder: a node that does not share it still refuses
            import socket

            where = f"fold {job.fold} on {socket.gethostname()}"
            run.require(job.expected, where, "a job")
            run.require_versions(job.expected.get("versions"), where, "a job")
        context.folder = RunFolder(job.out).claim(run, computing=True)
    return context


def run_fold_job(job: FoldJob, context: Context | None = None) -> list[dict[str, Any]] | None:
    """Run ``job``'s fold unless it is done; returns its prediction rows, or None when it was done already."""
    from ..errors import IcezooError
    from .fold import fit_and_score

    context = prepare(job, context)
    recipe, folder = job.recipe, context.folder
    fold = context.folds.get(job.fold)
    if fold is None:
        raise IcezooError(f"fold {job.fold}: not a fold of the {job.protocol} protocol on this data")
    network = recipe_network(recipe)
    if folder.done(fold, job.keep_model, network):
        return None
    if recipe.eval.synthesis_metrics and context.network is None:
        context.network = synthesis_setup(recipe)
    result = fit_and_score(recipe, context.clips, fold, device=job.device, progress=job.progress,
                           synthesis_network=context.network)  # fmt: skip
    if job.keep_model:
        folder.save_model(fold, recipe, result.model, result.step, result.averaged)
    if result.records is not None:
        folder.write_records(fold, result.records, network)
    folder.write_fold(fold, result.rows, result.info)
    return result.rows


def recipe_network(recipe: Recipe) -> dict[str, Any] | None:
    """The KID/FID network's identity a fold's records must carry, or None where none are measured."""
    if not recipe.eval.synthesis_metrics:
        return None
    from .synthesis.run import recipe_network as network

    return network(recipe)


def main() -> int:
    """Run the pickled :class:`FoldJob` on standard input (a ``--workers`` process)."""
    import pickle
    import signal
    import sys

    from ..errors import IcezooError

    # the parent stops a worker with SIGINT: a handler even where this process inherited SIGINT ignored (a shell's
    # background job), where Python would install none
    signal.signal(signal.SIGINT, signal.default_int_handler)
    job = pickle.load(sys.stdin.buffer)  # written by this machine's parent process, never read from a file
    try:
        run_fold_job(job)
    except IcezooError as err:
        print(f"icezoo: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("icezoo: interrupted", file=sys.stderr)
        return 130
    return 0


def job_path(out: str | Path) -> str:
    """``out`` as every process sees it: absolute (a worker's or a Ray task's working directory is its own)."""
    return str(Path(out).resolve())
