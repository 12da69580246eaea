"""MkDocs hook: the pages' generated parts, from the code and files they describe, so they cannot drift.

A page holds a marker ``<!-- generated: NAME -->`` where :data:`GENERATORS` [NAME] puts its Markdown when the
site is built (``mkdocs build``; ``hooks:`` in mkdocs.yml). The recipe index comes from the shipped recipe files
(their ``description``, ``paper`` row and the keys each sets, with parameter counts built on PyTorch's ``meta``
device); the component catalogue from the registry, the same source as ``icezoo describe``; the benchmark tables
from ``benchmarks/results/*.md``; the layout and dependencies from the README's own sections.
``tests/test_docs.py`` checks that every registered component and every recipe is on the pages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")

CONTRACTS = {
    "generator": "`(x_on [B,1,S,S] or None, z [B,100], c [B,3] one-hot) -> x_syn [B,1,S,S]` in [-1, 1]",
    "reasoning": "`[B,C,H,W] -> [B,C,H,W]`, any H, W",
    "trunk": "`[B,1,S,S] -> [B,C,h,w]`, exposes `out_channels`",
    "head": "features -> `DiscriminatorOutput(adv [B], cls [B,3], recon [B,1,S,S] or None)`",
    "loss": "loss terms of Eq. 8",
    "perceptual": "a pretrained cost network for the perceptual loss, weights from a local file",
    "dataset": "a `ClipSet`: clips of onset / apex faces",
    "input": "`cls(**params)`: a `ClipSet` -> float32 `[N, *shape(image_size)]`, cached per clip and parameters",
    "recogniser": "`cls(in_shape, num_classes, **params)`: `[B, *in_shape] -> [B, 3]` class scores, or an estimator",
}
"""What a component of each kind is built as and computes (the registry's KINDS say what each kind is)."""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# -- components -------------------------------------------------------------------------------------------
def component_kinds() -> str:
    from icezoo.registry import registry

    rows = ["| kind | what | names | contract |", "| --- | --- | --- | --- |"]
    for kind, what in registry.kinds.items():
        names = ", ".join(f"[`{e.name}`](#{kind}-{e.name.replace('_', '-')})" for e in registry.entries(kind))
        rows.append(f"| `{kind}` | {_cell(what)} | {names} | {_cell(CONTRACTS.get(kind, ''))} |")
    return "\n".join(rows)


def component_catalogue() -> str:
    """Every registered component: source, docstring and a table of its parameters (``icezoo describe``'s)."""
    import inspect

    from icezoo.registry import _without_args_section, registry

    out = []
    for kind in registry.kinds:
        out += [f"### {kind}", ""]
        for entry in registry.entries(kind):
            anchor = f"{kind}-{entry.name.replace('_', '-')}"
            out += [f"#### `{kind}` `{entry.name}` {{ #{anchor} }}", "",
                    f"From {entry.source} (`{entry.qualname}`). `icezoo describe {kind} {entry.name}`", ""]  # fmt: skip
            doc = _without_args_section(inspect.getdoc(entry.obj) or "").strip()
            if doc:
                out += [_indent_code(doc), ""]
            out += ["| parameter | type | default | meaning |", "| --- | --- | --- | --- |"]
            for p in entry.params():
                default = "required" if p.required else f"`{p.default!r}`"
                if p.builder:
                    default += " (set by icezoo)"
                out.append(f"| `{p.name}` | {_cell(_type_name(p.annotation))} | {_cell(default)} | {_cell(p.doc)} |")
            if entry.accepts_any_kwargs:
                out.append("| `**kwargs` | | | accepted |")
            out.append("")
    return "\n".join(out)


def _type_name(annotation: Any) -> str:
    from icezoo.typecheck import describe_type

    return f"`{describe_type(annotation)}`"


def _indent_code(doc: str) -> str:
    """A docstring as text: reST double back-quotes to Markdown code, roles (``:class:`x```) to code."""
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", doc)
    return doc.replace("``", "`")


# -- recipes ----------------------------------------------------------------------------------------------
def recipe_rows(counts: bool = True) -> list[dict[str, Any]]:
    """One row per shipped recipe: name, file, paper row, description, the keys it sets, G and D parameters."""
    import icezoo
    from icezoo.api import RECIPE_DIR
    from icezoo.config.loader import load_recipe, read_yaml

    rows = []
    for name in icezoo.list_recipes():
        path = RECIPE_DIR / f"{name}.yaml"
        own = read_yaml(path) or {}
        recipe = load_recipe(path)  # validated; the build below (counts) is the model check
        paper = recipe.paper
        row = {"name": name, "file": f"recipes/{name}.yaml", "description": recipe.description or "",
               "paper": f"{paper.table} {paper.row}" if paper.table else "-", "paper_mb": paper.params_mb,
               "changes": _changes(own), "extends": own.get("extends")}  # fmt: skip
        if counts:
            row["g"], row["d"] = _parameter_counts(recipe)
        rows.append(row)
    return rows


def _changes(data: dict[str, Any], prefix: str = "") -> list[str]:
    """The leaf keys a recipe file sets itself (not its name, description, paper row or parent)."""
    out = []
    for key, value in data.items():
        if not prefix and key in ("extends", "name", "description", "paper"):
            continue
        if isinstance(value, dict) and value and "type" not in value:
            out += _changes(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}: {_flow(value)}")
    return out


def _flow(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _parameter_counts(recipe) -> tuple[int | None, int]:
    import torch

    from icezoo.models import build_model

    with torch.device("meta"):
        model = build_model(recipe)
    if recipe.model.is_baseline:  # Table I's baselines: no G; the recogniser in D's column (an SVM counts 0)
        return None, 0 if model.is_estimator else sum(p.numel() for p in model.recogniser.parameters())
    g = sum(p.numel() for p in model.generator.parameters()) if model.generator is not None else None
    return g, sum(p.numel() for p in model.discriminator.parameters())


def _millions(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def recipe_index(rows: list[dict[str, Any]] | None = None) -> str:
    rows = recipe_rows() if rows is None else rows
    out = ["| recipe | paper row | what it is | what it sets (beyond its parent) | G params | D params |",
           "| --- | --- | --- | --- | ---: | ---: |"]  # fmt: skip
    for r in rows:
        parent = f"extends `{r['extends']}`; " if r.get("extends") else ""
        sets = parent + ("<br>".join(f"`{_cell(c)}`" for c in r["changes"]) or "the paper's numbers (defaults)")
        g, d = _millions(r.get("g")), _millions(r.get("d"))
        out.append(f"| `{r['file']}` | {r['paper']} | {_cell(r['description'])} | {sets} | {g} | {d} |")
    return "\n".join(out)


def paper_sizes(rows: list[dict[str, Any]] | None = None) -> str:
    """Discriminator size in MB of float32 (10^6 bytes) against the paper's, for the recipes with a paper size."""
    rows = recipe_rows() if rows is None else rows
    out = ["| recipe | paper row | ours (MB) | paper (MB) |", "| --- | --- | ---: | ---: |"]
    for r in rows:
        if r["paper_mb"] is not None and r["paper"].startswith("IV "):  # Table IV gives sizes; III rows inherit one
            out.append(f"| `{r['file']}` | {r['paper']} | {r['d'] * 4 / 1e6:.2f} | {r['paper_mb']} |")
    return "\n".join(out)


# -- Table I ----------------------------------------------------------------------------------------------
def baselines() -> str:
    """Table I's rows as icezoo runs them: each recipe's input and recogniser, size, training and the published
    MEGC2019 figures with the way they were selected (from ``recipes/table1/*.yaml``, so the page cannot drift)."""
    import icezoo
    from icezoo.api import RECIPE_DIR
    from icezoo.config.loader import load_recipe

    head = ["| recipe | paper row | input | recogniser | params | training | published UF1 / UAR (MEGC2019) | "
            "published per database: SAMM, SMIC, CASME II (UF1 / UAR) | how the published figure was selected |",
            "| --- | --- | --- | --- | ---: | --- | ---: | --- | --- |"]  # fmt: skip
    rows = []
    for name in icezoo.list_recipes("table1/*"):
        recipe = load_recipe(RECIPE_DIR / f"{name}.yaml")
        m, t, p = recipe.model, recipe.train, recipe.paper
        baseline = m.is_baseline
        spec = lambda s: f"`{s['type']}`" if s else "-"  # noqa: E731
        g, d = _parameter_counts(recipe)
        estimator = baseline and d == 0  # the SVM: fitted, no parameters counted, no epochs
        size = "-" if estimator else f"{d:,}" if baseline else f"G {_millions(g)}, D {_millions(d)}"
        train = "fitted on the training features" if estimator else (
            f"Adam lr {t.lr:g}, batch {t.batch_size}, {t.epochs} epochs, {t.schedule}")  # fmt: skip
        per = "; ".join(f"{k}: {v[0]:.3f} / {v[1]:.3f}" for k, v in (p.datasets or {}).items()) or "-"
        caveat = f" ({_cell(p.caveat)})" if p.caveat else ""
        rows.append(f"| `recipes/{name}.yaml` | {p.row or '-'} | {spec(m.input) if baseline else 'onset, apex'} | "
                    f"{spec(m.recogniser) if baseline else 'ICE-GAN (G and D)'} | {size} | {train} | "
                    f"{_f3(p.uf1)} / {_f3(p.uar)} | {per} | {_cell(p.selection or '-')}{caveat} |")  # fmt: skip
    return "\n".join(head + rows)


def _f3(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def table1_results() -> str:
    """The synthetic Table I run (``docs/table1.sh``), as it wrote ``docs/results/table1/table1.md``."""
    path = REPO / "docs" / "results" / "table1" / "table1.md"
    if not path.is_file():
        return "(not run yet: `bash docs/table1.sh docs/results/table1`)"
    return path.read_text(encoding="utf-8").split("\n", 1)[1].strip()  # without its own title


# -- benchmarks, layout -----------------------------------------------------------------------------------
def benchmark_results() -> str:
    out = []
    for path in sorted((REPO / "benchmarks" / "results").glob("*.md")):
        text = path.read_text(encoding="utf-8").strip()
        text = re.sub(r"^# (.*)$", lambda m, name=path.name: f"### {m.group(1)} (`{name}`)", text, count=1, flags=re.M)
        out += [text, ""]
    return "\n".join(out)


def readme_section(title: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    return match.group(1).strip() if match else f"(the README has no {title} section)"


GENERATORS = {
    "component-kinds": component_kinds,
    "component-catalogue": component_catalogue,
    "recipe-index": recipe_index,
    "paper-sizes": paper_sizes,
    "benchmark-results": benchmark_results,
    "baselines": baselines,
    "table-i-results": table1_results,
    "readme-layout": lambda: readme_section("Layout"),
    "readme-dependencies": lambda: readme_section("Dependencies"),
}


def render(markdown: str, cache: dict[str, Any] | None = None) -> str:
    """``markdown`` with every marker replaced by its generated text (the recipes are built once per build)."""
    cache = {} if cache is None else cache

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name in ("recipe-index", "paper-sizes"):
            cache.setdefault("rows", None) or cache.update(rows=recipe_rows())
            return GENERATORS[name](cache["rows"])
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


_CACHE: dict[str, Any] = {}


def on_page_markdown(markdown: str, page, config, files) -> str:  # the MkDocs hook
    return render(markdown, _CACHE)


def on_pre_build(config) -> None:  # the MkDocs hook: `mkdocs serve` rebuilds read the recipes afresh
    _CACHE.clear()
