"""Fold models kept by ``icezoo eval --keep-models``, and ``icezoo test RUN``, which re-scores them.

``folds/NAME.pt`` is an icezoo checkpoint (read with ``weights_only=True``)
holding the fold's reported model (the one ``eval.select`` chose: D, and G
where the recipe has one, with its average where ``train.ema_decay`` kept
one), the run's resolved recipe and the run's identity
(:mod:`.identity`), so :func:`icezoo.train.checkpoint.load_trained_model`
rebuilds it alone and a run folder accepts only its own fold models.
:func:`retest` predicts each fold's test subjects again with these models and
writes ``predictions.csv`` in the same format; on the same kind of device it
is the eval's file byte for byte.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..data.clips import CLASSES
from ..errors import IcezooError
from .protocols import Fold

FIELDS = ["fold", "dataset", "subject", "clip", "label", "pred", *(f"score_{c}" for c in CLASSES)]


def model_path(out_dir: Path, fold: Fold) -> Path:
    return out_dir / "folds" / f"{fold.name}.pt"


def save_fold_model(path: Path, recipe, model, step: int, run, averaged=None) -> Path:
    """The fold's chosen model (and its averaged generator ``averaged``), the run's recipe and identity."""
    from ..train.checkpoint import save_checkpoint

    return save_checkpoint(path, {
        "step": step,
        "recipe": recipe.to_dict(),
        "run": run.stamp(),
        "generator": model.generator.state_dict() if model.generator is not None else None,
        "generator_ema": averaged,
        "discriminator": model.discriminator.state_dict(),
    })  # fmt: skip


def load_fold_model(path: Path, run, device: str = "cpu", allow_plugins: Iterable[str] = ()):
    """A fold model of run ``run`` (:class:`~.identity.RunIdentity`), refused when it was made in another run."""
    from ..train.checkpoint import load_checkpoint, load_trained_model

    state = load_checkpoint(path)  # read once: its run identity first, then its model
    run.require(state.get("run"), path, "a fold model")
    model, _ = load_trained_model(path, device, allow_plugins=allow_plugins, state=state)
    return model


def prediction_rows(fold_name: str, test, scores) -> list[dict[str, Any]]:
    """One predictions.csv row per test clip: where it is from, its label, the prediction and the class scores."""
    preds = scores.argmax(1)
    return [
        {"fold": fold_name, "dataset": test.dataset[i], "subject": test.subject[i], "clip": test.clip[i],
         "label": CLASSES[int(test.label[i])], "pred": CLASSES[int(preds[i])],
         **{f"score_{c}": f"{float(scores[i, k]):.6f}" for k, c in enumerate(CLASSES)}}
        for i in range(len(test))
    ]  # fmt: skip


def retest(
    run_dir: str | Path, out: str | Path | None = None, device: str = "cpu", allow_plugins: Iterable[str] = ()
) -> tuple[Path, bool]:
    """Re-score a run's saved fold models; returns (the new predictions.csv, whether it equals the run's).

    The run folder is data: its recipe's plugins run only when loaded already or named in ``allow_plugins``.
    """
    from ..data import load_clips
    from ..files import atomic_write_text
    from ..inference.scores import predict
    from ..train.checkpoint import load_run_recipe
    from .identity import run_of_folder
    from .protocols import protocol_folds

    run_dir = Path(run_dir)
    if not (run_dir / "recipe.yaml").is_file() or not (run_dir / "protocol.txt").is_file():
        raise IcezooError(f"{run_dir}: not an icezoo eval run folder (no recipe.yaml and protocol.txt)")
    recipe = load_run_recipe(run_dir, allow_plugins)
    protocol = (run_dir / "protocol.txt").read_text().strip()
    clips = load_clips(recipe)
    folds = protocol_folds(recipe, protocol, clips)
    missing = [f.name for f in folds if not model_path(run_dir, f).is_file()]
    if missing:
        raise IcezooError(
            f"{run_dir}: no saved model for {len(missing)} of {len(folds)} folds (first: folds/{missing[0]}.pt); "
            "run icezoo eval with --keep-models"
        )
    run = run_of_folder(run_dir, recipe, protocol, clips)
    rows = []
    for fold in folds:
        model = load_fold_model(model_path(run_dir, fold), run, device, allow_plugins)
        test = clips.subset(clips.indices_of(fold.test))
        scores = predict(model.discriminator, test, batch_size=recipe.eval.batch_size, precision=recipe.train.precision)
        rows += prediction_rows(fold.name, test, scores)
    out = Path(out) if out is not None else run_dir / "retest"
    text = rows_to_csv(rows)
    atomic_write_text(out / "predictions.csv", text)
    original = run_dir / "predictions.csv"
    same = original.is_file() and _csv_body(original.read_bytes().decode()) == text  # bytes: csv writes \r\n
    return out / "predictions.csv", same


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_body(text: str) -> str:
    """A predictions.csv without its comment lines (an oracle run's warning)."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
