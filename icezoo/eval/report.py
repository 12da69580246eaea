"""Reports in the paper's layout, with the published numbers beside ours.

Table I (LOSO over the composite: UF1 / UAR overall and per dataset),
Table II (single-database LOSO: F1 on CASME II and SAMM) and the ablation
layout of Tables III and IV (UAR / UF1 per recipe, split protocol).
"""

from __future__ import annotations

from typing import Any

# Table I of the paper: UF1, UAR for MEGC2019 (all), SAMM, SMIC, CASME II.
PAPER_TABLE_I: dict[str, dict[str, tuple[float, float]]] = {
    "LBP-TOP": {"all": (0.588, 0.578), "samm": (0.395, 0.410), "smic": (0.200, 0.528), "casme2": (0.702, 0.742)},
    "CapsuleNet": {"all": (0.652, 0.650), "samm": (0.620, 0.598), "smic": (0.582, 0.587), "casme2": (0.706, 0.701)},
    "Dual-Inception": {"all": (0.732, 0.727), "samm": (0.586, 0.566), "smic": (0.664, 0.672), "casme2": (0.862, 0.856)},
    "STSTNet": {"all": (0.735, 0.760), "samm": (0.658, 0.681), "smic": (0.680, 0.701), "casme2": (0.838, 0.868)},
    "ME-Recognizer": {"all": (0.788, 0.782), "samm": (0.775, 0.715), "smic": (0.746, 0.753), "casme2": (0.829, 0.820)},
    "ICE-GAN (paper)": {
        "all": (0.874, 0.883),
        "samm": (0.879, 0.883),
        "smic": (0.782, 0.801),
        "casme2": (0.895, 0.904),
    },
}

# Table II of the paper: F1 with LOSO within CASME II and within SAMM.
PAPER_TABLE_II: dict[str, dict[str, float]] = {
    "MicroAttention": {"casme2": 0.539, "samm": 0.402},
    "MER-GCN": {"casme2": 0.303, "samm": 0.283},
    "AU-GACN": {"casme2": 0.355, "samm": 0.433},
    "ICE-GAN (paper)": {"casme2": 0.585, "samm": 0.623},
}

