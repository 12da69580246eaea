"""Folds as Ray tasks: ``icezoo eval ... --launcher ray [--ray-address ADDR] [--workers-per-gpu K]``.

Ray does the scheduling: each fold is one task asking for ``1/K`` of a GPU
(where the cluster has GPUs) and one CPU, retried by Ray when its worker or
node is lost; ``--workers N`` caps the folds in flight. A task runs
:func:`~.job.run_fold_job`, the fold job every backend runs, given its
:class:`~.job.FoldJob` as data: it imports the recipe's ``plugins:``, loads
the node's data, checks the folder's run (a node whose data or code differs
refuses before it trains, naming the key) and writes the fold's files into
the results folder, so the folder must be on a filesystem every node sees; the
layout is the one of ``--shard`` and ``--workers`` runs, and a rerun skips the
folds already done.
Without ``--ray-address`` a local Ray is started (or the one this process
already joined is used).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import IcezooError
from .job import FoldJob

MAX_RETRIES = 3  # Ray reruns a fold whose worker process or node died this many times


def run_fold_task(job: FoldJob, use_gpu: bool) -> str:
    """One fold inside a Ray worker: :func:`~.job.run_fold_job`, the job every backend runs, which loads the
    recipe's plugins and this node's data and refuses (before training) a node whose data or code differs from the
    folder's run; a retried task whose first attempt finished the fold skips it. Returns the fold's name."""
    import dataclasses

    import torch

    from .job import run_fold_job

    if not use_gpu:  # a CPU fold on a cluster with GPUs sees none (Ray sets the variable only for GPU tasks)
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES
    run_fold_job(dataclasses.replace(job, device=device))
    return job.fold


def run_on_ray(
    jobs: list[FoldJob],
    *,
    address: str | None = None,
    per_gpu: int = 1,
    log: Callable[[str], None] = print,
    gpu: bool = True,
    at_once: int | None = None,
) -> None:
    """Submit one task per fold job (at most ``at_once`` in flight; None: Ray's resources decide) and wait; a fold
    that failed for good is named in one error (an input's fault, :class:`IcezooError`, is not retried).

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
        waiting = list(jobs)  # each job's folder is absolute: a task's working directory is its own, on any node
        limit = len(waiting) if at_once is None else at_once
        pending: dict = {}

        def submit() -> None:
            while waiting and len(pending) < limit:
                job = waiting.pop(0)
                pending[task.remote(job, use_gpu)] = job.fold

        submit()
        cap = "" if at_once is None else f", at most {at_once} at once"
        log(f"ray: {len(jobs)} fold task(s) on {ray.cluster_resources().get('CPU', 0):g} CPUs, "
            f"{ray.cluster_resources().get('GPU', 0):g} GPUs{cap}")  # fmt: skip
        failures = []
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                fold = pending.pop(ready[0])  # its name
                try:
                    ray.get(ready[0])
                except Exception as err:  # noqa: BLE001  (a task's error, reported by its fold)
                    said = (str(err).strip().splitlines() or [""])[-1][:200]
                    failures.append(f"fold {fold}: {_cause(err)}: {said}")
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


def _cause(err: Exception) -> str:
    """The name of a task's own error (Ray wraps it in a RayTaskError subclass named after it)."""
    cause = getattr(err, "cause", None)
    return type(cause).__name__ if isinstance(cause, Exception) else type(err).__name__
