"""Run a protocol: one function runs one fold and writes its files; the loop, the report.

Output folder::

    run.json           the run's identity (:mod:`.identity`): what a fold file must match to be pooled
    recipe.yaml        the resolved recipe (of the last call)
    protocol.txt       the protocol
    data.json          what the data is (:mod:`.provenance`)
    folds/NAME.csv     each fold's predictions, stamped with the run's fingerprint; written last, when the fold is done
    folds/NAME.json    its subjects, selection record and validation predictions, with the run's identity
    folds/NAME.pt      its chosen model (``--keep-models``), with the run's identity
    predictions.csv    all folds pooled: fold, dataset, subject, clip, label, pred, class scores
    metrics.json       UF1 / UAR overall and per dataset (F1 for sde); the per-fold average apart
    table.md           the paper's table layout with its published numbers beside ours
    confusion.png      the pooled confusion matrix

:func:`run_fold` is the one place a fold is trained, scored and written; the
sequential loop of :func:`evaluate`, its ``--shard`` slices in ``--workers``
processes (:mod:`.parallel`) and Ray tasks (:mod:`.ray_launcher`) are
backends that call it, as scikit-learn's ``_fit_and_score`` is called under
each joblib backend. Folds are independent and deterministic, so shards over
processes or machines write into copies of one folder, and whichever call
finds every fold done writes the report (or ``--merge``). A fold is done when
every output the call asks for exists and carries this run's identity; a
rerun skips done folds and refuses files of another run.
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
from ..inference.scores import predict
from ..models import build_model
from ..train.trainer import Trainer
from .fold_models import FIELDS, model_path, prediction_rows, rows_to_csv, save_fold_model
from .identity import CSV_STAMP, RunIdentity, claim_folder, require_fold_file
from .metrics import compute_metrics
from .protocols import Fold, protocol_folds, shard
from .provenance import describe_data
from .report import markdown_report
from .selection import Selector
from .trust import trust_fields


def fold_path(out_dir: Path, fold: Fold) -> Path:
    """A fold's predictions file: its last output, so it marks the fold finished."""
    return Path(out_dir) / "folds" / f"{fold.name}.csv"


def fold_outputs(out_dir: Path, fold: Fold, recipe: Recipe, keep_model: bool = False) -> list[Path]:
    """Every file a fold writes when asked for ``keep_model`` (and the recipe's ``eval.synthesis_metrics``)."""
    from .synthesis.run import records_path

    out_dir = Path(out_dir)
    paths = [fold_path(out_dir, fold), out_dir / "folds" / f"{fold.name}.json"]
    paths += [model_path(out_dir, fold)] if keep_model else []
    paths += [records_path(out_dir, fold.name)] if recipe.eval.synthesis_metrics else []
    return paths


def fold_done(out_dir: Path, fold: Fold, recipe: Recipe, run: RunIdentity, keep_model: bool = False) -> bool:
    """Whether every output the call asks for exists; a fold file of another run is refused, never skipped."""
    path = fold_path(out_dir, fold)
    if not path.is_file():
        return False
    require_fold_file(run, path)
    return all(p.is_file() for p in fold_outputs(out_dir, fold, recipe, keep_model))


def load_recipe_plugins(recipe: Recipe) -> None:
    """Import the recipe's ``plugins:`` (resolved paths or module names) in this process: a worker process or a
    Ray task gets the recipe as data and must register its blocks as the process that loaded it did."""
    if recipe.plugins:
        from ..registry import registry

        registry.plugins.load_modules(list(recipe.plugins))


