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
import io
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
from .metrics import compute_metrics
from .predict import predict
from .protocols import Fold, make_folds, shard
from .report import markdown_report

FIELDS = ["fold", "dataset", "subject", "clip", "label", "pred", *(f"score_{c}" for c in CLASSES)]


def fold_path(out_dir: Path, fold: Fold) -> Path:
    return out_dir / "folds" / f"{fold.name}.csv"


def _rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def run_fold(
    recipe: Recipe,
    clips: ClipSet,
    fold: Fold,
    *,
    device: str | None = None,
    progress: bool = False,
    out_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Train on the fold's training subjects, predict its test subjects' apex frames.

    With ``eval.synthesis_metrics``, also measure the fold's synthesised faces into ``out_dir``.
    """
    train_idx, test_idx = clips.indices_of(fold.train), clips.indices_of(fold.test)
    if len(test_idx) == 0:
        raise IcezooError(f"fold {fold.name}: no clips of its test subjects")
    trainer = Trainer(recipe, None, clips=clips.subset(train_idx), progress=progress, device=device, leave=False)
    result = trainer.run()
    test = clips.subset(test_idx)
    scores = predict(
        result.model.discriminator, test, batch_size=recipe.eval.batch_size, precision=recipe.train.precision
    )
    preds = scores.argmax(1)
    if recipe.eval.synthesis_metrics and out_dir is not None:
        from .synthesis.run import measure_fold

        measure_fold(result.model, recipe, clips, fold, out_dir)
    return [
        {"fold": fold.name, "dataset": test.dataset[i], "subject": test.subject[i], "clip": test.clip[i],
         "label": CLASSES[int(test.label[i])], "pred": CLASSES[int(preds[i])],
         **{f"score_{c}": f"{float(scores[i, k]):.6f}" for k, c in enumerate(CLASSES)}}
        for i in range(len(test))
    ]  # fmt: skip


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


def protocol_folds(recipe: Recipe, protocol: str, clips: ClipSet) -> list[Fold]:
    """The folds this recipe evaluates: the protocol's, the first ``eval.max_folds`` of them where set."""
    folds = make_folds(protocol, clips, recipe.eval)
    return folds[: recipe.eval.max_folds] if recipe.eval.max_folds is not None else folds


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
) -> dict[str, Any] | None:
    """Run this shard's folds, then write the report if every fold is done; returns the metrics or None."""
    out_dir = check_out(out_dir)
    _check_out_dir(out_dir, recipe, protocol)
    clips = clips if clips is not None else load_clips(recipe)
    check_fits(clips, recipe.model.image_size, recipe.model.in_channels, recipe.model.num_classes, recipe.source)
    folds = protocol_folds(recipe, protocol, clips)
    if not merge_only:
        from tqdm.auto import tqdm

        mine = [f for f in shard(folds, *shard_of) if not fold_path(out_dir, f).exists()]
        bar = tqdm(
            mine,
            desc=f"{recipe.name or 'eval'} {protocol} folds",
            unit="fold",
            disable=not progress,
            dynamic_ncols=True,
        )
        for fold in bar:
            rows = run_fold(recipe, clips, fold, device=device, progress=progress, out_dir=out_dir)
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
    metrics = compute_metrics(rows, protocol)
    with torch.device("meta"):
        disc = build_model(recipe).discriminator
    metrics["discriminator_mb"] = sum(p.numel() for p in disc.parameters()) * 4 / 1e6
    metrics["recipe"] = recipe.name
    paper = recipe.to_dict()["paper"]
    metrics["paper"] = paper
    atomic_write_text(out_dir / "predictions.csv", _rows_to_csv(rows))
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic_write_text(out_dir / "table.md", markdown_report(protocol, metrics, recipe.name or "recipe", paper))
    from ..plots import confusion_matrix_plot

    confusion_matrix_plot(
        np.array(metrics["overall"]["confusion"]),
        CLASSES,
        out_dir / "confusion.png",
        title=f"{recipe.name} ({protocol}): UF1 {metrics['overall']['uf1']:.3f}, UAR {metrics['overall']['uar']:.3f}",
    )
    if recipe.eval.synthesis_metrics:
        from .synthesis.run import write_synthesis

        metrics["synthesis"] = write_synthesis(recipe, out_dir, folds)["pooled"]
    return metrics
