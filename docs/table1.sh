#!/usr/bin/env bash
# Table I on the synthetic stand-in, under the 48/20 split protocol, as mean +- SD over three training seeds:
# every row through the same protocol, run identity, selection rule (each recipe's eval.select; nothing chosen on
# the 20 test subjects) and report. On 2 CPU cores: LBP-TOP + SVM, STSTNet and Dual-Inception at their recipes'
# budgets in fp32; CapsuleNet and ME-Recognizer (approximated) at theirs under bf16 autocast and channels_last
# (the CPU's AMX units: a CapsuleNet step of 32 faces takes 1.8 s instead of 7.5 s here; set BF16= to run them in
# fp32); ICE-GAN as its narrow CPU variant (icegan_small_pooled, chosen on validation subjects:
# docs/evaluation.md). The paper-size ICE-GAN (about 5 s a step of 16 here, 1,700 steps a seed) waits for a GPU:
#   bash docs/table1.sh OUT table1/icegan
# Usage: bash docs/table1.sh [OUT [RECIPE ...]]   (about 90 minutes for the default rows on 2 free cores)
set -euo pipefail
out=${1:-runs/table1}
shift || true
recipes=("$@")
[ ${#recipes[@]} -gt 0 ] || recipes=(table1/lbp_top table1/ststnet table1/dual_inception table1/capsulenet
                                     table1/emr_approx icegan_small_pooled)
bf16=${BF16-table1/capsulenet table1/emr_approx}
for recipe in "${recipes[@]}"; do
  name=$(basename "$recipe")
  sets=()
  case " $bf16 " in *" $recipe "*) sets=(--set train.precision=bf16 --set train.channels_last=true) ;; esac
  icezoo eval "recipes/$recipe.yaml" --protocol split --seeds 3 "${sets[@]}" --out "$out/$name" --no-progress
done
python - "$out" "${recipes[@]}" <<'PY'
"""One table: each row's mean +- SD over seeds beside its published MEGC2019 figure, never in the same column."""
import json
import sys
from pathlib import Path

import yaml

out, recipes = Path(sys.argv[1]), sys.argv[2:]
figure = []
lines = ["| Recipe | Paper row | UF1 (mean +- SD, 3 seeds) | UAR (mean +- SD) | precision | published UF1 / UAR "
         "(MEGC2019 LOSO; other data, reference only) | published selection |",
         "| --- | --- | ---: | ---: | --- | ---: | --- |"]
data = None
for recipe in recipes:
    name = Path(recipe).name
    seeds = json.loads((out / name / "seeds.json").read_text())
    first = json.loads(next((out / name).glob("seed_*/metrics.json")).read_text())
    data = data or seeds.get("data")
    paper = first.get("paper") or {}
    published = f"{paper['uf1']:.3f} / {paper['uar']:.3f}" if paper.get("uf1") is not None else "-"
    u, a = seeds["uf1"], seeds["uar"]
    resolved = next(p for p in [out / name / "recipe.yaml", *sorted((out / name).glob("seed_*/recipe.yaml"))]
                    if p.is_file())  # fmt: skip
    precision = yaml.safe_load(resolved.read_text())["train"]["precision"]
    lines.append(f"| {name} | {paper.get('row') or '-'} | {u['mean']:.3f} +- {u['sd']:.3f} | "
                 f"{a['mean']:.3f} +- {a['sd']:.3f} | {precision} | {published} | {paper.get('selection') or '-'} |")
    figure.append({"name": name, "uf1": u["mean"], "uar": a["mean"],
                   "spread": {"uf1": (u["mean"] - u["sd"], u["mean"] + u["sd"]),
                              "uar": (a["mean"] - a["sd"], a["mean"] + a["sd"])},
                   "published": (paper["uf1"], paper["uar"]) if paper.get("uf1") is not None else None})
from icezoo.eval.provenance import data_line

text = "\n".join(["# Table I rows on the synthetic stand-in (split protocol, 20 held-out subjects)", "",
                  data_line(data) if data else "", "", *lines, ""])
(out / "table1.md").write_text(text)
from icezoo.plots import table_i_figure

table_i_figure(figure, out / "table1.png", spread="mean +- SD over 3 seeds",
               title="Table I rows on the synthetic stand-in (split protocol); published: MEGC2019, other data")
print(text)
PY
