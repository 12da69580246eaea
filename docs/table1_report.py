"""Table I on the synthetic stand-in, as one table and one figure, from the runs ``docs/table1.sh`` made.

Usage: python docs/table1_report.py OUT NAME [NAME ...] [--row NAME=RECIPE:LABEL] [--note TEXT]
Each NAME is a folder of OUT holding ``seeds.json`` (``icezoo eval --seeds``) and its seeds' ``metrics.json``;
writes ``OUT/table1.md`` and ``OUT/table1.png``: each row's mean +- SD over seeds, the precision it trained in,
beside its published MEGC2019 figure, never in the same column. ``--row`` labels a run of a recipe that is not a
Table I row with the published figures of one that is (ICE-GAN's narrow CPU variant beside ICE-GAN's row).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from icezoo.eval.provenance import data_line
from icezoo.plots import table_i_figure


def precision_of(folder: Path) -> str:
    """The ``train.precision`` of a row's resolved recipe (fp32 where none was kept)."""
    for path in [folder / "recipe.yaml", *sorted(folder.glob("seed_*/recipe.yaml"))]:
        if path.is_file():
            return yaml.safe_load(path.read_text())["train"]["precision"]
    return "fp32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--note", action="append", default=[], help="a paragraph under the table")
    parser.add_argument("--row", action="append", default=[], help="NAME=RECIPE:LABEL: RECIPE's published figures")
    args = parser.parse_args()
    rows = {}
    for spec in args.row:
        name, _, rest = spec.partition("=")
        recipe, _, label = rest.partition(":")
        rows[name] = {**yaml.safe_load(Path(recipe).read_text())["paper"], "row": label}
    lines = ["| Recipe | Paper row | UF1 (mean +- SD, 3 seeds) | UAR (mean +- SD) | precision | published UF1 / UAR "
             "(MEGC2019 LOSO; other data, reference only) | published selection |",
             "| --- | --- | ---: | ---: | --- | ---: | --- |"]  # fmt: skip
    figure, data = [], None
    for name in args.names:
        folder = args.out / Path(name).name
        seeds = json.loads((folder / "seeds.json").read_text())
        first = json.loads(next(folder.glob("seed_*/metrics.json")).read_text())
        data = data or seeds.get("data")
        paper = rows.get(folder.name) or first.get("paper") or {}
        published = f"{paper['uf1']:.3f} / {paper['uar']:.3f}" if paper.get("uf1") is not None else "-"
        u, a = seeds["uf1"], seeds["uar"]
        lines.append(f"| {folder.name} | {paper.get('row') or '-'} | {u['mean']:.3f} +- {u['sd']:.3f} | "
                     f"{a['mean']:.3f} +- {a['sd']:.3f} | {precision_of(folder)} | {published} | "
                     f"{paper.get('selection') or 'not stated'} |")  # fmt: skip
        figure.append({"name": folder.name, "uf1": u["mean"], "uar": a["mean"],
                       "spread": {"uf1": (u["mean"] - u["sd"], u["mean"] + u["sd"]),
                                  "uar": (a["mean"] - a["sd"], a["mean"] + a["sd"])},
                       "published": (paper["uf1"], paper["uar"]) if paper.get("uf1") is not None else None})  # fmt: skip
    notes = [line for note in args.note for line in ("", note)]
    text = "\n".join(["# Table I rows on the synthetic stand-in (split protocol, 20 held-out subjects)", "",
                      data_line(data) if data else "", "", *lines, *notes, ""])  # fmt: skip
    (args.out / "table1.md").write_text(text)
    table_i_figure(
        figure,
        args.out / "table1.png",
        spread="mean +- SD over 3 seeds",
        title="Table I rows on the synthetic stand-in (split protocol); published: MEGC2019, other data",
    )
    print(text)


if __name__ == "__main__":
    main()
