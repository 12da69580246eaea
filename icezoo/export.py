"""``icezoo export CHECKPOINT --out DIR``: a checkpoint or fold model as a model folder to share.

The folder (read back by :func:`icezoo.train.checkpoint.load_trained_model`, see
:mod:`icezoo.train.model_folder`) holds ``model.safetensors`` (weights only: no pickle), ``recipe.yaml`` (the
resolved recipe), ``model.json`` (step, the data the model was trained on, a fold model's run identity) and
``README.md``, a model card: the recipe and its paper row, the data named as reports name it, the protocol and,
for a fold model of an eval run folder (``RUN/folds/NAME.pt``), the run's pooled metrics with their intervals
from ``RUN/metrics.json`` (an oracle-selected run labelled as such), and the licence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import IcezooError
from .inference.about import data_sentence, is_synthetic, score_kind
from .train.model_folder import CARD, FOLDER_FORMAT, META, RECIPE, WEIGHTS, flat_weights, trained_on

SYNTHETIC_LICENCE = (
    "MIT, as icezoo. The model was trained on icezoo's synthetic faces only (no third-party data); "
    "it has never seen a real face."
)
LICENSED_DATA = (
    "The weights derive from licensed databases (SMIC, CASME II, SAMM are released for non-commercial research "
    "under their own agreements): check that their licences allow you to share a model trained on them before "
    "you do. icezoo's code is MIT."
)


def export_model(source: str | Path, out: str | Path, *, allow_plugins: Iterable[str] = ()) -> Path:
    """Write the model folder of ``source`` (a checkpoint, fold model or model folder) into ``out``."""
    from .config.loader import recipe_to_yaml
    from .files import atomic_write, atomic_write_text, check_out
    from .train.checkpoint import load_trained_model, read_trained_state

    check_out(out)
    model, recipe = load_trained_model(source, "cpu", allow_plugins=allow_plugins)  # the same rules as any reader
    if getattr(model, "is_estimator", False):
        raise IcezooError(
            f"{source}: a scikit-learn fold model is exported as its .skops file beside it, not by export"
        )
    state = read_trained_state(source)
    flat = flat_weights(state)
    try:
        from safetensors.torch import save
    except ImportError:
        raise IcezooError("icezoo export needs safetensors (pip install safetensors)") from None
    out = Path(out)
    data = trained_on(state)
    run = state.get("run") if isinstance(state.get("run"), dict) else None
    metrics = run_metrics(Path(str(source)), run)
    atomic_write(out / WEIGHTS, lambda h: h.write(save(flat, metadata={"format": FOLDER_FORMAT})))
    recipe.source = f"{source} (exported)"
    atomic_write_text(out / RECIPE, recipe_to_yaml(recipe))
    meta = {"format": FOLDER_FORMAT, "step": state.get("step"), "data": data, "run": run,
            "averaged_generator": state.get("generator_ema") is not None, "exported_from": str(source)}  # fmt: skip
    atomic_write_text(out / META, json.dumps(meta, indent=2, default=str) + "\n")
    atomic_write_text(out / CARD, model_card(recipe, data, run, metrics, model))
    return out


def run_metrics(source: Path, run: dict[str, Any] | None) -> dict[str, Any] | None:
    """``RUN/metrics.json`` beside a fold model ``RUN/folds/NAME.pt`` when the run folder's run is the model's."""
    from .eval.folder import RunFolder

    folder = RunFolder.of_model(source) if run is not None else None
    return folder.report_of(run) if folder is not None else None


def _front_matter(data: dict[str, Any], recipe) -> list[str]:
    licence = "mit" if is_synthetic(data) else "other"
    return ["---", f"license: {licence}", "library_name: icezoo",
            "tags: [micro-expression-recognition, gan, capsule-network, icezoo]", "---", ""]  # fmt: skip


def _metric_lines(metrics: dict[str, Any] | None, run: dict[str, Any] | None) -> list[str]:
    protocol = (run or {}).get("identity", {}).get("protocol") if run else None
    if metrics is None:
        return [f"Protocol: {protocol} (the run folder's metrics.json was not beside this fold model)."] if protocol else [
            "No evaluation: exported from a training checkpoint (evaluate with `icezoo eval ... --keep-models` and "
            "export a fold model for a card with metrics)."
        ]  # fmt: skip
    lines = [f"**{metrics['warning']}**", ""] if metrics.get("warning") else []
    over, ci = metrics.get("overall", {}), metrics.get("interval_95", {})
    lines += [f"Protocol: {metrics.get('protocol', protocol)}, {metrics.get('folds', '?')} fold(s), "
              f"{over.get('n', '?')} test clips, predictions of all folds pooled (the MEGC2019 way).", "",
              "| metric | value | 95% interval |", "| --- | ---: | ---: |"]  # fmt: skip
    for key in ("uf1", "uar"):
        low, high = ci.get(key, (None, None))
        interval = f"[{low:.3f}, {high:.3f}]" if low is not None else "-"
        lines.append(f"| {key.upper()} | {over.get(key, float('nan')):.3f} | {interval} |")
    if ci.get("method"):
        lines += ["", f"Interval: {ci['method']}."]
    selection = metrics.get("selection", {})
    if selection.get("statement"):
        lines += ["", f"Model of each fold: {selection['statement']}."]
    oracle = selection.get("same_run", {}).get("oracle_test")
    if oracle:
        lines += ["", f"The same run's oracle figure (each fold's best epoch on its own TEST subjects: inflated, not an "
                      f"estimate): UF1 {oracle['uf1']:.3f}, UAR {oracle['uar']:.3f}."]  # fmt: skip
    return lines


def model_card(recipe, data: dict[str, Any], run, metrics, model) -> str:
    """The model folder's README.md."""
    paper = recipe.paper
    row = f"Table {paper.table}, row {paper.row}" if getattr(paper, "table", None) else "not a paper configuration"
    kind, meaning = score_kind(recipe)
    params = sum(p.numel() for p in model.parameters())
    lines = [*_front_matter(data, recipe), f"# {recipe.name}", "", recipe.description or "", "",
             f"{'A baseline of Table I' if recipe.model.is_baseline else 'An ICE-GAN model'} of icezoo, exported with "
             "`icezoo export`.", "",
             "## Recipe", "", f"- recipe: `{recipe.name}` (paper row: {row}); the resolved recipe is `recipe.yaml`",
             f"- parameters: {params / 1e6:.2f} M ({'with' if model.generator is not None else 'no'} generator)",
             f"- class scores: {kind} ({meaning})", "",
             "## Data", "", data_sentence(data), ""]  # fmt: skip
    if is_synthetic(data):
        lines += ["Its answer on a real face is not meaningful: it has never seen one.", ""]
    lines += ["## Evaluation", "", *_metric_lines(metrics, run), "", "## Use", "", "```bash",
              *(["icezoo predict THIS_FOLDER --frames DIR       # or --video FILE"] if recipe.model.is_baseline else [
                  "icezoo predict THIS_FOLDER --image face.png      # or --frames DIR / --video FILE",
                  "icezoo synth THIS_FOLDER --onset face.png"]), "```", "", "```python", "import icezoo",
              'model, recipe = icezoo.load_checkpoint("THIS_FOLDER")   # or "hf-hub:ORG/NAME", from the local cache',
              "```", "", "Weights are `model.safetensors` (no pickle); nothing in this folder runs as code.", "",
              "## Licence", "", SYNTHETIC_LICENCE if is_synthetic(data) else LICENSED_DATA, ""]  # fmt: skip
    return "\n".join(lines)
