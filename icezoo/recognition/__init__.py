"""Baselines of Table I: a registered ``input`` read by a registered ``recogniser``, trained fold by fold.

A recipe names a baseline in its ``model`` section, where a GAN names its generator and discriminator::

    model:
      generator: null                 # nothing is synthesised
      input: {type: flow_strain}      # kind input: what is read of each clip (icezoo.inputs)
      recogniser: {type: ststnet}     # kind recogniser: what recognises it (icezoo.nn.recognisers)

Everything else is the recipe format ICE-GAN uses: ``train`` (Adam's lr, batch size, epochs, schedule),
``loss.classification`` (cross-entropy for logits, the margin loss for capsule lengths) and ``loss.class_balance``
(class weights), ``eval`` (protocols, validation-only selection), ``paper`` (the published row and its caveat).
So a baseline runs through the same commands, run identity and run folders as the GAN rows.

- :mod:`.model`: :class:`Baseline` (the input and the recogniser built for it, one misfit one line) and its
  fold-model state (a torch state dict, or a skops file for a scikit-learn estimator: never pickle).
- :mod:`.fit`: training one fold (:func:`fit_and_score_baseline`, what :func:`icezoo.eval.fold.fit_and_score`
  runs for a baseline).
"""

from __future__ import annotations

from .model import Baseline, build_baseline, check_baseline, load_baseline

__all__ = ["Baseline", "build_baseline", "check_baseline", "load_baseline"]