def run_fold(
    recipe: Recipe,
    clips: ClipSet,
    fold: Fold,
    out_dir: str | Path,
    run: RunIdentity,
    *,
    device: str | None = None,
    progress: bool = False,
    keep_model: bool = False,
    synthesis_network=None,
) -> list[dict[str, Any]]:
    """Train on the fold's training subjects, choose its model, predict its test subjects, write its files.

    Writes ``folds/NAME.json`` (subjects, selection, validation predictions), with ``keep_model``
    ``folds/NAME.pt``, with ``eval.synthesis_metrics`` the synthesis records (with ``synthesis_network``; None:
    :func:`synthesis_setup`'s), and last ``folds/NAME.csv``; every file carries ``run``'s identity.
    Returns the prediction rows.
    """
    load_recipe_plugins(recipe)
    out_dir = Path(out_dir)
    measure = recipe.eval.synthesis_metrics
    if measure and synthesis_network is None:
        synthesis_network = synthesis_setup(recipe)
    test = clips.subset(clips.indices_of(fold.test))
    if len(test) == 0:
        raise IcezooError(f"fold {fold.name}: no clips of its test subjects")
    val = clips.subset(clips.indices_of(fold.validation)) if fold.validation else None
    trainer = Trainer(
        recipe, None, clips=clips.subset(clips.indices_of(fold.train)), progress=progress, device=device, leave=False
    )
    selector = Selector(recipe, val, test, trainer.budget, trainer.steps_per_epoch, ema=trainer.ema)
    result = trainer.run(on_epoch=selector if recipe.eval.select != "last" else None)
    averaged = selector.restore(result.model)  # the chosen model, and its averaged generator (train.ema_decay)
    cfg, precision = recipe.eval, recipe.train.precision
    scores = predict(result.model.discriminator, test, batch_size=cfg.batch_size, precision=precision)
    info: dict[str, Any] = {"run": run.stamp(), "train": list(fold.train), "validation": list(fold.validation),
                            "test": list(fold.test), "ran_on": ran_on(trainer.device)}  # fmt: skip
    if val is not None:
        val_pred = predict(result.model.discriminator, val, batch_size=cfg.batch_size, precision=precision)
        info["validation_labels"], info["validation_pred"] = val.label.tolist(), val_pred.argmax(1).tolist()
    info["selection"] = selector.record() if cfg.select != "last" else {"select": "last", "chosen_step": result.step}
    info["test_labels"] = test.label.tolist()
    atomic_write_text(out_dir / "folds" / f"{fold.name}.json", json.dumps(info) + "\n")
    if keep_model:
        save_fold_model(model_path(out_dir, fold), recipe, result.model, info["selection"]["chosen_step"], run,
                        averaged)  # fmt: skip
    if measure:
        from .synthesis.run import measure_fold

        if averaged is not None:  # faces come from the averaged generator, as synth and load_checkpoint give them
            result.model.generator.load_state_dict(averaged)
        measure_fold(result.model, recipe, clips, fold, out_dir, synthesis_network, run)
    rows = prediction_rows(fold.name, test, scores)
    atomic_write_text(fold_path(out_dir, fold), CSV_STAMP + run.fingerprint + "\n" + rows_to_csv(rows))
    return rows


def ran_on(device) -> dict[str, Any]:
    """Where a fold ran (the fold's .json keeps it): the host, the device, and the GPUs the process was given."""
    import os
    import socket

    return {"host": socket.gethostname(), "device": str(device),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}  # fmt: skip


def synthesis_setup(recipe: Recipe):
    """The KID/FID network where ``eval.synthesis_metrics`` is on (else None), its extras checked: before training."""
    if not recipe.eval.synthesis_metrics:
        return None
    from .synthesis.run import measurement_setup

    return measurement_setup(recipe)


