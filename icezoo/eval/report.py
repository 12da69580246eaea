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


def table_i(ours: dict[str, Any], name: str) -> str:
    head = "| Method | " + " | ".join(f"{label} UF1 | {label} UAR" for _, label in _COLUMNS_I) + " |"
    rule = "| --- |" + " ---: | ---: |" * len(_COLUMNS_I)
    rows = [head, rule]
    for method, values in PAPER_TABLE_I.items():
        rows.append(
            f"| {method} | " + " | ".join(f"{_f(values[k][0])} | {_f(values[k][1])}" for k, _ in _COLUMNS_I) + " |"
        )
    cells = []
    for key, _ in _COLUMNS_I:
        block = ours["overall"] if key == "all" else ours["per_dataset"].get(key)
        cells.append(f"{_f(block['uf1'])} | {_f(block['uar'])}" if block else "- | -")
    rows.append(f"| **ours: {name}** | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def table_ii(ours: dict[str, Any], name: str) -> str:
    rows = ["| Method | CASME II F1 | SAMM F1 |", "| --- | ---: | ---: |"]
    for method, values in PAPER_TABLE_II.items():
        rows.append(f"| {method} | {_f(values['casme2'])} | {_f(values['samm'])} |")
    f1 = {k: v["f1"] for k, v in ours["per_dataset"].items()}
    rows.append(f"| **ours: {name}** | {_f(f1.get('casme2'))} | {_f(f1.get('samm'))} |")
    return "\n".join(rows)


def table_ablation(entries: list[dict[str, Any]]) -> str:
    """One row per recipe: the paper's row and numbers, ours, and the discriminator's size."""
    rows = [
        "| Recipe | Paper row | Paper UAR | Paper UF1 | UAR | UF1 | D params (MB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in entries:
        paper = e.get("paper") or {}
        row = f"{paper.get('table') or ''} {paper.get('row') or ''}".strip() or "-"
        mb = e.get("discriminator_mb")
        rows.append(
            f"| {e['name']} | {row} | {_f(paper.get('uar'))} | {_f(paper.get('uf1'))} | {_f(e['overall']['uar'])} | {_f(e['overall']['uf1'])} | {'-' if mb is None else f'{mb:.1f}'} |"
        )
    return "\n".join(rows)


def markdown_report(protocol: str, metrics: dict[str, Any], name: str, paper: dict[str, Any] | None) -> str:
    """The whole ``table.md`` of an evaluation."""
    lines = [f"# {name}: {protocol} protocol", ""]
    if protocol == "loso":
        lines += [
            "UF1 and UAR with LOSO over the MEGC2019 composite (Table I layout; predictions of all folds pooled).",
            "",
            table_i(metrics, name),
        ]
    elif protocol == "sde":
        lines += ["F1 (macro, pooled) with LOSO within each database (Table II layout).", "", table_ii(metrics, name)]
    else:
        lines += [
            "UAR and UF1 on the held-out subjects of the 48/20 split (Tables III and IV layout).",
            "",
            table_ablation(
                [
                    {
                        "name": name,
                        "paper": paper,
                        "overall": metrics["overall"],
                        "discriminator_mb": metrics.get("discriminator_mb"),
                    }
                ]
            ),
        ]
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
    return "\n".join(lines) + "\n"
