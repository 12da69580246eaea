"""``icezoo eval --seeds N``: the same protocol with N training seeds, and mean +- SD over them.

Seed i sets ``train.seed`` to the recipe's seed + i (initial weights, batches,
noise); the data and the protocol's subjects stay fixed, so the spread is the
training's own. Each seed's run is a full run folder ``OUT/seed_<s>``;
``OUT/seeds.json`` and ``OUT/seeds.md`` summarise them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from .statistics import mean_sd


def evaluate_seeds(recipe, protocol: str, out_dir: str | Path, seeds: int, **kwargs: Any) -> dict[str, Any] | None:
    """Run ``evaluate`` once per seed into ``out_dir/seed_<s>``; the summary once every seed's report is written."""
    from .runner import evaluate

    out_dir = Path(out_dir)
    runs = {}
    for i in range(seeds):
        seed = recipe.train.seed + i
        seeded = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, seed=seed))
        runs[seed] = evaluate(seeded, protocol, out_dir / f"seed_{seed}", **kwargs)
    if any(m is None for m in runs.values()):
        return None
    summary = {
        "protocol": protocol,
        "recipe": recipe.name,
        "seeds": sorted(runs),
        "warning": next((m["warning"] for m in runs.values() if "warning" in m), None),
        "data": next(iter(runs.values())).get("data"),
        "uf1": mean_sd([m["overall"]["uf1"] for m in runs.values()]),
        "uar": mean_sd([m["overall"]["uar"] for m in runs.values()]),
        "per_seed": {s: {"uf1": m["overall"]["uf1"], "uar": m["overall"]["uar"]} for s, m in runs.items()},
    }
    if protocol == "sde":  # Table II's figure is each database's F1; the pooled one is not a Table II number
        datasets = sorted({d for m in runs.values() for d in m["per_dataset"]})
        summary["per_dataset"] = {d: {"f1": mean_sd([m["per_dataset"][d]["f1"] for m in runs.values()])}
                                  for d in datasets}  # fmt: skip
        summary["pooled_note"] = POOLED_NOTE
        for s, m in runs.items():
            summary["per_seed"][s]["f1"] = {d: m["per_dataset"][d]["f1"] for d in datasets}
    atomic_write_text(out_dir / "seeds.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out_dir / "seeds.md", seeds_markdown(summary))
    return summary


POOLED_NOTE = "both databases pooled: not a Table II figure (Table II gives each database's F1)"


def headline(s: dict[str, Any]) -> str:
    """The summary's figure as its protocol reports it: per database under ``sde``, else pooled UF1 / UAR."""
    pooled = f"UF1 {s['uf1']['mean']:.3f} +- {s['uf1']['sd']:.3f}, UAR {s['uar']['mean']:.3f} +- {s['uar']['sd']:.3f}"
    if "per_dataset" not in s:
        return pooled
    per = "; ".join(f"{d} F1 {v['f1']['mean']:.3f} +- {v['f1']['sd']:.3f}" for d, v in s["per_dataset"].items())
    return f"{per} ({s['pooled_note']}: {pooled})"


def seeds_markdown(s: dict[str, Any]) -> str:
    """The seeds summary as Markdown: the warning of an oracle run first, the data, then mean +- SD and each seed."""
    from .provenance import data_line

    lines = [f"**{s['warning']}**", ""] if s.get("warning") else []
    lines += [f"# {s['recipe']}: {s['protocol']} protocol over {len(s['seeds'])} training seeds", ""]
    lines += [data_line(s["data"]), ""] if s.get("data") else []
    datasets = list(s.get("per_dataset") or {})
    lines += [f"{headline(s)} (mean +- sample SD over seeds; pooled per run).", ""]
    lines += ["| seed |" + "".join(f" {d} F1 |" for d in datasets) + (" UF1 (pooled, not Table II) | UAR (pooled) |"
              if datasets else " UF1 | UAR |"), "| ---: |" + " ---: |" * (len(datasets) + 2)]  # fmt: skip
    lines += [f"| {k} |" + "".join(f" {v['f1'][d]:.3f} |" for d in datasets) + f" {v['uf1']:.3f} | {v['uar']:.3f} |"
              for k, v in s["per_seed"].items()]  # fmt: skip
    return "\n".join(lines) + "\n"
