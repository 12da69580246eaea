"""Tables in the paper's layout, with the published numbers beside ours, never in our columns.

Table I (LOSO over the composite: UF1 / UAR overall and per dataset, and a
Table I recipe's own published row), Table II (single-database LOSO: F1 on
CASME II and SAMM) and the ablation layout of Tables III and IV (UAR / UF1 per
recipe, split protocol). :mod:`.report` writes them into a run's ``table.md``.
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


def figure(x: float | None) -> str:
    """Three decimals, or - where there is no figure."""
    return "-" if x is None else f"{x:.3f}"


def table_i(ours: dict[str, Any], name: str, published: bool = True) -> str:
    """Table I's layout; the published rows only beside a MEGC2019 run (``published``)."""
    head = "| Method | " + " | ".join(f"{label} UF1 | {label} UAR" for _, label in _COLUMNS_I) + " |"
    rule = "| --- |" + " ---: | ---: |" * len(_COLUMNS_I)
    rows = [head, rule]
    for method, values in PAPER_TABLE_I.items() if published else ():
        rows.append(
            f"| {method} | "
            + " | ".join(f"{figure(values[k][0])} | {figure(values[k][1])}" for k, _ in _COLUMNS_I)
            + " |"
        )
    cells = []
    for key, _ in _COLUMNS_I:
        block = ours["overall"] if key == "all" else ours["per_dataset"].get(key)
        cells.append(f"{figure(block['uf1'])} | {figure(block['uar'])}" if block else "- | -")
    rows.append(f"| **ours: {name}** | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def table_ii(ours: dict[str, Any], name: str, published: bool = True) -> str:
    """Table II's layout; the published rows only beside a MEGC2019 run (``published``)."""
    rows = ["| Method | CASME II F1 | SAMM F1 |", "| --- | ---: | ---: |"]
    for method, values in PAPER_TABLE_II.items() if published else ():
        rows.append(f"| {method} | {figure(values['casme2'])} | {figure(values['samm'])} |")
    f1 = {k: v["f1"] for k, v in ours["per_dataset"].items()}
    per = (ours.get("interval_95") or {}).get("per_dataset") or {}
    cell = lambda d: figure(f1.get(d)) + (f" [{per[d]['uf1'][0]:.2f}, {per[d]['uf1'][1]:.2f}]" if d in per else "")  # noqa: E731
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
        mine = [figure(block["uf1"]) + (_ci(ours, "uf1") if key == "all" else ""),
                figure(block["uar"]) + (_ci(ours, "uar") if key == "all" else "")] if block else ["-", "-"]  # fmt: skip
        theirs = published["figures"].get(key) or [None, None]
        rows.append(f"| {label} | " + " | ".join(mine + [figure(theirs[0]), figure(theirs[1])]) + " |")
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
        cells = [e["name"], figure(e["overall"]["uf1"]) + _ci(e, "uf1"), figure(e["overall"]["uar"]) + _ci(e, "uar"),
                 figure(uf1), figure(uar), (row.get("selection") or "-") if row else "-"]  # fmt: skip
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
            cells += [figure(paper.get("uar")), figure(paper.get("uf1"))]
        cells += [figure(e["overall"]["uar"]) + _ci(e, "uar"), figure(e["overall"]["uf1"]) + _ci(e, "uf1")]
        if extra:
            oracle = ((e.get("selection") or {}).get("same_run") or {}).get("oracle_test") or {}
            cells += [figure((e.get("validation") or {}).get("uar")), figure(oracle.get("uar"))]
        mb = e.get("discriminator_mb")
        rows.append("| " + " | ".join(cells + ["-" if mb is None else f"{mb:.1f}"]) + " |")
    return "\n".join(rows)
