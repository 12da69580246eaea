"""UF1, UAR and F1 the MEGC2019 way, computed by scikit-learn.

MEGC2019 pools the predictions of all folds first, then averages the
per-class F1 (UF1) and per-class recall (UAR) over the classes. A class with
no prediction has F1 0 (2 TP / (2 TP + FP + FN) with TP = 0). Classes that
occur neither in the truth nor in the predictions (a subset without them)
leave the F1 average, and classes absent from the truth leave the recall
average, where their scores are undefined. Some papers instead average
per-fold scores; :func:`per_fold_average` gives that, for comparison only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, recall_score

from ..data import CLASSES


def uf1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Unweighted F1: the mean per-class F1 over the classes that occur (in the truth or the predictions)."""
    seen = sorted({int(y) for y in y_true} | {int(y) for y in y_pred})
    return float(f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0))


def uar(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Unweighted average recall: the mean recall (accuracy within each true class) over the true classes."""
    present = sorted({int(y) for y in y_true})
    return float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def per_fold_average(folds: dict[str, tuple[Sequence[int], Sequence[int]]]) -> dict[str, float]:
    """The mean over folds of each fold's UF1 and UAR (classes absent from a fold left out of its average)."""
    f1s = [uf1(y_true, y_pred) for y_true, y_pred in folds.values()]
    recalls = [uar(y_true, y_pred) for y_true, y_pred in folds.values()]
    return {"uf1": float(np.mean(f1s)), "uar": float(np.mean(recalls)), "folds": len(folds)}


def scores(
    y_true: Sequence[int], y_pred: Sequence[int], folds: Sequence[str] | None = None, pooling: str = "pooled"
) -> dict[str, float]:
    """UF1 and UAR of predictions: ``pooled`` (MEGC2019: all folds' predictions at once) or ``per_fold`` (the mean
    of each fold's scores, which some papers report; needs ``folds``, each prediction's fold)."""
    if pooling == "pooled":
        return {"uf1": uf1(y_true, y_pred), "uar": uar(y_true, y_pred)}
    if pooling != "per_fold" or folds is None:
        raise ValueError(f"pooling must be 'pooled', or 'per_fold' with folds given; got {pooling!r}")
    y, p, f = np.asarray(y_true), np.asarray(y_pred), np.asarray(folds)
    return per_fold_average({k: (y[f == k], p[f == k]) for k in dict.fromkeys(f.tolist())})


def summary(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int = 3) -> dict:
    """UF1, UAR, sample count and confusion matrix (rows: true class)."""
    return {
        "uf1": uf1(y_true, y_pred),
        "uar": uar(y_true, y_pred),
        "n": len(y_true),
        "confusion": confusion_matrix(y_true, y_pred, labels=list(range(num_classes))).tolist(),
    }


def compute_metrics(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    datasets: Sequence[str],
    folds: Sequence[str],
    protocol: str,
    classes: Sequence[str] = CLASSES,
) -> dict[str, Any]:
    """Pooled metrics overall and per dataset, plus the per-fold average apart.

    Args:
        y_true, y_pred: class indices into ``classes``, one per test clip.
        datasets: each clip's database (the per-dataset blocks; ``sde`` adds their F1, Table II's figure).
        folds: each clip's fold (for the per-fold average, for comparison only).
        protocol: ``loso``, ``sde`` or ``split``.
        classes: the class names, in index order.
    """
    y, p = np.asarray(y_true), np.asarray(y_pred)
    datasets, folds = np.asarray(datasets), np.asarray(folds)
    per_dataset = {}
    for d in sorted(set(datasets.tolist())):
        keep = datasets == d
        per_dataset[d] = summary(y[keep], p[keep], len(classes))
        if protocol == "sde":
            per_dataset[d]["f1"] = per_dataset[d]["uf1"]  # macro F1 over the pooled predictions
    per_fold = scores(y, p, folds, pooling="per_fold")
    return {
        "protocol": protocol,
        "classes": list(classes),
        "overall": summary(y, p, len(classes)),
        "per_dataset": per_dataset,
        "folds": per_fold["folds"],
        "per_fold_average": per_fold
        | {"note": "mean of per-fold scores, for comparison only; not the MEGC2019 metric"},
    }
