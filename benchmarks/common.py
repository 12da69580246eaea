"""Shared plumbing of the benchmark scripts: arguments, device, and result files written as they grow.

Results go to ``benchmarks/results/<script>-<device>-torch<version>.{json,md}``
(the device and torch version in the name, as timm's result files). Every
measurement rewrites both files atomically, so a run cut short keeps what it
measured.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
sys.path.insert(0, str(REPO))

from icezoo.bench.harness import environment, markdown_table, mfu_text  # noqa: E402
from icezoo.devices import resolve_device  # noqa: E402
from icezoo.files import atomic_write_text  # noqa: E402


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="auto", help="cuda, cpu or auto (default)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and few iterations (CPU, CI)")
    p.add_argument("--out-dir", default=str(ROOT / "results"), help="where the JSON and Markdown go")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    p.add_argument("--tag", default="", help="added to the result file names (keeps separate runs apart)")
    p.add_argument("--warmup", type=int, help="untimed calls before each measurement (default: the script's)")
    p.add_argument("--iters", type=int, help="timed calls per measurement (default: the script's)")
    return p


def timing(args: argparse.Namespace, full: tuple[int, int], smoke: tuple[int, int] = (1, 2)) -> tuple[int, int]:
    """(warm-up calls, timed calls): the script's defaults for ``--smoke`` or a full run, unless given."""
    warmup, iters = smoke if args.smoke else full
    return (warmup if args.warmup is None else args.warmup, iters if args.iters is None else args.iters)


class Results:
    """Measurements of one script, saved after each addition."""

    def __init__(self, script: str, device: torch.device, out_dir: str, notes: str = "", tag: str = ""):
        self.device, self.rows, self.summary, self._printed = device, [], {}, set()
        self.env = environment(device)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.env["device"]).strip("-").lower()
        version = torch.__version__.split("+")[0]
        self.path = Path(out_dir) / f"{script}{'-' + tag if tag else ''}-{slug}-torch{version}.json"
        self.script, self.notes = script, notes

    def add(self, measurement) -> None:
        row = measurement.to_dict() if hasattr(measurement, "to_dict") else measurement
        self.rows.append(row)
        if row.get("what") != "skipped":
            print(
                f"{row['name']:>28} {row['what']:<22} batch {row['batch']:>4} {row['precision']} {'compiled' if row['compiled'] else 'eager   '} "
                f"{row['median_ms']:9.3f} ms {row['images_per_s']:10.1f} img/s MFU {mfu_text(row['mfu'])}",
                flush=True,
            )
        else:
            print(
                f"{row['name']:>28} batch {row['batch']} {row['precision']}: skipped ({row['extra'].get('reason')})",
                flush=True,
            )
        self.save()

    def summarise(self, key: str, value) -> None:
        """A summary line: kept, saved and printed at once (a run cut short has printed what it found)."""
        self.summary[key] = value
        self._printed.add(key)
        print(f"summary: {key}: {value}", flush=True)
        self.save()

    def finish(self) -> None:
        """Save, and print the summary lines not printed yet."""
        self.save()
        for key, value in self.summary.items():
            if key not in self._printed:
                print(f"summary: {key}: {value}")
        print(f"wrote {self.path} and {self.path.with_suffix('.md')}")

    def save(self) -> None:
        payload = {
            "script": self.script,
            "environment": self.env,
            "notes": self.notes,
            "summary": self.summary,
            "results": self.rows,
        }
        atomic_write_text(self.path, json.dumps(payload, indent=2, default=str) + "\n")
        md = markdown_table(self.rows, self.env, self.script)
        if self.summary:
            md += "\n## Summary\n\n" + "\n".join(f"- {k}: {v}" for k, v in self.summary.items()) + "\n"
        if self.notes:
            md += "\n" + self.notes + "\n"
        atomic_write_text(self.path.with_suffix(".md"), md)


def recipe(path: str) -> Path:
    """A recipe path as given (from the current folder), else relative to the repository."""
    return Path(path) if Path(path).exists() else REPO / path


def device_from(args) -> torch.device:
    """The device; on CUDA cuDNN picks its fastest convolutions. TF32 stays at PyTorch's defaults
    (on for convolutions, off for matrix products), so "fp32" means what it means out of the box."""
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device
