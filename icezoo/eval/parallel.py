"""Folds in parallel on one machine: ``icezoo eval ... --workers N [--workers-per-gpu K]``.

Nothing new is scheduled here: the parent starts N processes of
``python -m icezoo eval ... --shard i/N`` (the shards of :mod:`.runner`), all
writing into one results folder, waits for them and writes the report from the
fold files (``--merge``). Worker i runs on GPU ``i mod G`` of the G visible ones
(several workers per GPU overlap launch-bound steps) with its share of the CPU
threads. Each fold is seeded the same way whoever runs it, so the predictions
are those of the sequential run (on the CPU, at the same number of threads per
process). A worker that dies is started again (``--retries``, default 1; it
skips the folds it finished); one that fails for good is named with its fold,
exit status and last output line, and the folds it left undone are run by the
next invocation, which skips finished folds. Ctrl-C (or SIGTERM) stops every worker: fold files are written
atomically when a fold ends, so only whole ones remain.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..config.schema import Recipe
from ..errors import IcezooError
from .protocols import Fold, shard

STOP_GRACE_S = 30.0  # how long stopped workers get to finish their step before they are killed


@dataclasses.dataclass(frozen=True)
class Worker:
    """One worker process: its shard (1-based) of ``count``, its device and CPU threads."""

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


def worker_command(base_argv: list[str], worker: Worker) -> list[str]:
    """``python -m icezoo eval <base_argv> --shard i/N [--device D] --no-progress``."""
    argv = [sys.executable, "-m", "icezoo", "eval", *base_argv, "--shard", f"{worker.index}/{worker.count}"]
    if worker.device is not None:
        argv += ["--device", worker.device]
    return argv + ["--no-progress"]


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


def undone(folds: list[Fold], worker: Worker, done: Callable[[Fold], bool]) -> list[Fold]:
    """The folds of ``worker``'s shard without a result file, in the order it runs them."""
    return [f for f in shard(folds, worker.index, worker.count) if not done(f)]


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

    def __init__(self, argv: list[str], env: dict[str, str]):
        # own session: a Ctrl-C reaches the parent, which stops the workers in order
        self.popen = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, errors="replace")  # fmt: skip
        self.last_line = ""
        self.reader = threading.Thread(target=self._pass_on, daemon=True)
        self.reader.start()

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
    base_argv: list[str],
    plan: list[Worker],
    folds: list[Fold],
    done: Callable[[Fold], bool],
    *,
    retries: int = 1,
    log=print,
    poll_s: float = 0.2,
) -> None:
    """Start one ``icezoo eval --shard`` process per worker and wait for all of them.

    A worker that ends before its folds are done is started again, ``retries`` times at most (it skips the folds
    it finished); a worker that fails for good is named with its fold, exit status and last output line.

    Args:
        base_argv: the eval arguments every worker shares (recipe, ``--set``, protocol, ``--out``).
        plan: the workers (:func:`plan_workers`).
        folds: every fold of the protocol, to name the fold a dead worker was in.
        done: whether a fold is done.
        retries: how many times a failed worker is started again.
        log: where progress lines go.
        poll_s: seconds between looks at the workers.

    Raises:
        IcezooError: naming each worker that failed for good, its fold, exit status and last line.
        KeyboardInterrupt: after every worker stopped, on Ctrl-C.
    """
    procs: dict[Worker, _Process] = {}
    attempts: dict[Worker, int] = {}
    failures: list[str] = []

    def start(w: Worker) -> None:
        procs[w] = _Process(worker_command(base_argv, w), _environment(w))
        attempts[w] = attempts.get(w, 0) + 1

    with _sigterm_as_interrupt():
        try:
            for w in plan:
                if undone(folds, w, done):
                    start(w)
                    log(f"worker {w.index}/{w.count}: {len(undone(folds, w, done))} fold(s) on {w.device or 'cpu'}")
            running = dict(procs)
            while running:
                time.sleep(poll_s)
                for w, proc in list(running.items()):
                    code = proc.poll()
                    if code is None:
                        continue
                    del running[w]
                    left = undone(folds, w, done)
                    if code == 0 and not left:
                        continue
                    line = _failure(w, code, left, proc.last_line)
                    if attempts[w] <= retries and code != 2:  # exit 2: the input's fault, the same again
                        log(f"icezoo: {line}; starting it again (retry {attempts[w]} of {retries})")
                        start(w)
                        running[w] = procs[w]
                    else:
                        log(f"icezoo: {line}")
                        failures.append(line)
        except BaseException:  # Ctrl-C, or anything else: no worker is left running on its own
            _stop({w: p.popen for w, p in procs.items()})
            raise
    if failures:
        raise IcezooError("; ".join(failures) + "; run the same command again to continue with the folds not done")


