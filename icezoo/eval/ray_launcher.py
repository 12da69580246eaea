"""Folds as Ray tasks: ``icezoo eval ... --launcher ray [--ray-address ADDR] [--workers-per-gpu K]``.

Ray does the scheduling: each fold is one task asking for ``1/K`` of a GPU
(where the cluster has GPUs) and one CPU, retried by Ray when its worker or
node is lost; ``--workers N`` caps the folds in flight. A task runs
:func:`~.runner.run_fold`, the function every backend runs, after importing
the recipe's ``plugins:`` (the task gets the recipe as data), and writes the
fold's files into the results folder, so the folder must be on a filesystem
every node sees; the layout is the one of ``--shard`` and ``--workers`` runs,
and a rerun skips the folds already done.
Without ``--ray-address`` a local Ray is started (or the one this process
already joined is used).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..config.schema import Recipe
from ..errors import IcezooError
from .protocols import Fold

MAX_RETRIES = 3  # Ray reruns a fold whose worker process or node died this many times


def run_fold_task(
    recipe: Recipe, protocol: str, out_dir: str, fold_name: str, use_gpu: bool, keep_model: bool = False
) -> str:
    """One fold inside a Ray worker: :func:`~.runner.run_fold`, as every backend runs a fold, after loading the
    recipe's plugins as the driver did; a retried task whose first attempt finished the fold skips it.
    Returns the fold's name."""
    import torch

    from ..data import load_clips
    from .identity import RunIdentity
    from .protocols import protocol_folds
    from .runner import fold_done, load_recipe_plugins, run_fold

    if not use_gpu:  # a CPU fold on a cluster with GPUs sees none (Ray sets the variable only for GPU tasks)
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    load_recipe_plugins(recipe)  # before the data: a plugin may register the dataset
    clips = load_clips(recipe)
    fold = next(f for f in protocol_folds(recipe, protocol, clips) if f.name == fold_name)
    run = RunIdentity.of(recipe, protocol, clips)
    if not fold_done(Path(out_dir), fold, recipe, run, keep_model):
        device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES
        run_fold(recipe, clips, fold, out_dir, run, device=device, keep_model=keep_model)
    return fold_name


def run_on_ray(
    recipe: Recipe,
    protocol: str,
    out_dir: Path,
    folds: list[Fold],
    *,
    address: str | None = None,
    per_gpu: int = 1,
    keep_models: bool = False,
    log: Callable[[str], None] = print,
    gpu: bool = True,
    at_once: int | None = None,
) -> None:
    """Submit one task per fold in ``folds`` (at most ``at_once`` in flight; None: Ray's resources decide) and
    wait; a fold that failed for good is named in one error.

    ``gpu`` false (``--device cpu`` or ``train.device: cpu``) keeps every fold on the CPU on any cluster.
    """
    try:
        import ray
    except ImportError:
        raise IcezooError('--launcher ray: Ray is not installed (pip install -e ".[ray]")') from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    try:
        use_gpu = gpu and ray.cluster_resources().get("GPU", 0) > 0
        task = ray.remote(run_fold_task).options(
            num_cpus=1, num_gpus=1 / per_gpu if use_gpu else 0, max_retries=MAX_RETRIES
        )
        folder = str(Path(out_dir).resolve())  # a task's working directory is its own, on any node
        waiting = list(folds)
        limit = len(waiting) if at_once is None else at_once
        pending: dict = {}

        def submit() -> None:
            while waiting and len(pending) < limit:
                fold = waiting.pop(0)
                pending[task.remote(recipe, protocol, folder, fold.name, use_gpu, keep_models)] = fold

        submit()
        cap = "" if at_once is None else f", at most {at_once} at once"
        log(f"ray: {len(folds)} fold task(s) on {ray.cluster_resources().get('CPU', 0):g} CPUs, "
            f"{ray.cluster_resources().get('GPU', 0):g} GPUs{cap}")  # fmt: skip
        failures = []
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                fold = pending.pop(ready[0])
                try:
                    ray.get(ready[0])
                except Exception as err:  # noqa: BLE001  (a task's error, reported by its fold)
                    said = (str(err).strip().splitlines() or [""])[-1][:200]
                    failures.append(f"fold {fold.name}: {type(err).__name__}: {said}")
                    log(f"icezoo: ray: {failures[-1]}")
                submit()
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        if failures:
            raise IcezooError("; ".join(failures) + "; run the same command again to continue with the folds not done")
    finally:
        if started:
            ray.shutdown()
