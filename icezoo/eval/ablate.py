"""Ablations: several recipes under one protocol, one comparison table (``icezoo ablate``)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import IcezooError
from ..files import atomic_write_text
from .provenance import data_line
from .runner import evaluate
from .tables import table_ablation


def ablate(recipes: list, protocol: str, out: str | Path, progress: bool = True, device: str | None = None) -> str:
    """Evaluate each recipe into ``out/NAME``, write ``comparison.md`` and ``.json`` into ``out``; return the table."""
    names = [r.name or Path(r.source).stem for r in recipes]
    if len(set(names)) != len(names):
        raise IcezooError(f"recipes must have distinct names for one comparison, got {names}")
    out = Path(out)
    entries = []
    for recipe, name in zip(recipes, names):
        metrics = evaluate(recipe, protocol, out / name, progress=progress, device=device)
        keys = (
            "paper",
            "overall",
            "discriminator_mb",
            "synthesis",
            "data",
            "selection",
            "validation",
            "interval_95",
            "warning",
            "published",
        )
        entries.append({"name": name, **{k: metrics[k] for k in keys if k in metrics}})
        oracle = metrics.get("selection", {}).get("same_run", {}).get("oracle_test")
        side = f"; oracle_test (inflated) UF1 {oracle['uf1']:.3f}, UAR {oracle['uar']:.3f}" if oracle else ""
        print(f"{name}: UF1 {metrics['overall']['uf1']:.3f}, UAR {metrics['overall']['uar']:.3f}{side}")
    table = table_ablation(entries)
    warn = "".join(f"**{name}: {e['warning']}**\n\n" for name, e in zip(names, entries) if e.get("warning"))
    measured = [e for e in entries if "synthesis" in e]
    if measured:  # eval.synthesis_metrics: the synthesised faces' own numbers
        from .synthesis.summary import ablation_table

        table += "\n\nSynthesised faces (pooled over folds):\n\n" + ablation_table(measured)
    if any(e.get("published") for e in entries):  # Table I recipes: the paper's rows beside ours, labelled
        from .tables import table_i_comparison

        table += "\n\nBeside Table I's published rows (composite figures):\n\n" + table_i_comparison(entries)
        from ..plots import table_i_figure

        table_i_figure(figure_rows(entries), out / "comparison.png", title=f"Table I rows ({protocol} protocol)")
        table += "\n\nThe same as a figure: `comparison.png`."
    data = dict.fromkeys(data_line(e["data"]) for e in entries if e.get("data"))  # every report names its data
    head = f"{warn}# Ablation ({protocol} protocol)\n\n" + "".join(f"{line}\n\n" for line in data)
    atomic_write_text(out / "comparison.md", f"{head}{table}\n")
    atomic_write_text(out / "comparison.json", json.dumps(entries, indent=2) + "\n")
    return table


def figure_rows(entries: list[dict]) -> list[dict]:
    """:func:`icezoo.plots.table_i_figure`'s rows from ablation entries: ours with the 95% interval, the paper's."""
    rows = []
    for e in entries:
        ci = e.get("interval_95") or {}
        figures = ((e.get("published") or {}).get("figures") or {}).get("all")
        rows.append({"name": e["name"], "uf1": e["overall"]["uf1"], "uar": e["overall"]["uar"],
                     "spread": {k: tuple(ci[k]) for k in ("uf1", "uar") if k in ci} or None,
                     "published": tuple(figures) if figures and None not in figures else None})  # fmt: skip
    return rows
