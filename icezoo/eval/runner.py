"""Run a protocol: the sequential loop over its folds, shards and ``--merge``, and the report once all are done.

Every fold runs through :func:`~.job.run_fold_job`, the one fold job of every
backend: this loop in one process, ``--workers`` processes (:mod:`.parallel`)
and Ray tasks (:mod:`.ray_launcher`), as scikit-learn's ``_fit_and_score`` runs
under each joblib backend. The run folder (:mod:`.folder`) lays out the files
and decides "same run"; the report is :mod:`.report`'s. Folds are independent
and deterministic, so shards over processes or machines write into copies of
one folder, and whichever call finds every fold done writes the report (or
``--merge``, also over a folder of copied shard ``folds/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config.schema import Recipe
from ..data import ClipSet, check_fits, load_clips
from ..errors import IcezooError
from ..files import check_out
from .folder import RunFolder
from .identity import RunIdentity
from .job import Context, FoldJob, load_recipe_plugins, recipe_network, run_fold_job, synthesis_setup
from .protocols import Fold, protocol_folds, shard

__all__ = ["evaluate", "open_run"]


def open_run(
    recipe: Recipe, protocol: str, out_dir: Path, clips: ClipSet, *, computing: bool, allow_mixed_versions: bool = False
) -> tuple[RunFolder, list[Fold]]:
    """The run folder claimed for this run (described by its recipe, protocol and data) and the protocol's folds."""
    check_fits(clips, recipe.model.image_size, recipe.model.in_channels, recipe.model.num_classes, recipe.source)
    folds = protocol_folds(recipe, protocol, clips)  # a validation set too large for a fold fails here, untrained
    run = RunIdentity.of(recipe, protocol, clips, allow_mixed_versions=allow_mixed_versions)
    folder = RunFolder(out_dir).claim(run, computing=computing)
    folder.describe(recipe, protocol, clips)
    return folder, folds


def evaluate(
    recipe: Recipe,
    protocol: str,
    out_dir: str | Path,
    *,
    shard_of: tuple[int, int] = (1, 1),
    merge_only: bool = False,
    progress: bool = True,
    device: str | None = None,
    clips: ClipSet | None = None,
    keep_models: bool = False,
    allow_mixed_versions: bool = False,
) -> dict[str, Any] | None:
    """Run this shard's folds not yet done, then write the report if every fold is done; returns the metrics or None.

    ``keep_models`` saves each fold's reported model as ``folds/NAME.pt``; ``allow_mixed_versions`` pools folds
    computed by other versions of the code (the report names them all).
    """
    out_dir = check_out(out_dir)
    load_recipe_plugins(recipe)
    clips = clips if clips is not None else load_clips(recipe)
    folder, folds = open_run(recipe, protocol, out_dir, clips, computing=not merge_only,
                             allow_mixed_versions=allow_mixed_versions)  # fmt: skip
    network = recipe_network(recipe)
    done = lambda fold: folder.done(fold, keep_models, network)  # noqa: E731
    if not merge_only:
        from tqdm.auto import tqdm

        mine = [f for f in shard(folds, *shard_of) if not done(f)]
        context = Context(clips, folder, {f.name: f for f in folds}, synthesis_setup(recipe) if mine else None)
        bar = tqdm(mine, desc=f"{recipe.name or 'eval'} {protocol} folds", unit="fold", disable=not progress,
                   dynamic_ncols=True)  # fmt: skip
        for fold in bar:
            job = FoldJob(recipe, protocol, str(out_dir), fold.name, keep_models, device, allow_mixed_versions,
                          progress)  # fmt: skip
            rows = run_fold_job(job, context)
            if rows:
                bar.set_postfix(fold=fold.name, acc=f"{np.mean([r['label'] == r['pred'] for r in rows]):.2f}")
    missing = [f.name for f in folds if not done(f)]
    if missing:
        if merge_only:
            raise IcezooError(
                f"{out_dir}: {len(missing)} of {len(folds)} folds have no results yet (first: {missing[0]}); run the other shards first"
            )
        return None
    from .report import write_report

    return write_report(recipe, protocol, folder, folds)
