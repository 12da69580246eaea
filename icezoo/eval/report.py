"""A run's report: ``predictions.csv``, ``metrics.json``, ``table.md`` (the paper's layout, :mod:`.tables`) and
``confusion.png``, written from the fold files read back through the run folder, naming the data and the code
that computed it.
"""

from __future__ import annotations

from typing import Any

from .tables import (
    PUBLISHED,
    figure,
    published_figures,
    published_lines,
    table_ablation,
    table_i,
    table_i_published,
    table_ii,
)


def _trust_lines(metrics: dict[str, Any]) -> list[str]:
    """Intervals, the selection rule with the same run's other figures, and the validation scores."""
    lines = []
    ci = metrics.get("interval_95")
    if ci and ci.get("per_dataset"):  # sde: Table II's figure is per database, so is its interval
        lines.append(f"95% intervals ({ci['method']}), per database: " + "; ".join(
            f"{d} F1 [{v['uf1'][0]:.3f}, {v['uf1'][1]:.3f}]" for d, v in ci["per_dataset"].items()
        ) + f". Both databases pooled (not a Table II figure): UF1 [{ci['uf1'][0]:.3f}, {ci['uf1'][1]:.3f}].")  # fmt: skip
    elif ci:
        lines.append(f"95% intervals ({ci['method']}): UF1 [{ci['uf1'][0]:.3f}, {ci['uf1'][1]:.3f}], "
                     f"UAR [{ci['uar'][0]:.3f}, {ci['uar'][1]:.3f}].")  # fmt: skip
    sel = metrics.get("selection") or {}
    if sel:
        lines.append(f"Model of each fold: {sel['statement']}.")
        for rule, fig in (sel.get("same_run") or {}).items():
            label = " (ORACLE: chosen on the test subjects, inflated)" if rule == "oracle_test" else ""
            lines.append(f"- same run, `{rule}`{label}: UF1 {figure(fig.get('uf1'))}, UAR {figure(fig.get('uar'))}")
    val = metrics.get("validation")
    if val:
        note = f" ({val['note']})" if val.get("note") else ""
        lines.append(f"Validation subjects (held out of training): UF1 {val['uf1']:.3f}, UAR {val['uar']:.3f} "
                     f"on {val['n']} clips{note}.")  # fmt: skip
    out: list[str] = []
    for line in lines:  # a blank line before each paragraph and before a list, none inside the list
        out += [line] if line.startswith("- ") and out[-1].startswith("- ") else ["", line]
    return out


def markdown_report(protocol: str, metrics: dict[str, Any], name: str, paper: dict[str, Any] | None) -> str:
    """The whole ``table.md`` of an evaluation; an oracle run's first line says so."""
    from .provenance import data_line

    data = metrics.get("data") or {"type": "megc2019", "clips": metrics["overall"]["n"], "subjects": "?"}
    published = bool(data.get("comparable_to_published", data["type"] == "megc2019"))
    lines = [f"**{metrics['warning']}**", ""] if metrics.get("warning") else []
    lines += [f"# {name}: {protocol} protocol", "", data_line(data), ""]
    over = "the MEGC2019 composite" if published else "the synthetic stand-in for the composite"
    if protocol == "loso":
        lines += [
            f"UF1 and UAR with LOSO over {over} (Table I layout; predictions of all folds pooled).",
            "",
            table_i(metrics, name, published and not metrics.get("published")),
        ]  # a Table I row: see below
    elif protocol == "sde":
        lines += ["F1 (macro, pooled) with LOSO within each database (Table II layout).", "",
                  table_ii(metrics, name, published)]  # fmt: skip
    else:
        lines += [
            "UAR and UF1 on the held-out subjects of the 48/20 split (Tables III and IV layout).",
            "",
            table_ablation([{"name": name, "paper": paper, **metrics}]),
        ]
    base = metrics.get("baseline")
    if base:
        start = f"; its backbone starts {base['start']}" if base.get("start") else ""
        lines += ["", f"Baseline: recogniser `{base['recogniser']}` on input `{base['input']}`{start}."]
    if metrics.get("precision", "fp32") != "fp32":
        lines += ["", f"Trained and scored under {metrics['precision']} autocast (`train.precision`)."]
    row = metrics.get("published")
    if row:  # a Table I recipe: its published figures in their own columns, labelled, whatever the data
        lines += ["", f"Beside the paper's row ({PUBLISHED}), in Table I's figures:", "", table_i_published(metrics, row),
                  "", *published_lines(row)]  # fmt: skip
    elif not published:
        lines += ["", "The paper's published numbers are not shown: they were measured on MEGC2019, not on this data."]
    lines += _trust_lines(metrics)
    avg = metrics.get("per_fold_average")
    if avg and avg["folds"] > 1:
        lines += [
            "",
            f"For comparison only (not the MEGC2019 metric): the mean of per-fold scores over {avg['folds']} folds is "
            f"UF1 {avg['uf1']:.3f}, UAR {avg['uar']:.3f}.",
        ]
    lines += [
        "",
        f"{metrics['overall']['n']} test predictions from {metrics['folds']} fold(s); confusion matrix in `confusion.png`.",
    ]
    lines += versions_lines(metrics["versions"]) if metrics.get("versions") else []
    return "\n".join(lines) + "\n"


