"""The LOSO protocol itself, timed, and its full run extrapolated.

K folds of a recipe at its own batch (icegan.yaml: 16), each variant run
twice, for E1 and for E2 epochs, each run one ``icezoo eval --protocol loso``
process tree started from here: sequential eager, worker processes
(``--workers N``, several per GPU), the whole step as a CUDA graph
(``train.cuda_graphs``), and both. For each: the two wall times, image-steps/s
from their difference (the extra epochs' images over the extra seconds: each
process's start, the folds' set-up and the graph capture are in both runs and
cancel), mean GPU utilisation (nvidia-smi, sampled every 0.5 s, over the E2
run) and the wall time of the full protocol (every fold, ``train.epochs``
epochs) extrapolated as the E1 run's fixed cost per fold times the folds plus
the full protocol's images at the measured rate.

Time-boxed (``--time-limit``): a variant starts only if the time left covers
what the previous one took (or a minimum for the first), and its longer run
only if the time left covers the shorter run's time scaled by the ratio of
their epochs (:func:`longer_run_fits`); a run cut off by the
limit, or by a SIGINT/SIGTERM to this script, is stopped as Ctrl-C stops it
(SIGINT to ``icezoo eval``, which stops its workers), and whatever of its
process tree is left after the grace period is killed and waited for, so no
worker goes on using the GPU. A summary line is printed as each row comes.
``ICEZOO_CACHE`` (set here when unset) keeps the generated data between runs.

    python benchmarks/loso.py                   # GPU: 8 folds x 1 and 3 epochs of recipes/icegan.yaml
    python benchmarks/loso.py --folds 2 --epochs 1,5 --set eval.bootstrap=0   # as gpu_session.sh runs it
    python benchmarks/loso.py --smoke           # CPU: 2 tiny folds x 1 and 5 epochs (CI)

Writes ``benchmarks/results/loso-<device>-torch<version>.{json,md}``, rewritten after each variant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.monotonic()  # --time-limit counts from here: the imports and the data are inside it

import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import icezoo  # noqa: E402
from icezoo.bench.harness import device_name  # noqa: E402
from icezoo.data import load_clips  # noqa: E402
from icezoo.eval.protocols import make_folds  # noqa: E402
from icezoo.files import atomic_write_text  # noqa: E402

VARIANTS = ["sequential", "workers 2", "workers 4", "workers 8", "cuda graphs", "workers 2 + cuda graphs",
            "workers 4 + cuda graphs", "workers 8 + cuda graphs"]  # fmt: skip
SMOKE = ["model.image_size=32", "model.generator.width=4", "model.generator.max_width=16",
         "model.generator.embed_dim=16", "model.discriminator.trunk.ndf=4", "model.discriminator.head.adv_dim=8",
         "model.discriminator.head.exp_dim=4", "model.discriminator.head.recon_hidden=[16]", "train.batch_size=32"]  # fmt: skip
GRACE_S = 20.0  # after a SIGINT, how long a stopped run gets before what is left of its tree is killed
FIRST_VARIANT_S = 20.0  # the least time left to start the first variant (later ones: what the previous took)
FIRST_VARIANT_SMOKE_S = 1.0


def longer_run_fits(short_s: float, short_epochs: int, long_epochs: int, left_s: float) -> bool:
    """Whether ``left_s`` covers the longer run, estimated as the shorter run's wall time scaled by the epoch ratio.

    An over-estimate (the start-up and set-up that the two runs share are scaled too), so that a run that starts
    is not cut off midway.
    """
    return left_s >= short_s * long_epochs / short_epochs


def image_steps(recipe, folds, epochs: int) -> int:
    """Training images through the step over ``folds`` for ``epochs`` epochs (each fold: its own steps per epoch)."""
    cfg, clips = recipe.train, load_clips(recipe)
    subject = list(clips.subject)
    total = 0
    for fold in folds:
        train = set(fold.train)
        steps = epochs * (sum(s in train for s in subject) // cfg.batch_size)
        total += min(steps, cfg.max_steps) if cfg.max_steps is not None else steps
    return total * cfg.batch_size


class GpuUtilisation:
    """Mean GPU utilisation (%) while the block runs, from ``nvidia-smi -lms 500``; None without one."""

    def __enter__(self):
        self.proc = None
        if torch.cuda.is_available() and shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "500"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
        return self

    def __exit__(self, *exc):
        self.mean = None
        if self.proc is not None:
            self.proc.terminate()
            values = [float(x) for x in re.findall(r"^\s*(\d+(?:\.\d+)?)\s*$", self.proc.communicate()[0], re.M)]
            self.mean = sum(values) / len(values) if values else None


def children_of() -> dict[int, list[int]]:
    """{pid: [child pids]} of every process now running (Linux /proc; empty elsewhere)."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        out.setdefault(ppid, []).append(int(entry.name))
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (workers in sessions of their own included)."""
    tree, found, todo = children_of(), [], [pid]
    while todo:
        kids = tree.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead and waiting to be reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def stop_tree(proc: subprocess.Popen, grace: float = GRACE_S) -> int:
    """Stop ``proc`` as Ctrl-C would (it stops its workers), then kill and wait for whatever of its tree is left.

    Returns how many processes had to be killed.
    """
    tree = descendants(proc.pid)  # taken first: orphans lose their parent when it exits
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    tree += [p for p in descendants(proc.pid) if p not in tree]
    while any(alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in tree if alive(p)] + ([proc.pid] if proc.poll() is None else [])
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    while any(alive(p) for p in tree):  # the killed are reaped by whoever inherits them
        time.sleep(0.05)
    return len(left)


def run_once(
    command: list[str], env: dict, timeout: float, log: Path, grace: float = GRACE_S
) -> tuple[float | None, str | None]:
    """(wall seconds, None), or (None, why it has no time): one ``icezoo eval`` process tree, time-boxed.

    Its output goes to ``log`` (a file: a pipe nobody reads while the tree is being stopped could block it).
    """
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                                start_new_session=True)  # fmt: skip
        try:
            proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            killed = stop_tree(proc, grace)
            return None, f"did not finish in {timeout:.0f} s (stopped{f'; {killed} killed' if killed else ''})"
        except BaseException:  # Ctrl-C or SIGTERM to this script: the run's tree goes too
            stop_tree(proc, grace)
            raise
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return None, f"exit {proc.returncode}: {(log.read_text().strip().splitlines() or [''])[-1][:300]}"
    return wall, None


def run_variant(name: str, args, sets: list[str], work: Path, deadline: float) -> dict:
    """The variant run for each epoch count; rate and extrapolation are added by :func:`rates`."""
    workers = int(re.search(r"workers (\d+)", name).group(1)) if "workers" in name else 1
    graphs = "cuda graphs" in name
    if graphs and not torch.cuda.is_available():
        return {"variant": name, "skipped": "needs a CUDA GPU"}
    env = dict(os.environ)
    env.setdefault("ICEZOO_CACHE", str(work / "cache"))  # the data is generated once, not per run
    row: dict = {"variant": name, "workers": workers, "cuda_graphs": graphs, "wall_s": {}}
    slug = re.sub(r"\W+", "-", name)
    for epochs in args.epoch_counts:
        left = deadline - time.monotonic()
        if row["wall_s"]:
            ((done, took),) = row["wall_s"].items()
            if not longer_run_fits(took, int(done), epochs, left):
                need = took * epochs / int(done)
                return {"variant": name, "skipped": f"{epochs} epochs: not started, {left:.0f} s left of the {need:.0f} s "
                        f"estimated ({done} epochs took {took:.0f} s)", **row}  # fmt: skip
        command = [sys.executable, "-m", "icezoo", "eval", args.recipe, "--protocol", "loso", "--out",
                   str(work / f"{slug}-{epochs}"), "--no-progress", "--workers", str(workers), *sets,
                   f"--set=train.epochs={epochs}", f"--set=train.cuda_graphs={str(graphs).lower()}"]  # fmt: skip
        if args.workers_per_gpu:
            command += ["--workers-per-gpu", str(args.workers_per_gpu)]
        with GpuUtilisation() as gpu:
            wall, why = run_once(command, env, left, work / f"{slug}-{epochs}.log", args.stop_grace)
        if wall is None:
            return {"variant": name, "skipped": f"{epochs} epochs: {why}", **row}
        row["wall_s"][str(epochs)] = wall
        row["gpu_util_pct"] = gpu.mean
    return row


def rates(row: dict, doc: dict) -> None:
    """Add image-steps/s (from the difference of the two runs) and the full protocol's extrapolated wall time."""
    (e1, t1), (e2, t2) = sorted((int(e), t) for e, t in row["wall_s"].items())
    images = doc["image_steps"]
    if t2 <= t1:
        row["skipped"] = f"the {e2}-epoch run ({t2:.1f} s) was not longer than the {e1}-epoch one ({t1:.1f} s)"
        return
    rate = (images[str(e2)] - images[str(e1)]) / (t2 - t1)
    fixed = max(0.0, t1 - images[str(e1)] / rate)  # process start, data, model, capture: per fold, from run E1
    row["image_steps_per_s"], row["fixed_s"] = rate, fixed
    row["full_protocol_h"] = (fixed * doc["full_folds"] / doc["folds"] + doc["full_image_steps"] / rate) / 3600
    base = (
        row
        if row["variant"] == "sequential"
        else next((r for r in doc["rows"] if r["variant"] == "sequential" and "image_steps_per_s" in r), None)
    )
    row["speedup"] = rate / base["image_steps_per_s"] if base is not None else None  # no sequential row: none


