"""Evaluation: protocols (LOSO, single-database, split), MEGC2019 metrics, reports, synthesis."""

from .metrics import compute_metrics, uar, uf1
from .protocols import Fold, make_folds
from .runner import evaluate

__all__ = ["Fold", "compute_metrics", "evaluate", "make_folds", "uar", "uf1"]