def prepare_folder(out_dir: Path, recipe: Recipe, protocol: str, clips: ClipSet) -> RunIdentity:
    """Claim ``out_dir`` for this run (refused when it holds another's) and write what describes the run."""
    run = RunIdentity.of(recipe, protocol, clips)
    claim_folder(out_dir, run)
    atomic_write_text(out_dir / "recipe.yaml", recipe_to_yaml(recipe))
    atomic_write_text(out_dir / "protocol.txt", protocol + "\n")
    atomic_write_text(out_dir / "data.json", json.dumps(describe_data(recipe, clips), indent=2) + "\n")
    return run


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
    """Run this shard's folds not yet done, then write the report if every fold is done; returns the metrics or None.

    ``keep_models`` saves each fold's reported model as ``folds/NAME.pt`` (:mod:`.fold_models`).
    """
    out_dir = check_out(out_dir)
    clips = clips if clips is not None else load_clips(recipe)
    check_fits(clips, recipe.model.image_size, recipe.model.in_channels, recipe.model.num_classes, recipe.source)
    folds = protocol_folds(recipe, protocol, clips)  # a validation set too large for a fold fails here, untrained
    run = prepare_folder(out_dir, recipe, protocol, clips)
    done = lambda fold: fold_done(out_dir, fold, recipe, run, keep_models)  # noqa: E731
    if not merge_only:
        from tqdm.auto import tqdm

        mine = [f for f in shard(folds, *shard_of) if not done(f)]
        network = synthesis_setup(recipe) if mine else None  # once, and before any fold trains
        bar = tqdm(mine, desc=f"{recipe.name or 'eval'} {protocol} folds", unit="fold", disable=not progress,
                   dynamic_ncols=True)  # fmt: skip
        for fold in bar:
            rows = run_fold(recipe, clips, fold, out_dir, run, device=device, progress=progress,
                            keep_model=keep_models, synthesis_network=network)  # fmt: skip
            bar.set_postfix(fold=fold.name, acc=f"{np.mean([r['label'] == r['pred'] for r in rows]):.2f}")
    missing = [f.name for f in folds if not done(f)]
    if missing:
        if merge_only:
            raise IcezooError(
                f"{out_dir}: {len(missing)} of {len(folds)} folds have no results yet (first: {missing[0]}); run the other shards first"
            )
        return None
    return write_report(recipe, protocol, out_dir, folds, run)


def read_predictions(out_dir: Path, folds: list[Fold], run: RunIdentity) -> list[dict[str, str]]:
    """Every fold's prediction rows, in fold order; each file must be this run's and name known classes."""
    rows = []
    for fold in folds:
        path = fold_path(out_dir, fold)
        require_fold_file(run, path)
        try:
            with path.open(newline="") as handle:
                handle.readline()  # the stamp
                part = list(csv.DictReader(handle))
        except OSError as err:
            raise IcezooError(f"{path}: cannot read fold results ({err})") from None
        if not part or set(part[0]) != set(FIELDS):
            raise IcezooError(f"{path}: not a fold result file (columns {sorted(part[0]) if part else 'none'})")
        for line, row in enumerate(part, start=3):  # line 1: the stamp, line 2: the header
            for column in ("label", "pred"):
                if row[column] not in CLASSES:
                    raise IcezooError(
                        f"{path}:{line}: {column}: unknown class '{row[column]}' (expected one of {', '.join(CLASSES)})"
                    )
        rows += part
    return rows


def write_report(recipe: Recipe, protocol: str, out_dir: Path, folds: list[Fold], run: RunIdentity) -> dict[str, Any]:
    """Pool the folds' predictions and write predictions.csv, metrics.json, table.md and confusion.png."""
    rows = read_predictions(out_dir, folds, run)
    index = {c: k for k, c in enumerate(CLASSES)}
    y_true = np.array([index[r["label"]] for r in rows])
    y_pred = np.array([index[r["pred"]] for r in rows])
    groups = {"dataset": [r["dataset"] for r in rows], "fold": [r["fold"] for r in rows],
              "subject": [r["subject"] for r in rows]}  # fmt: skip
    metrics = trust_fields(y_true, y_pred, groups, out_dir, folds, recipe.eval, protocol)  # an oracle warning first
    metrics["run"] = run.fingerprint
    metrics |= compute_metrics(y_true, y_pred, groups["dataset"], groups["fold"], protocol)
    with torch.device("meta"):
        disc = build_model(recipe).discriminator
    metrics["discriminator_mb"] = sum(p.numel() for p in disc.parameters()) * 4 / 1e6
    metrics["recipe"] = recipe.name
    paper = recipe.to_dict()["paper"]
    metrics["paper"] = paper
    warning = f"# {metrics['warning']}\n" if "warning" in metrics else ""
    atomic_write_text(out_dir / "predictions.csv", warning + rows_to_csv(rows))
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

        metrics["synthesis"] = write_synthesis(recipe, out_dir, folds, run)["pooled"]
    return metrics