def summary(row: dict) -> str:
    if "skipped" in row:
        return f"summary: {row['variant']}: skipped ({row['skipped']})"
    util = f", GPU {row['gpu_util_pct']:.0f}%" if row.get("gpu_util_pct") is not None else ""
    speedup = f"{row['speedup']:.2f}x sequential" if row["speedup"] is not None else "no sequential row"
    return (f"summary: {row['variant']}: {row['image_steps_per_s']:.0f} image-steps/s ({speedup}{util}), "
            f"fixed {row['fixed_s']:.0f} s; full protocol {row['full_protocol_h']:.2f} h")  # fmt: skip


def markdown(doc: dict) -> str:
    e1, e2 = doc["epochs"]
    lines = [f"# LOSO protocol: {doc['recipe']}, {doc['folds']} folds x {e1} and {e2} epochs", "",
             f"Device: {doc['device']}; torch {doc['torch']}; batch {doc['batch']}; full protocol: {doc['full_folds']} "
             f"folds x {doc['full_epochs']} epochs ({doc['full_image_steps']:,} image-steps); {doc['time']}. "
             f"image-steps/s from the difference of the two runs; fixed: the {e1}-epoch run's time less its "
             "training (start, data, set-up, capture), counted per fold in the extrapolation.", "",
             f"| variant | wall s ({e1} / {e2} epochs) | image-steps/s | vs sequential | fixed s | GPU util % "
             "| full protocol (extrapolated) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in doc["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['variant']} | skipped: {r['skipped']} | | | | | |")
            continue
        util = f"{r['gpu_util_pct']:.0f}" if r.get("gpu_util_pct") is not None else "-"
        walls = " / ".join(f"{r['wall_s'][str(e)]:.1f}" for e in (e1, e2))
        speedup = f"{r['speedup']:.2f}x" if r["speedup"] is not None else "-"
        lines.append(f"| {r['variant']} | {walls} | {r['image_steps_per_s']:.0f} | {speedup} | "
                     f"{r['fixed_s']:.0f} | {util} | {r['full_protocol_h']:.2f} h |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="recipes/icegan.yaml")
    p.add_argument("--folds", type=int, default=8)
    p.add_argument("--epochs", default="1,3", help="the two epoch counts, E1,E2 (E1 < E2)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--workers-per-gpu", type=int, default=None)
    p.add_argument("--time-limit", type=float, default=420,
                   help="seconds for the whole script, stopping included; variants that do not fit are skipped")  # fmt: skip
    p.add_argument("--stop-grace", type=float, default=GRACE_S,
                   help="seconds a stopped run gets before what is left of its tree is killed (inside --time-limit)")  # fmt: skip
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a recipe override for every run (e.g. eval.bootstrap=0: no bootstrap draws per fold)")  # fmt: skip
    p.add_argument("--smoke", action="store_true", help="tiny model, 2 folds, 1 and 5 epochs (CPU, CI)")
    p.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args()
    if args.smoke:
        args.recipe, args.folds, args.epochs = "recipes/icegan_small.yaml", 2, "1,5"
    args.epoch_counts = sorted({int(e) for e in args.epochs.split(",")})
    if len(args.epoch_counts) != 2 or args.epoch_counts[0] < 1:
        p.error(f"--epochs: two different epoch counts of at least 1, got {args.epochs!r}")
    base = (SMOKE if args.smoke else []) + [f"eval.max_folds={args.folds}", *args.set]
    recipe = icezoo.load_recipe(REPO / args.recipe, base)
    full = icezoo.load_recipe(REPO / args.recipe, SMOKE if args.smoke else [])
    folds = make_folds("loso", load_clips(recipe), recipe.eval)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    doc = {"recipe": args.recipe, "folds": args.folds, "epochs": args.epoch_counts, "batch": recipe.train.batch_size,
           "device": device_name(device), "torch": torch.__version__,
           "image_steps": {str(e): image_steps(recipe, folds[: args.folds], e) for e in args.epoch_counts},
           "full_folds": len(folds), "full_epochs": full.train.epochs,
           "full_image_steps": image_steps(full, folds, full.train.epochs), "smoke": args.smoke,
           "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": []}  # fmt: skip
    slug = re.sub(r"[^A-Za-z0-9]+", "-", doc["device"]).strip("-").lower()
    path = Path(args.out_dir) / f"loso{'-smoke' if args.smoke else ''}-{slug}-torch{torch.__version__.split('+')[0]}"
    deadline = STARTED + args.time_limit - args.stop_grace  # a run cut at the deadline gets the grace to stop
    sets = [f"--set={o}" for o in base]
    previous = FIRST_VARIANT_SMOKE_S if args.smoke else FIRST_VARIANT_S
    # a SIGTERM stops the running tree as Ctrl-C does; and SIGINT is handled even where it came in ignored (a
    # background job of a script), so that it is not ignored by the runs either (an ignored signal is inherited)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def record(row: dict) -> None:
        doc["rows"].append(row)
        print(summary(row), flush=True)
        atomic_write_text(Path(f"{path}.json"), json.dumps(doc, indent=2) + "\n")
        atomic_write_text(Path(f"{path}.md"), markdown(doc))

    with tempfile.TemporaryDirectory(prefix="icezoo-loso-") as work:
        for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
            left = deadline - time.monotonic()
            if left < previous:
                record({"variant": name, "skipped": f"out of time ({left:.0f} s left, the last variant took {previous:.0f} s)"})  # fmt: skip
                continue
            start = time.monotonic()
            try:
                row = run_variant(name, args, sets, Path(work), deadline)
            except KeyboardInterrupt:  # its runs are stopped (run_once); what was measured is kept
                record({"variant": name, "skipped": "interrupted (SIGINT or SIGTERM); its runs stopped"})
                sys.exit(130)
            if "skipped" not in row:
                previous = max(previous, time.monotonic() - start)
                rates(row, doc)
            record(row)
    print(markdown(doc))


if __name__ == "__main__":
    main()