def versions_lines(computed_by: list[dict[str, Any]]) -> list[str]:
    """The code that computed the folds: one line, or one per set of versions where a run allowed a mix."""
    if len(computed_by) == 1:
        return ["", f"Computed with {computed_by[0]['describe']}."]
    lines = ["", "**Computed with mixed versions** (`--allow-mixed-versions`):", ""]
    return lines + [f"- {g['describe']}: {len(g['folds'])} fold(s) ({', '.join(g['folds'][:4])}"
                    f"{', ...' if len(g['folds']) > 4 else ''})" for g in computed_by]  # fmt: skip


def write_report(recipe, protocol: str, folder, folds: list) -> dict[str, Any]:
    """Pool the folds' predictions (read through the run ``folder``) and write predictions.csv, metrics.json,
    table.md and confusion.png; the versions that computed the folds are named in metrics.json and table.md."""
    import json

    import numpy as np
    import torch

    from ..data import CLASSES
    from ..files import atomic_write_text
    from ..models import build_model
    from ..plots import confusion_matrix_plot
    from .metrics import compute_metrics
    from .predictions import rows_to_csv
    from .trust import trust_fields

    computed_by = folder.computed_by(folds)  # every fold's stamp and versions checked before anything is written
    rows = folder.read_predictions(folds)
    index = {c: k for k, c in enumerate(CLASSES)}
    y_true = np.array([index[r["label"]] for r in rows])
    y_pred = np.array([index[r["pred"]] for r in rows])
    groups = {"dataset": [r["dataset"] for r in rows], "fold": [r["fold"] for r in rows],
              "subject": [r["subject"] for r in rows]}  # fmt: skip
    metrics = trust_fields(y_true, y_pred, groups, folder, folds, recipe.eval, protocol)  # an oracle warning first
    metrics["run"] = folder.run.fingerprint
    metrics["versions"] = computed_by
    metrics |= compute_metrics(y_true, y_pred, groups["dataset"], groups["fold"], protocol)
    with torch.device("meta"):
        model = build_model(recipe)
    if recipe.model.is_baseline:  # a recogniser's size (an estimator's is not counted), what it reads, its start
        metrics["discriminator_mb"] = None
        weights = recipe.model.recogniser.get("backbone_weights")
        metrics["baseline"] = {"input": recipe.model.input.get("type"), "recogniser": recipe.model.recogniser.get("type"),
                               "start": f"ImageNet weights from {weights}" if weights else
                               ("from scratch" if "backbone_weights" in recipe.model.recogniser else None)}  # fmt: skip
        net = model.recogniser if not model.is_estimator else None
        metrics["recogniser_mb"] = sum(p.numel() for p in net.parameters()) * 4 / 1e6 if net is not None else None
    else:
        metrics["discriminator_mb"] = sum(p.numel() for p in model.discriminator.parameters()) * 4 / 1e6
    metrics["precision"] = recipe.train.precision
    metrics["recipe"] = recipe.name
    paper = recipe.to_dict()["paper"]
    metrics["paper"] = paper
    data = metrics.get("data") or {}
    row = published_figures(paper, bool(data.get("comparable_to_published", data.get("type") == "megc2019")))
    if row:
        metrics["published"] = row
    warning = [metrics["warning"]] if "warning" in metrics else []
    atomic_write_text(folder.path / "predictions.csv", rows_to_csv(rows, warning))
    atomic_write_text(folder.path / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic_write_text(folder.path / "table.md", markdown_report(protocol, metrics, recipe.name or "recipe", paper))
    confusion_matrix_plot(
        np.array(metrics["overall"]["confusion"]),
        CLASSES,
        folder.path / "confusion.png",
        title=f"{'ORACLE SELECTION, inflated: ' if warning else ''}{recipe.name} ({protocol}): UF1 {metrics['overall']['uf1']:.3f}, UAR {metrics['overall']['uar']:.3f}",
    )
    if recipe.eval.synthesis_metrics:
        from .synthesis.run import write_synthesis

        metrics["synthesis"] = write_synthesis(recipe, folder, folds)["pooled"]
    return metrics