_COLUMNS_I = [("all", "MEGC2019"), ("samm", "SAMM"), ("smic", "SMIC"), ("casme2", "CASME II")]


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def table_i(ours: dict[str, Any], name: str, published: bool = True) -> str:
    """Table I's layout; the published rows only beside a MEGC2019 run (``published``)."""
    head = "| Method | " + " | ".join(f"{label} UF1 | {label} UAR" for _, label in _COLUMNS_I) + " |"
    rule = "| --- |" + " ---: | ---: |" * len(_COLUMNS_I)
    rows = [head, rule]
    for method, values in PAPER_TABLE_I.items() if published else ():
        rows.append(
            f"| {method} | " + " | ".join(f"{_f(values[k][0])} | {_f(values[k][1])}" for k, _ in _COLUMNS_I) + " |"
        )
    cells = []
    for key, _ in _COLUMNS_I:
        block = ours["overall"] if key == "all" else ours["per_dataset"].get(key)
        cells.append(f"{_f(block['uf1'])} | {_f(block['uar'])}" if block else "- | -")
    rows.append(f"| **ours: {name}** | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def table_ii(ours: dict[str, Any], name: str, published: bool = True) -> str:
    """Table II's layout; the published rows only beside a MEGC2019 run (``published``)."""
    rows = ["| Method | CASME II F1 | SAMM F1 |", "| --- | ---: | ---: |"]
    for method, values in PAPER_TABLE_II.items() if published else ():
        rows.append(f"| {method} | {_f(values['casme2'])} | {_f(values['samm'])} |")
    f1 = {k: v["f1"] for k, v in ours["per_dataset"].items()}
    per = (ours.get("interval_95") or {}).get("per_dataset") or {}
    cell = lambda d: _f(f1.get(d)) + (f" [{per[d]['uf1'][0]:.2f}, {per[d]['uf1'][1]:.2f}]" if d in per else "")  # noqa: E731
    rows.append(f"| **ours: {name}** | {cell('casme2')} | {cell('samm')} |")
    return "\n".join(rows)


PUBLISHED = "published, MEGC2019"
"""The label of a published figure beside ours: measured by its authors on MEGC2019, under their selection."""


def published_figures(paper: dict[str, Any] | None, comparable: bool) -> dict[str, Any] | None:
    """A Table I recipe's published row (``paper.table: I``) as ``metrics.json`` keeps it beside ours, or None:
    [UF1, UAR] per database, the row, its selection rule and caveat, and whether our data is MEGC2019."""
    paper = paper or {}
    if str(paper.get("table")) != "I" or paper.get("uf1") is None:
        return None
    figures = {"all": [paper["uf1"], paper["uar"]], **(paper.get("datasets") or {})}
    return {"label": PUBLISHED, "row": paper.get("row"), "figures": figures, "selection": paper.get("selection"),
            "caveat": paper.get("caveat"), "same_data": comparable}  # fmt: skip


def table_i_published(ours: dict[str, Any], published: dict[str, Any]) -> str:
    """Table I's figures, one database a row: ours (with the interval of the pooled figure) in their own columns,
    the published ones in theirs (never one column for both)."""
    tag = PUBLISHED if published["same_data"] else f"{PUBLISHED}; other data, reference only"
    rows = [f"| Database | ours UF1 | ours UAR | UF1 ({tag}) | UAR ({tag}) |", "| --- | ---: | ---: | ---: | ---: |"]
    for key, label in _COLUMNS_I:
        block = ours["overall"] if key == "all" else ours["per_dataset"].get(key)
        mine = [_f(block["uf1"]) + (_ci(ours, "uf1") if key == "all" else ""),
                _f(block["uar"]) + (_ci(ours, "uar") if key == "all" else "")] if block else ["-", "-"]  # fmt: skip
        theirs = published["figures"].get(key) or [None, None]
        rows.append(f"| {label} | " + " | ".join(mine + [_f(theirs[0]), _f(theirs[1])]) + " |")
    return "\n".join(rows)


def table_i_comparison(entries: list[dict[str, Any]]) -> str:
    """``icezoo ablate recipes/table1/*.yaml``: one row per recipe, ours (with intervals) and the paper's row
    (labelled, with its selection rule) in separate columns, composite figures; a recipe without a Table I row
    gets dashes in the published columns."""
    same = all((e.get("published") or {}).get("same_data") for e in entries if e.get("published"))
    tag = PUBLISHED if same else f"{PUBLISHED}; other data, reference only"
    rows = [f"| Recipe | ours UF1 [95% CI] | ours UAR [95% CI] | UF1 ({tag}) | UAR ({tag}) | published selection |",
            "| --- | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
    for e in entries:
        row = e.get("published") or {}
        uf1, uar = (row.get("figures") or {}).get("all") or [None, None]
        cells = [e["name"], _f(e["overall"]["uf1"]) + _ci(e, "uf1"), _f(e["overall"]["uar"]) + _ci(e, "uar"),
                 _f(uf1), _f(uar), (row.get("selection") or "-") if row else "-"]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def published_lines(published: dict[str, Any]) -> list[str]:
    """What the published columns are: the paper's row, measured on MEGC2019 with its own selection rule."""
    lines = [f"The published columns ({PUBLISHED}) are the paper's Table I, row {published['row']}: measured by its "
             "authors with LOSO over the MEGC2019 composite, each fold's model chosen by their rule: "
             f"{published.get('selection') or 'not stated'}."]  # fmt: skip
    if published.get("caveat"):
        lines.append(f"Caveat: {published['caveat']}.")
    if not published["same_data"]:
        lines.append("They were measured on MEGC2019, not on this data: a reference, not a comparison.")
    return lines


def _ci(e: dict[str, Any], key: str) -> str:
    ci = (e.get("interval_95") or {}).get(key)
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def table_ablation(entries: list[dict[str, Any]]) -> str:
    """One row per recipe: the paper's row and numbers (MEGC2019 runs only), ours with 95% intervals, D's size.

    Where a run recorded its candidates, the validation figure and the same run's oracle (best test epoch,
    inflated) figure stand beside the reported one.
    """
    published = all((e.get("data") or {}).get("comparable_to_published") for e in entries)
    extra = any("same_run" in (e.get("selection") or {}) for e in entries)
    head = (
        "| Recipe | Paper row |" + (" Paper UAR | Paper UF1 |" if published else "") + " UAR [95% CI] | UF1 [95% CI] |"
    )
    head += " val UAR | UAR oracle_test (inflated) |" * extra + " D params (MB) |"  # val UAR: see each table.md
    rows = [head, "| --- | --- |" + " ---: |" * (head.count("|") - 3)]
    for e in entries:
        paper = e.get("paper") or {}
        cells = [e["name"], f"{paper.get('table') or ''} {paper.get('row') or ''}".strip() or "-"]
        if published:
            cells += [_f(paper.get("uar")), _f(paper.get("uf1"))]
        cells += [_f(e["overall"]["uar"]) + _ci(e, "uar"), _f(e["overall"]["uf1"]) + _ci(e, "uf1")]
        if extra:
            oracle = ((e.get("selection") or {}).get("same_run") or {}).get("oracle_test") or {}
            cells += [_f((e.get("validation") or {}).get("uar")), _f(oracle.get("uar"))]
        mb = e.get("discriminator_mb")
        rows.append("| " + " | ".join(cells + ["-" if mb is None else f"{mb:.1f}"]) + " |")
    return "\n".join(rows)


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
            lines.append(f"- same run, `{rule}`{label}: UF1 {_f(fig.get('uf1'))}, UAR {_f(fig.get('uar'))}")
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
