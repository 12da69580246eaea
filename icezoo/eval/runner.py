"""Run a protocol: train and test each fold, pool the predictions, write the report.

Output folder::

    recipe.yaml        the resolved recipe
    folds/NAME.csv     each fold's predictions, written when the fold finishes
    predictions.csv    all folds pooled: fold, dataset, subject, clip, label, pred, class scores
    metrics.json       UF1 / UAR overall and per dataset (F1 for sde); the per-fold average apart
    table.md           the paper's table layout with its published numbers beside ours
    confusion.png      the pooled confusion matrix

Folds are independent and deterministic, so they can be sharded
(``--shard I/N``) over processes or machines writing into copies of one
folder: each shard writes its folds' files, and the report is written by
whichever run finds every fold present (or by ``--merge``). A rerun skips
folds already done, so an interrupted evaluation continues where it stopped.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config.loader import recipe_to_yaml
from ..config.schema import Recipe
from ..data import CLASSES, ClipSet, check_fits, load_clips
from ..errors import IcezooError
from ..files import atomic_write_text, check_out
from ..models import build_model
from ..train.trainer import Trainer
from .fold_models import FIELDS, model_path, prediction_rows, save_fold_model
from .fold_models import rows_to_csv as _rows_to_csv
from .metrics import compute_metrics
from .predict import predict
from .protocols import Fold, protocol_folds, shard
from .provenance import describe_data
from .report import markdown_report
from .selection import Selector, split_fold
from .trust import trust_fields


def fold_path(out_dir: Path, fold: Fold) -> Path:
    return out_dir / "folds" / f"{fold.name}.csv"


def run_fold(
    recipe: Recipe,
    clips: ClipSet,
    fold: Fold,
    *,
    device: str | None = None,
    progress: bool = False,
    out_dir: Path | None = None,
    keep_model: bool = False,
    synthesis_network=None,
) -> list[dict[str, Any]]:
    """Train on the fold's training subjects (less its validation ones), predict its test subjects' apex frames.

    With ``out_dir``, writes ``folds/NAME.json`` (subjects and selection) and, with ``keep_model``, ``folds/NAME.pt``;
    with ``eval.synthesis_metrics``, also measures the fold's synthesised faces into ``out_dir``, with
    ``synthesis_network`` (None: :func:`synthesis_setup`'s, made before the fold trains).
    """
    measure = recipe.eval.synthesis_metrics and out_dir is not None
    if measure and synthesis_network is None:
        synthesis_network = synthesis_setup(recipe)
    train_subjects, val_subjects = split_fold(fold, clips, recipe)
    test = clips.subset(clips.indices_of(fold.test))
    if len(test) == 0:
        raise IcezooError(f"fold {fold.name}: no clips of its test subjects")
    val = clips.subset(clips.indices_of(val_subjects)) if val_subjects else None
    trainer = Trainer(
        recipe,
        None,
        clips=clips.subset(clips.indices_of(train_subjects)),
        progress=progress,
        device=device,
        leave=False,
    )
    selector = Selector(recipe, val, test, trainer.budget, trainer.steps_per_epoch)
    result = trainer.run(on_epoch=selector if recipe.eval.select != "last" else None)
    selector.restore(result.model)
    cfg, precision = recipe.eval, recipe.train.precision
    scores = predict(result.model.discriminator, test, batch_size=cfg.batch_size, precision=precision)
    if out_dir is not None:
        info = {"train": list(train_subjects), "validation": list(val_subjects), "test": list(fold.test)}
        if val is not None:
            val_pred = predict(result.model.discriminator, val, batch_size=cfg.batch_size, precision=precision)
            info["validation_labels"], info["validation_pred"] = val.label.tolist(), val_pred.argmax(1).tolist()
        info["selection"] = (
            selector.record() if cfg.select != "last" else {"select": "last", "chosen_step": result.step}
        )
        info["test_labels"] = test.label.tolist()
        atomic_write_text(out_dir / "folds" / f"{fold.name}.json", json.dumps(info) + "\n")
        if keep_model:
            save_fold_model(model_path(out_dir, fold), recipe, result.model, info["selection"]["chosen_step"])
    if measure:
        from .synthesis.run import measure_fold

        measure_fold(result.model, recipe, clips, fold, out_dir, synthesis_network)
    return prediction_rows(fold.name, test, scores)


def synthesis_setup(recipe: Recipe):
    """The KID/FID network where ``eval.synthesis_metrics`` is on (else None), its extras checked: before training."""
    if not recipe.eval.synthesis_metrics:
        return None
    from .synthesis.run import measurement_setup

    return measurement_setup(recipe)


def _check_out_dir(out_dir: Path, recipe: Recipe, protocol: str) -> None:
    """One folder holds one recipe under one protocol."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = recipe_to_yaml(recipe)
    marker = out_dir / "recipe.yaml"
    body = lambda t: t.split("\n", 1)[1] if t.startswith("#") else t  # noqa: E731  (ignore the provenance header)
    if marker.exists() and body(marker.read_text()) != body(text):
        raise IcezooError(f"{out_dir}: holds results of a different recipe; choose another --out")
    atomic_write_text(marker, text)
    proto = out_dir / "protocol.txt"
    if proto.exists() and proto.read_text().strip() != protocol:
        raise IcezooError(f"{out_dir}: holds results of the '{proto.read_text().strip()}' protocol, not '{protocol}'")
    atomic_write_text(proto, protocol + "\n")


def evaluate(
    recipe: Recipe,
    protocol: str,
    out_dir: str | Path,
    *,
    shard_of: tuple[int, int] = (1, 1),
    merge_only: bool = False,
    progress: bool = True,
    device: str | None = None,
    clips: ClipSet | None = None,
    keep_models: bool = False,
) -> dict[str, Any] | None:
    """Run this shard's folds, then write the report if every fold is done; returns the metrics or None.

    ``keep_models`` saves each fold's reported model as ``folds/NAME.pt`` (:mod:`.fold_models`).
    """
    out_dir = check_out(out_dir)
    clips = clips if clips is not None else load_clips(recipe)
    check_fits(clips, recipe.model.image_size, recipe.model.in_channels, recipe.model.num_classes, recipe.source)
    folds = protocol_folds(recipe, protocol, clips)
    for fold in folds:  # a validation set larger than a fold's training side fails before anything is trained
        split_fold(fold, clips, recipe)
    _check_out_dir(out_dir, recipe, protocol)
    atomic_write_text(out_dir / "data.json", json.dumps(describe_data(recipe, clips), indent=2) + "\n")
    if not merge_only:
        from tqdm.auto import tqdm

        mine = [f for f in shard(folds, *shard_of) if not fold_path(out_dir, f).exists()]
        network = synthesis_setup(recipe) if mine else None  # once, and before any fold trains
        bar = tqdm(
            mine,
            desc=f"{recipe.name or 'eval'} {protocol} folds",
            unit="fold",
            disable=not progress,
            dynamic_ncols=True,
        )
        for fold in bar:
            rows = run_fold(
                recipe, clips, fold, device=device, progress=progress, out_dir=out_dir, keep_model=keep_models,
                synthesis_network=network,
            )  # fmt: skip
            atomic_write_text(fold_path(out_dir, fold), _rows_to_csv(rows))
            bar.set_postfix(fold=fold.name, acc=f"{np.mean([r['label'] == r['pred'] for r in rows]):.2f}")
    missing = [f.name for f in folds if not fold_path(out_dir, f).exists()]
    if missing:
        if merge_only:
            raise IcezooError(
                f"{out_dir}: {len(missing)} of {len(folds)} folds have no results yet (first: {missing[0]}); run the other shards first"
            )
        return None
    return write_report(recipe, protocol, out_dir, folds)


def read_predictions(out_dir: Path, folds: list[Fold]) -> list[dict[str, str]]:
    rows = []
    for fold in folds:
        path = fold_path(out_dir, fold)
        try:
            with path.open(newline="") as handle:
                part = list(csv.DictReader(handle))
        except OSError as err:
            raise IcezooError(f"{path}: cannot read fold results ({err})") from None
        if not part or set(part[0]) != set(FIELDS):
            raise IcezooError(f"{path}: not a fold result file (columns {sorted(part[0]) if part else 'none'})")
        rows += part
    return rows


def write_report(recipe: Recipe, protocol: str, out_dir: Path, folds: list[Fold]) -> dict[str, Any]:
    rows = read_predictions(out_dir, folds)
    metrics = trust_fields(rows, out_dir, folds, recipe.eval) | compute_metrics(rows, protocol)
    with torch.device("meta"):
        disc = build_model(recipe).discriminator
    metrics["discriminator_mb"] = sum(p.numel() for p in disc.parameters()) * 4 / 1e6
    metrics["recipe"] = recipe.name
    paper = recipe.to_dict()["paper"]
    metrics["paper"] = paper
    warning = f"# {metrics['warning']}\n" if "warning" in metrics else ""
    atomic_write_text(out_dir / "predictions.csv", warning + _rows_to_csv(rows))
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic_write_text(out_dir / "table.md", markdown_report(protocol, metrics, recipe.name or "recipe", paper))
    from ..plots import confusion_matrix_plot

    confusion_matrix_plot(
        np.array(metrics["overall"]["confusion"]),
        CLASSES,
        out_dir / "confusion.png",
        title=f"{'ORACLE SELECTION, inflated: ' if warning else ''}{recipe.name} ({protocol}): UF1 {metrics['overall']['uf1']:.3f}, UAR {metrics['overall']['uar']:.3f}",
    )
    if recipe.eval.synthesis_metrics:
        from .synthesis.run import write_synthesis

        metrics["synthesis"] = write_synthesis(recipe, out_dir, folds)["pooled"]
    return metrics
