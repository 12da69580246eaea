"""The predictions format: one row per test clip, as ``folds/NAME.csv`` and the pooled ``predictions.csv`` hold it.

Columns :data:`FIELDS`: where the clip is from, its label, the prediction and
the class scores (six decimals). A fold's file starts with a stamp line
(:data:`CSV_STAMP` and the run's fingerprint); a report's file may start with
comment lines (an oracle run's warning). Computing the rows is apart from
writing them (:mod:`.folder` writes).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..data.clips import CLASSES
from ..errors import IcezooError

FIELDS = ["fold", "dataset", "subject", "clip", "label", "pred", *(f"score_{c}" for c in CLASSES)]

CSV_STAMP = "# icezoo run "
"""The first line of a fold's predictions file: this prefix and the run's fingerprint."""


def prediction_rows(fold_name: str, test, scores) -> list[dict[str, Any]]:
    """One row per test clip of ``test`` (a ClipSet) with its class ``scores`` [N, Nc]."""
    preds = scores.argmax(1)
    return [
        {"fold": fold_name, "dataset": test.dataset[i], "subject": test.subject[i], "clip": test.clip[i],
         "label": CLASSES[int(test.label[i])], "pred": CLASSES[int(preds[i])],
         **{f"score_{c}": f"{float(scores[i, k]):.6f}" for k, c in enumerate(CLASSES)}}
        for i in range(len(test))
    ]  # fmt: skip


def rows_to_csv(rows: list[dict[str, Any]], comments: list[str] = ()) -> str:
    """The rows as CSV text, after ``comments`` (each a ``# `` line)."""
    buffer = io.StringIO()
    buffer.writelines(f"# {line}\n" for line in comments)
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_stamp(path: Path) -> str | None:
    """The fingerprint on a fold predictions file's first line, or None."""
    try:
        with path.open() as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):  # not a text file: it carries no stamp
        return None
    return first[len(CSV_STAMP) :].strip() if first.startswith(CSV_STAMP) else None


def read_rows(path: Path) -> list[dict[str, str]]:
    """A fold's prediction rows (after its stamp line), each naming known classes; one line naming file:row else."""
    try:
        with path.open(newline="") as handle:
            handle.readline()  # the stamp
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise IcezooError(f"{path}: cannot read fold results ({err})") from None
    if not rows or set(rows[0]) != set(FIELDS):
        raise IcezooError(f"{path}: not a fold result file (columns {sorted(rows[0]) if rows else 'none'})")
    for line, row in enumerate(rows, start=3):  # line 1: the stamp, line 2: the header
        for column in ("label", "pred"):
            if row[column] not in CLASSES:
                raise IcezooError(
                    f"{path}:{line}: {column}: unknown class '{row[column]}' (expected one of {', '.join(CLASSES)})"
                )
    return rows


def body(text: str) -> str:
    """A predictions file's text without its comment lines (an oracle run's warning, a fold's stamp)."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
