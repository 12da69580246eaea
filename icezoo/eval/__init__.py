"""Evaluation: protocols and folds, the one fold job and its backends, the run folder, MEGC2019 metrics, reports.

Layout: ``protocols`` (splitters, :class:`Fold`); ``fold`` (fitting and scoring one fold, writing nothing);
``job`` (:func:`~.job.run_fold_job`, the fold job every backend runs); ``runner`` (:func:`evaluate`, the sequential
loop, shards and ``--merge``), ``parallel`` and ``ray_launcher`` (the other backends); ``folder`` (the run folder:
layout, "same run", reading and writing fold results and models), ``identity`` (what makes two runs one, versions
included), ``predictions`` (the predictions format), ``provenance`` (what the data is); ``selection`` (choosing a
fold's model without its test subjects); ``metrics``, ``statistics``, ``trust`` and ``report`` (numbers, tables,
plots); ``retest`` (``icezoo test``), ``seeds`` and ``ablate``; ``synthesis`` (the synthesised faces' metrics).
Inference on a trained model (predict, synth) is :mod:`icezoo.inference`.
"""

from .metrics import compute_metrics, uar, uf1
from .protocols import Fold, make_folds
from .runner import evaluate

__all__ = ["Fold", "compute_metrics", "evaluate", "make_folds", "uar", "uf1"]
