"""Evaluation: protocols (LOSO, single-database, split), MEGC2019 metrics, reports, synthesis."""

from .runner import compute_metrics, evaluate
from .metrics import uar, uf1
from .protocols import Fold, make_folds

__all__ = ["Fold", "compute_metrics", "evaluate", "make_folds", "uar", "uf1"]
