"""Uncertainty of the pooled scores: a subject-level bootstrap, and mean +- SD over seeds.

Clips of one subject are not independent (one face, one person's way of
moving), so the bootstrap resamples *subjects* with replacement, pools all
clips of the drawn subjects and recomputes UF1 and UAR the MEGC2019 way; the
95% interval is the 2.5th and 97.5th percentiles of those (percentile method).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import uar, uf1


def bootstrap_intervals(
    subjects: Sequence[str],
    y_true: Sequence[int],
    y_pred: Sequence[int],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, list[float]]:
    """``{"uf1": [low, high], "uar": [low, high]}`` from ``resamples`` draws of the subjects (with replacement)."""
    y, p = np.asarray(y_true), np.asarray(y_pred)
    names = sorted(set(subjects))
    index = {s: i for i, s in enumerate(names)}
    owner = np.array([index[s] for s in subjects])
    members = [np.flatnonzero(owner == i) for i in range(len(names))]
    rng = np.random.default_rng(seed)
    draws = {"uf1": [], "uar": []}
    for _ in range(resamples):
        picked = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        draws["uf1"].append(uf1(y[picked], p[picked]))
        draws["uar"].append(uar(y[picked], p[picked]))
    tail = (1 - level) / 2 * 100
    return {k: [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))] for k, v in draws.items()}


def mean_sd(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": len(v)}
