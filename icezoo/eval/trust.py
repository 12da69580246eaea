"""What a report adds so its numbers can be trusted: the data, the selection rule, intervals, validation scores.

Read from the run folder (:class:`~.folder.RunFolder`: ``data.json`` and each
fold's ``.json``, written while the folds ran), so a ``--merge`` of shards
reports the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import CLASSES
from .metrics import summary
from .protocols import Fold
from .selection import ORACLE_WARNING, rule_statement, same_run_figures
from .statistics import bootstrap_intervals

CHOSEN_ON_VALIDATION = (
    "the figure of the candidate chosen on these same validation subjects (best_validation): optimistic, "
    "not an estimate for unseen subjects"
)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        from ..errors import IcezooError

        raise IcezooError(f"{path}: not readable JSON ({err})") from None


def trust_fields(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: dict[str, Sequence[str]],
    folder,
    folds: list[Fold],
    cfg,
    protocol: str,
) -> dict[str, Any]:
    """The metrics.json fields of this module: ``warning`` (oracle runs first), data, selection, intervals.

    ``groups`` gives each prediction's ``subject`` (the bootstrap's unit) and ``dataset``; under ``sde``, whose
    figure is per database (Table II), each database gets its own interval.
    """
    out: dict[str, Any] = {}
    if cfg.select == "oracle_test":
        out["warning"] = ORACLE_WARNING
    out["data"] = _read_json(folder.path / "data.json")
    info = {f.name: folder.read_info(f) for f in folds}
    selection: dict[str, Any] = {"rule": cfg.select, "statement": rule_statement(cfg),
                                 "validation_subjects": cfg.validation_subjects}  # fmt: skip
    if all(i is not None for i in info.values()):
        selection["chosen_steps"] = {k: i["selection"]["chosen_step"] for k, i in info.items()}
        records = {k: i["selection"] for k, i in info.items() if "candidates" in i["selection"]}
        if len(records) == len(info) and records:
            labels = {k: i["test_labels"] for k, i in info.items()}
            selection["same_run"] = same_run_figures(records, labels, cfg.select_metric)
        if cfg.validation_subjects:
            y = sum((i["validation_labels"] for i in info.values()), [])
            p = sum((i["validation_pred"] for i in info.values()), [])
            out["validation"] = summary(y, p, len(CLASSES))
            if cfg.select == "best_validation":
                out["validation"]["note"] = CHOSEN_ON_VALIDATION
    out["selection"] = selection
    if cfg.bootstrap:
        subjects = np.asarray(groups["subject"])
        ci = bootstrap_intervals(subjects, y_true, y_pred, resamples=cfg.bootstrap)
        interval = {"method": f"subject-level bootstrap, {cfg.bootstrap} resamples, percentile", **ci}
        if protocol == "sde":
            datasets = np.asarray(groups["dataset"])
            interval["per_dataset"] = {
                d: bootstrap_intervals(subjects[datasets == d], y_true[datasets == d], y_pred[datasets == d],
                                       resamples=cfg.bootstrap)
                for d in sorted(set(datasets.tolist()))
            }  # fmt: skip
        out["interval_95"] = interval
    return out
