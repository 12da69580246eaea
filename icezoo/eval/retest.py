"""``icezoo test RUN``: re-score the fold models an eval kept (``--keep-models``), without training.

Each fold's model is read back through the run folder (:class:`~.folder.RunFolder`:
its stamp must be the run's), predicts its fold's test subjects again, and the
rows are written as ``predictions.csv`` in the eval's format, with the oracle
warning first where the run chose its models on the test subjects; on the same
kind of device the file is the eval's byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import IcezooError
from .folder import RunFolder
from .predictions import body, prediction_rows, rows_to_csv


def retest(
    run_dir: str | Path,
    out: str | Path | None = None,
    device: str = "cpu",
    allow_plugins: Iterable[str] = (),
    allow_mixed_versions: bool = False,
) -> tuple[Path, bool, str | None]:
    """Re-score a run's saved fold models; returns (the new predictions.csv, whether it equals the run's, the
    run's oracle warning or None).

    The run folder is data: its recipe's plugins run only when loaded already or named in ``allow_plugins``.
    """
    from ..files import atomic_write_text
    from ..inference.scores import predict
    from .selection import ORACLE_WARNING

    folder, recipe, _, clips, folds = RunFolder.open(run_dir, allow_plugins, allow_mixed_versions=allow_mixed_versions)
    missing = [f.name for f in folds if not folder.model(f).is_file()]
    if missing:
        raise IcezooError(
            f"{folder.path}: no saved model for {len(missing)} of {len(folds)} folds (first: folds/{missing[0]}.pt); "
            "run icezoo eval with --keep-models"
        )
    rows = []
    for fold in folds:
        model = folder.load_model(fold, device, allow_plugins)
        test = clips.subset(clips.indices_of(fold.test))
        if recipe.model.is_baseline:  # a recogniser on its input's (cached) features
            scores = model.scores(model.features(test, progress=False), recipe.eval.batch_size)
        else:
            scores = predict(
                model.discriminator, test, batch_size=recipe.eval.batch_size, precision=recipe.train.precision
            )
        rows += prediction_rows(fold.name, test, scores)
    warning = ORACLE_WARNING if recipe.eval.select == "oracle_test" else None
    out = Path(out) if out is not None else folder.path / "retest"
    text = rows_to_csv(rows, [warning] if warning else [])
    atomic_write_text(out / "predictions.csv", text)
    original = folder.path / "predictions.csv"
    same = original.is_file() and body(original.read_bytes().decode()) == body(text)  # bytes: csv writes \r\n
    return out / "predictions.csv", same, warning
