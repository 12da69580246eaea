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


def summary(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int = 3) -> dict:
    """UF1, UAR, sample count and confusion matrix (rows: true class)."""
    return {
        "uf1": uf1(y_true, y_pred),
        "uar": uar(y_true, y_pred),
        "n": len(y_true),
        "confusion": confusion_matrix(y_true, y_pred, labels=list(range(num_classes))).tolist(),
    }


def compute_metrics(rows: list[dict[str, str]], protocol: str) -> dict[str, Any]:
    """Pooled metrics overall and per dataset, plus the per-fold average apart."""
    index = {c: k for k, c in enumerate(CLASSES)}
    y = np.array([index[r["label"]] for r in rows])
    p = np.array([index[r["pred"]] for r in rows])
    datasets = sorted({r["dataset"] for r in rows})
    per_dataset = {}
    for d in datasets:
        keep = np.array([r["dataset"] == d for r in rows])
        per_dataset[d] = summary(y[keep], p[keep], len(CLASSES))
        if protocol == "sde":
            per_dataset[d]["f1"] = per_dataset[d]["uf1"]  # macro F1 over the pooled predictions
    by_fold: dict[str, tuple[list[int], list[int]]] = {}
    for r, yt, yp in zip(rows, y, p):
        by_fold.setdefault(r["fold"], ([], []))
        by_fold[r["fold"]][0].append(int(yt))
        by_fold[r["fold"]][1].append(int(yp))
    return {
        "protocol": protocol,
        "classes": list(CLASSES),
        "overall": summary(y, p, len(CLASSES)),
        "per_dataset": per_dataset,
        "folds": len(by_fold),
        "per_fold_average": per_fold_average(by_fold)
        | {"note": "mean of per-fold scores, for comparison only; not the MEGC2019 metric"},
    }
