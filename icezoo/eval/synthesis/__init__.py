"""Metrics of the synthesised faces themselves: identity, expression, distribution distance, motion.

:mod:`.identity` (dlib embeddings, the landmark extra), :mod:`.expression`
(the fold's D and an independent classifier fitted on the fold's real
training clips), :mod:`.distribution` (KID, FID through torchmetrics on
mini-Xception features), :mod:`.motion` (|x_syn - x_on| per face region);
:mod:`.fold` measures one fold, :mod:`.summary` pools and reports,
:mod:`.run` is the eval hook and ``icezoo synth-metrics``.
"""