def _failure(w: Worker, code: int, left: list[Fold], last_line: str) -> str:
    """One line naming the worker, its fold, its exit status and the last line it wrote."""
    where = f"in fold {left[0].name}" if left else "after its folds"
    said = f"; its last line: {last_line[:160]!r}" if last_line else ""
    return (
        f"worker {w.index}/{w.count} ({w.device or 'cpu'}) {_exit_text(code)} {where}; "
        f"{len(left)} of its folds not done{said}"
    )


def evaluate_parallel(
    recipe: Recipe,
    protocol: str,
    out_dir: str | Path,
    base_argv: list[str],
    *,
    workers: int | None = None,
    per_gpu: int | None = None,
    device: str | None = None,
    launcher: str = "processes",
    ray_address: str | None = None,
    keep_models: bool = False,
    retries: int = 1,
    log: Callable[[str], None] = print,
):
    """Every fold not yet done, in parallel (worker processes or Ray tasks), then the report; returns the metrics.

    ``base_argv`` is what each worker process is given after ``icezoo eval``
    (the recipe, its ``--set`` overrides, ``--protocol`` and ``--out``).
    ``workers``: processes (default 1, never more than the folds left), or under Ray the most folds at once
    (default: as many as the cluster's resources allow).
    """
    from ..data import load_clips
    from .protocols import protocol_folds
    from .runner import evaluate, fold_done, prepare_folder, synthesis_setup

    if per_gpu is not None and per_gpu < 1:
        raise IcezooError(f"--workers-per-gpu {per_gpu}: must be at least 1")
    if workers is not None and workers < 1:
        raise IcezooError(f"--workers {workers}: must be at least 1")
    if retries < 0:
        raise IcezooError(f"--retries {retries}: must be at least 0")
    out_dir = Path(out_dir)
    clips = load_clips(recipe)
    folds = protocol_folds(recipe, protocol, clips)
    run = prepare_folder(out_dir, recipe, protocol, clips)  # once here, before the workers race to write it
    done = lambda fold: fold_done(out_dir, fold, recipe, run, keep_models)  # noqa: E731
    todo = [f for f in folds if not done(f)]
    if todo:
        synthesis_setup(recipe)  # a missing extra is one error here, not one per worker after its first fold
    where = device or recipe.train.device  # a recipe or a --device that asks for the CPU keeps it
    if launcher == "ray":
        from .ray_launcher import run_on_ray

        run_on_ray(recipe, protocol, out_dir, todo, address=ray_address, per_gpu=per_gpu or 1,
                   keep_models=keep_models, log=log, gpu=where == "auto" or where.startswith("cuda"),
                   at_once=workers)  # fmt: skip
    elif launcher == "processes":
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        count = max(1, min(workers or 1, len(todo)))  # a worker more than the folds left would only wait
        if todo:
            run_workers(base_argv, plan_workers(count, per_gpu, where, gpus), folds, done, retries=retries, log=log)
    else:
        raise IcezooError(f"--launcher {launcher}: expected processes or ray")
    return evaluate(recipe, protocol, out_dir, merge_only=True, progress=False, device=device, clips=clips,
                    keep_models=keep_models)  # fmt: skip
