"""The documentation site: generated pages complete, the README a landing page, the site builds strictly."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import icezoo

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("icezoo_docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}


def test_every_registered_component_and_parameter_is_in_the_catalogue(hooks):
    from icezoo.registry import registry

    registry.ensure_loaded()
    catalogue, kinds = hooks.component_catalogue(), hooks.component_kinds()
    entries = registry.entries()
    assert len(entries) >= 20
    for entry in entries:
        section = catalogue.split(f"#### `{entry.kind}` `{entry.name}` ")[1].split("\n#### ")[0]
        assert f"`{entry.name}`" in kinds
        for p in entry.params():
            assert f"| `{p.name}` |" in section, (entry.kind, entry.name, p.name)
            assert not p.doc or hooks._cell(p.doc) in section  # the meaning icezoo describe prints
    assert "<!-- generated: component-catalogue -->" in _pages()["components.md"]


def test_the_catalogue_follows_the_registry(hooks):
    """A component registered now is on the page; the catalogue is not a list kept by hand."""
    from torch import nn

    from icezoo.registry import registry

    class DocsProbe(nn.Module):
        """A probe block for the docs test.

        Args:
            channels: input channels.
            gain: how much the probe multiplies.
        """

        def __init__(self, channels: int, gain: float = 2.0):
            super().__init__()

    registry.register("reasoning", "docs_probe_block", DocsProbe)
    try:
        catalogue = hooks.component_catalogue()
        assert (
            "#### `reasoning` `docs_probe_block`" in catalogue and "| `gain` | `float` | `2.0` | how much" in catalogue
        )
    finally:
        registry._entries["reasoning"].pop("docs_probe_block")


def test_every_recipe_is_in_the_index_with_its_paper_row(hooks):
    rows = hooks.recipe_rows(counts=False)
    index = hooks.recipe_index(rows)
    assert len(rows) == len(icezoo.list_recipes()) >= 17
    for name in icezoo.list_recipes():
        line = next(x for x in index.splitlines() if x.startswith(f"| `recipes/{name}.yaml` |"))
        paper = icezoo.load_recipe(name).paper
        assert (f"| {paper.table} {paper.row} |" if paper.table else "| - |") in line
    dcnn = next(x for x in index.splitlines() if "dcnn_comparable" in x)
    assert "`model.discriminator.head.width: 3933`" in dcnn and "extends `dcnn.yaml`" in dcnn
    assert "<!-- generated: recipe-index -->" in _pages()["recipes.md"]


def test_parameter_counts_are_the_built_models(hooks):
    from icezoo.models import build_model

    model = build_model(icezoo.load_recipe("icegan_small"))
    g, d = hooks._parameter_counts(icezoo.load_recipe("icegan_small"))
    assert g == sum(p.numel() for p in model.generator.parameters())
    assert d == sum(p.numel() for p in model.discriminator.parameters())
    row = {"name": "x", "file": "recipes/x.yaml", "description": "", "paper": "IV DCNN", "paper_mb": 6.7,
           "changes": [], "g": g, "d": d}  # fmt: skip
    assert f"| {g / 1e6:.2f} M | {d / 1e6:.2f} M |" in hooks.recipe_index([row])
    assert f"| {d * 4 / 1e6:.2f} | 6.7 |" in hooks.paper_sizes([row])


def test_every_marker_has_a_generator_and_every_result_table_is_read(hooks):
    markers = {m for text in _pages().values() for m in hooks.MARKER.findall(text)}
    assert markers == set(hooks.GENERATORS)
    results = hooks.benchmark_results()
    for path in (REPO / "benchmarks" / "results").glob("*.md"):
        assert f"(`{path.name}`)" in results


def test_the_readme_is_a_landing_page_that_links_every_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 300
    lines = readme.splitlines()
    assert any(x.startswith("python3 -m venv") for x in lines[:30]) and any(x.startswith("pytest") for x in lines[:30])
    nav = (REPO / "mkdocs.yml").read_text()
    for page in DOCS.glob("*.md"):
        assert f"docs/{page.name}" in readme or page.name in ("index.md", "layout.md"), (
            page.name
        )  # layout.md shows the README's own sections
        assert page.name in nav, page.name
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / target).is_file(), target


@pytest.mark.slow
def test_the_site_builds_strictly_with_the_generated_pages(tmp_path):
    pytest.importorskip("mkdocs")
    mkdocs = shutil.which("mkdocs") or pytest.skip("no mkdocs command")
    site = tmp_path / "site"
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(site)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    components = (site / "components" / "index.html").read_text()
    recipes = (site / "recipes" / "index.html").read_text()
    assert all(f"recipes/{n}.yaml" in recipes for n in icezoo.list_recipes())
    assert "identity_unet" in components and "grm_einsum" in components


def test_the_table_i_report_puts_each_rows_seeds_precision_and_published_figure_in_their_columns(tmp_path):
    import json
    import sys

    rows = {"fast": ("fp32", 0.9, 0.05), "slow": ("bf16", 0.6, 0.01)}
    for name, (precision, mean, sd) in rows.items():
        (tmp_path / name / "seed_0").mkdir(parents=True)
        block = {"mean": mean, "sd": sd, "n": 3}
        (tmp_path / name / "seeds.json").write_text(json.dumps({"uf1": block, "uar": block, "data": {
            "type": "synthetic", "clips": 442, "subjects": 68, "seed": 0, "comparable_to_published": False}}))  # fmt: skip
        paper = {"row": f"Row {name}", "uf1": 0.652, "uar": 0.650, "selection": "test-epoch selection"}
        (tmp_path / name / "seed_0" / "metrics.json").write_text(json.dumps({"paper": paper}))
        (tmp_path / name / "recipe.yaml").write_text(f"train: {{precision: {precision}}}\n")
    done = subprocess.run([sys.executable, str(REPO / "docs" / "table1_report.py"), str(tmp_path), "fast", "slow",
                           "--note", "A note."], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "table1.md").read_text()
    assert (
        "| fast | Row fast | 0.900 +- 0.050 | 0.900 +- 0.050 | fp32 | 0.652 / 0.650 | test-epoch selection |" in table
    )
    assert "| slow | Row slow | 0.600 +- 0.010 | 0.600 +- 0.010 | bf16 | 0.652 / 0.650 |" in table
    assert "SYNTHETIC" in table and table.rstrip().endswith("A note.")
    assert (tmp_path / "table1.png").stat().st_size > 0
