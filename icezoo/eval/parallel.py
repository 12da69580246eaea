"""Folds in parallel on one machine: ``icezoo eval ... --workers N [--workers-per-gpu K]``.

A pool of N worker slots, each with its device (slot i runs on GPU ``i mod G``
of the G visible ones; several slots per GPU overlap launch-bound steps) and
its share of the CPU threads, takes the folds not yet done from one queue:
each fold is one process running :func:`~.job.main`, given its
:class:`~.job.FoldJob` as data on its standard input, running the fold job
every backend runs. A rerun spreads whatever is left over every slot. Each fold
is seeded the same way whoever runs it, so the predictions are those of the
sequential run (on the CPU, at the same number of threads per process). A fold
whose process dies is started again (``--retries``, default 1) on the next free
slot; one whose process exits 2 (the input's fault: the same again) is not.
One that fails for good is named with its slot, exit status and last output
line, the other folds go on, and a rerun continues with the folds not done.
Ctrl-C (or SIGTERM) stops every worker: fold files are written atomically when
a fold ends, so only whole ones remain.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..config.schema import Recipe
from ..errors import IcezooError
from .job import FoldJob

STOP_GRACE_S = 30.0  # how long stopped workers get to finish their step before they are killed


@dataclasses.dataclass(frozen=True)
class Worker:
    """One worker slot: its number (1-based) of ``count``, its device and CPU threads."""

    index: int
    count: int
    device: str | None
    threads: int


def plan_workers(
    workers: int, per_gpu: int | None, device: str | None, gpus: int, cpus: int | None = None
) -> list[Worker]:
    """Devices round-robin over ``gpus`` visible GPUs (none: the CPU), CPU threads split evenly."""
    if workers < 1:
        raise IcezooError(f"--workers {workers}: must be at least 1")
    cpus = cpus or os.cpu_count() or 1
    threads = max(1, cpus // workers)
    on_cpu = gpus == 0 or (device is not None and device.startswith("cpu"))
    if on_cpu:
        device = None if device in (None, "auto") else device
        return [Worker(i + 1, workers, device, threads) for i in range(workers)]
    if device not in (None, "auto", "cuda"):
        raise IcezooError(f"--device {device}: --workers spreads over every visible GPU; use CUDA_VISIBLE_DEVICES")
    per_gpu = per_gpu or -(-workers // gpus)
    if workers > gpus * per_gpu:
        raise IcezooError(
            f"--workers {workers} with --workers-per-gpu {per_gpu} needs {-(-workers // per_gpu)} GPUs; {gpus} visible"
        )
    return [Worker(i + 1, workers, f"cuda:{i % gpus}", threads) for i in range(workers)]


def job_command() -> list[str]:
    """The command of one fold's process (:func:`~.job.main`); it reads its :class:`~.job.FoldJob` from standard
    input. Not ``-m icezoo.eval.job``: the package imports that module first, and runpy would run a second copy."""
    return [sys.executable, "-c", "from icezoo.eval.job import main; raise SystemExit(main())"]


def _environment(worker: Worker) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: str(worker.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    env["PYTHONUNBUFFERED"] = "1"  # each line as it is written: a killed worker's last line is its last
    return env


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _stop(procs: dict[Worker, subprocess.Popen]) -> None:
    """SIGINT to every running worker (each finishes its step and exits), then SIGKILL after the grace period."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """A SIGTERM to the parent stops the workers as Ctrl-C does (main thread only: elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Process:
    """A worker process whose output is passed on line by line, its last line kept (for the error that names it)."""

    def __init__(self, argv: list[str], env: dict[str, str], job: FoldJob):
        # own session: a Ctrl-C reaches the parent, which stops the workers in order
        self.popen = subprocess.Popen(argv, env=env, start_new_session=True, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      errors="replace")  # fmt: skip
        self.job = job
        self.last_line = ""
        self.reader = threading.Thread(target=self._pass_on, daemon=True)
        self.reader.start()  # before the job is written: the child's output never fills its pipe unread

    def send_job(self) -> None:
        """The job as data: pickled by this process for the child it started, never read from a file."""
        try:
            self.popen.stdin.buffer.write(pickle.dumps(self.job))
            self.popen.stdin.close()
        except BrokenPipeError:  # the child died at once: its exit status says why
            pass

    def _pass_on(self) -> None:
        for line in self.popen.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.strip():
                self.last_line = line.strip()

    def poll(self) -> int | None:
        code = self.popen.poll()
        if code is not None:
            self.reader.join(timeout=5)  # the output it wrote before it ended
        return code


def run_workers(
    jobs: list[FoldJob],
    plan: list[Worker],
    *,
    retries: int = 1,
    log=print,
    poll_s: float = 0.2,
    done: Callable[[str], bool] | None = None,
) -> None:
    """Run ``jobs`` (the folds not done, in protocol order) on the slots of ``plan``, each slot taking the next
    fold from one queue as soon as it is free; wait for all of them.

    A fold whose process ends with another status than 0 or 2 (or with 0 but, by ``done`` of its name, without its
    files) is queued again first, ``retries`` times at most; one that fails for good is named with its slot, exit
    status and last output line, and the others go on.

    Raises:
        IcezooError: naming each fold that failed for good, after every other fold ran.
        KeyboardInterrupt: after every worker stopped, on Ctrl-C.
    """
    queue = collections.deque(jobs)
    attempts: collections.Counter[str] = collections.Counter()
    running: dict[Worker, _Process] = {}
    failures: list[str] = []
    with _sigterm_as_interrupt():
        try:
            while queue or running:
                for w in plan:
                    if w not in running and queue:
                        job = dataclasses.replace(queue.popleft(), device=w.device)
                        running[w] = _Process(job_command(), _environment(w), job)  # known before it is fed
                        running[w].send_job()
                        attempts[job.fold] += 1
                        log(f"worker {w.index}/{w.count} ({w.device or 'cpu'}): fold {job.fold}"
                            f"{f' (attempt {attempts[job.fold]})' if attempts[job.fold] > 1 else ''}; "
                            f"{len(queue)} waiting")  # fmt: skip
                time.sleep(poll_s)
                for w, proc in list(running.items()):
                    code = proc.poll()
                    if code is None:
                        continue
                    del running[w]
                    if code == 0 and (done is None or done(proc.job.fold)):
                        continue
                    line = _failure(w, code, proc.job.fold, proc.last_line)
                    if attempts[proc.job.fold] <= retries and code != 2:  # exit 2: the input's fault, the same again
                        log(f"icezoo: {line}; starting it again (retry {attempts[proc.job.fold]} of {retries})")
                        queue.appendleft(proc.job)
                    else:
                        log(f"icezoo: {line}")
                        failures.append(line)
        except BaseException:  # Ctrl-C, or anything else: no worker is left running on its own
            _stop({w: p.popen for w, p in running.items()})
            raise
    if failures:
        raise IcezooError("; ".join(failures) + "; run the same command again to continue with the folds not done")


def _failure(w: Worker, code: int, fold: str, last_line: str) -> str:
    """One line naming the fold, the worker slot, its exit status and the last line it wrote."""
    said = f"; its last line: {last_line[:160]!r}" if last_line else ""
    status = _exit_text(code) + (" without the fold's files" if code == 0 else "")
    return f"fold {fold} on worker {w.index}/{w.count} ({w.device or 'cpu'}): {status}{said}"


def evaluate_parallel(
    recipe: Recipe,
    protocol: str,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    per_gpu: int | None = None,
    device: str | None = None,
    launcher: str = "processes",
    ray_address: str | None = None,
    keep_models: bool = False,
    retries: int = 1,
    allow_mixed_versions: bool = False,
    log: Callable[[str], None] = print,
):
    """Every fold not yet done, in parallel (worker processes or Ray tasks), then the report; returns the metrics.

    ``workers``: processes (default 1, never more than the folds left), or under Ray the most folds at once
    (default: as many as the cluster's resources allow).
    """
    from ..data import load_clips
    from .job import job_path, load_recipe_plugins, recipe_network, synthesis_setup
    from .runner import evaluate, open_run

    if per_gpu is not None and per_gpu < 1:
        raise IcezooError(f"--workers-per-gpu {per_gpu}: must be at least 1")
    if workers is not None and workers < 1:
        raise IcezooError(f"--workers {workers}: must be at least 1")
    if retries < 0:
        raise IcezooError(f"--retries {retries}: must be at least 0")
    load_recipe_plugins(recipe)
    clips = load_clips(recipe)
    # once here, before the workers race to write it
    folder, folds = open_run(recipe, protocol, Path(out_dir), clips, computing=True,
                             allow_mixed_versions=allow_mixed_versions)  # fmt: skip
    network = recipe_network(recipe)
    todo = [f for f in folds if not folder.done(f, keep_models, network)]
    if todo:
        synthesis_setup(recipe)  # a missing extra is one error here, not one per worker after its first fold
    jobs = [FoldJob(recipe, protocol, job_path(out_dir), f.name, keep_models, None, allow_mixed_versions,
                    expected=folder.run.stamp()) for f in todo]  # fmt: skip
    where = device or recipe.train.device  # a recipe or a --device that asks for the CPU keeps it
    if launcher == "ray":
        from .ray_launcher import run_on_ray

        run_on_ray(jobs, address=ray_address, per_gpu=per_gpu or 1, log=log,
                   gpu=where == "auto" or where.startswith("cuda"), at_once=workers)  # fmt: skip
    elif launcher == "processes":
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        count = max(1, min(workers or 1, len(todo)))  # a worker more than the folds left would only wait
        if todo:
            by_name = {f.name: f for f in folds}
            done = lambda name: folder.done(by_name[name], keep_models, network)  # noqa: E731
            run_workers(jobs, plan_workers(count, per_gpu, where, gpus), retries=retries, log=log, done=done)
    else:
        raise IcezooError(f"--launcher {launcher}: expected processes or ray")
    return evaluate(recipe, protocol, out_dir, merge_only=True, progress=False, device=device, clips=clips,
                    keep_models=keep_models, allow_mixed_versions=allow_mixed_versions)  # fmt: skip
