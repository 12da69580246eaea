"""Evaluation: protocols and folds, the one fold runner and its backends, run identity, MEGC2019 metrics, reports.

Layout: ``protocols`` (splitters, :class:`Fold`), ``runner`` (:func:`run_fold`, :func:`evaluate`),
``parallel`` and ``ray_launcher`` (backends that call ``run_fold``), ``identity`` (what makes two runs one),
``provenance`` (what the data is), ``selection`` (choosing a fold's model without its test subjects),
``metrics``, ``statistics``, ``trust`` and ``report`` (numbers and tables), ``fold_models`` (kept models,
``icezoo test``), ``seeds`` and ``ablate``, ``synthesis`` (the synthesised faces' metrics). Inference on a
trained model (predict, synth) is :mod:`icezoo.inference`.
"""

from .metrics import compute_metrics, uar, uf1
from .protocols import Fold, make_folds
from .runner import evaluate, run_fold

__all__ = ["Fold", "compute_metrics", "evaluate", "make_folds", "run_fold", "uar", "uf1"]
