"""Start-up time of the command line: ``icezoo --help``, ``--version`` and ``list`` against ``import torch``.

Each command runs as a fresh interpreter (``python -m icezoo ...``, as the
console script does), the commands taking turns so that a change in machine
load touches all of them alike; we report the median and the spread of
``--repeats`` runs each, and whether the command imported torch (``-X importtime``).
Writes ``results/startup-<device>-torch<version>.{json,md}``. It imports
neither torch nor icezoo itself, so it measures only the child processes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    'python -c "import torch"': ["-c", "import torch"],
    "icezoo --help": ["-m", "icezoo", "--help"],
    "icezoo --version": ["-m", "icezoo", "--version"],
    "icezoo list": ["-m", "icezoo", "list"],
}


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, bool]:
    """(seconds, whether torch was imported) of one fresh interpreter running ``args``."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{args}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return seconds, bool(re.search(r"\|\s+torch$", done.stderr, re.MULTILINE))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7, help="runs of each command (default 7)")
    p.add_argument("--smoke", action="store_true", help="one run each (CI)")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="results folder")
    args = p.parse_args()
    repeats = 1 if args.smoke else args.repeats
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    torch_loaded: dict[str, bool] = {}
    for _ in range(repeats):  # in turns: load changes touch every command alike
        for name, cmd in COMMANDS.items():
            seconds, loaded = run_once(cmd, env)
            times[name].append(seconds)
            torch_loaded[name] = loaded
    base = statistics.median(times['python -c "import torch"'])
    rows = [
        {
            "command": name,
            "median_s": statistics.median(ts),
            "min_s": min(ts),
            "max_s": max(ts),
            "runs": len(ts),
            "vs_import_torch": statistics.median(ts) / base,
            "imports_torch": torch_loaded[name],
        }
        for name, ts in times.items()
    ]
    device = f"CPU {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
    env_info = {"device": device, "python": platform.python_version(), "torch": version("torch"),
                "load_average": os.getloadavg(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
    slug = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()
    path = Path(args.out) / f"startup-{slug}-torch{env_info['torch'].split('+')[0]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": env_info, "results": rows}, indent=2) + "\n")
    lines = [
        "# Start-up time of the command line",
        "",
        f"Device: {device}; Python {env_info['python']}; torch {env_info['torch']}; load average "
        f"{', '.join(f'{x:.1f}' for x in env_info['load_average'])} at the end; {env_info['time']}.",
        "",
        "| command | median s (min-max) | runs | / import torch | imports torch |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| `{r['command']}` | {r['median_s']:.2f} ({r['min_s']:.2f}-{r['max_s']:.2f}) | {r['runs']} | "
            f"{r['vs_import_torch']:.2f}x | {'yes' if r['imports_torch'] else 'no'} |"
        )
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[4:]))
    print(f"wrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
