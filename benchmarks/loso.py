"""The LOSO protocol itself, timed, and its full run extrapolated.

K folds x E epochs of a recipe at its own batch (icegan.yaml: 16), each
variant one ``icezoo eval --protocol loso`` process tree started from here:
sequential eager, worker processes (``--workers N``, several per GPU), the
whole step as a CUDA graph (``train.cuda_graphs``), and both. For each: wall
time, image-steps/s (training images through the GAN step per second, all
workers together), mean GPU utilisation (nvidia-smi, sampled every 0.5 s) and
the wall time of the full protocol (every fold, ``train.epochs`` epochs)
extrapolated at the measured rate. The rate includes each process's start
(imports, data, model, capture), so the extrapolation errs long.

    python benchmarks/loso.py                   # GPU: 8 folds x 2 epochs of recipes/icegan.yaml
    python benchmarks/loso.py --smoke           # CPU: 2 tiny folds, a few steps (CI)

Writes ``benchmarks/results/loso-<device>-torch<version>.{json,md}``, rewritten after each variant.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import icezoo  # noqa: E402
from icezoo.bench.harness import device_name  # noqa: E402
from icezoo.data import load_clips  # noqa: E402
from icezoo.eval.protocols import make_folds  # noqa: E402
from icezoo.files import atomic_write_text  # noqa: E402

VARIANTS = ["sequential", "workers 2", "workers 4", "workers 8", "cuda graphs", "workers 4 + cuda graphs",
            "workers 8 + cuda graphs"]  # fmt: skip
SMOKE = ["model.image_size=32", "model.generator.width=4", "model.generator.max_width=16",
         "model.generator.embed_dim=16", "model.discriminator.trunk.ndf=4", "model.discriminator.head.adv_dim=8",
         "model.discriminator.head.exp_dim=4", "model.discriminator.head.recon_hidden=[16]", "train.batch_size=8",
         "train.max_steps=2"]  # fmt: skip


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


def run_variant(name: str, args, sets: list[str], work: Path, timeout: float) -> dict:
    workers = int(re.search(r"workers (\d+)", name).group(1)) if "workers" in name else 1
    graphs = "cuda graphs" in name
    if graphs and not torch.cuda.is_available():
        return {"variant": name, "skipped": "needs a CUDA GPU"}
    out = work / re.sub(r"\W+", "-", name)
    command = [sys.executable, "-m", "icezoo", "eval", args.recipe, "--protocol", "loso", "--out", str(out),
               "--no-progress", "--workers", str(workers), *sets, f"--set=train.cuda_graphs={str(graphs).lower()}"]  # fmt: skip
    if args.workers_per_gpu:
        command += ["--workers-per-gpu", str(args.workers_per_gpu)]
    start = time.perf_counter()
    with GpuUtilisation() as gpu:
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
        except subprocess.TimeoutExpired:
            return {"variant": name, "skipped": f"did not finish in {timeout:.0f} s"}
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {
            "variant": name,
            "skipped": f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:300]}",
        }
    return {"variant": name, "workers": workers, "cuda_graphs": graphs, "wall_s": wall, "gpu_util_pct": gpu.mean}


def markdown(doc: dict) -> str:
    lines = [f"# LOSO protocol: {doc['recipe']}, {doc['folds']} folds x {doc['epochs']} epochs", "",
             f"Device: {doc['device']}; torch {doc['torch']}; batch {doc['batch']}; full protocol: {doc['full_folds']} "
             f"folds x {doc['full_epochs']} epochs ({doc['full_image_steps']:,} image-steps); {doc['time']}.", "",
             "| variant | wall s | image-steps/s | vs sequential | GPU util % | full protocol (extrapolated) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in doc["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['variant']} | skipped: {r['skipped']} | | | | |")
            continue
        util = f"{r['gpu_util_pct']:.0f}" if r.get("gpu_util_pct") is not None else "-"
        lines.append(f"| {r['variant']} | {r['wall_s']:.1f} | {r['image_steps_per_s']:.0f} | {r['speedup']:.2f}x | "
                     f"{util} | {r['full_protocol_h']:.2f} h |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="recipes/icegan.yaml")
    p.add_argument("--folds", type=int, default=8)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--workers-per-gpu", type=int, default=None)
    p.add_argument("--time-limit", type=float, default=420, help="seconds for all variants; later ones are skipped")
    p.add_argument("--smoke", action="store_true", help="tiny model, 2 folds, 2 steps each (CPU, CI)")
    p.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args()
    if args.smoke:
        args.recipe, args.folds, args.epochs = "recipes/icegan_small.yaml", 2, 1
    overrides = (SMOKE if args.smoke else []) + [f"eval.max_folds={args.folds}", f"train.epochs={args.epochs}"]
    recipe = icezoo.load_recipe(REPO / args.recipe, overrides)
    full = icezoo.load_recipe(REPO / args.recipe, SMOKE if args.smoke else [])
    folds = make_folds("loso", load_clips(recipe), recipe.eval)
    measured, full_steps = (
        image_steps(recipe, folds[: args.folds], args.epochs),
        image_steps(full, folds, full.train.epochs),
    )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    doc = {"recipe": args.recipe, "folds": args.folds, "epochs": args.epochs, "batch": recipe.train.batch_size,
           "device": device_name(device), "torch": torch.__version__, "image_steps": measured,
           "full_folds": len(folds), "full_epochs": full.train.epochs, "full_image_steps": full_steps,
           "smoke": args.smoke, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": []}  # fmt: skip
    slug = re.sub(r"[^A-Za-z0-9]+", "-", doc["device"]).strip("-").lower()
    path = Path(args.out_dir) / f"loso{'-smoke' if args.smoke else ''}-{slug}-torch{torch.__version__.split('+')[0]}"
    deadline = time.monotonic() + args.time_limit
    sets = [f"--set={o}" for o in overrides]
    with tempfile.TemporaryDirectory(prefix="icezoo-loso-") as work:
        for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
            left = deadline - time.monotonic()
            row = (
                run_variant(name, args, sets, Path(work), left)
                if left > 5
                else {"variant": name, "skipped": "out of time"}
            )
            if "wall_s" in row:
                row["image_steps_per_s"] = measured / row["wall_s"]
                row["full_protocol_h"] = full_steps / row["image_steps_per_s"] / 3600
                base = next((r for r in doc["rows"] if r["variant"] == "sequential" and "wall_s" in r), row)
                row["speedup"] = base["wall_s"] / row["wall_s"]
            doc["rows"].append(row)
            print(json.dumps(row), flush=True)
            atomic_write_text(Path(f"{path}.json"), json.dumps(doc, indent=2) + "\n")
            atomic_write_text(Path(f"{path}.md"), markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
