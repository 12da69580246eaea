"""Recognisers: the networks and the classifier that Table I compares ICE-GAN with.

A ``recogniser`` is built as ``cls(in_shape, num_classes, **params)``: ``in_shape`` is the shape of one sample of
what its ``input`` yields, without the batch (``(3, 28, 28)`` for flow and strain, ``(11328,)`` for LBP-TOP
histograms), set by icezoo as ``num_classes`` is. A torch recogniser is an ``nn.Module`` whose ``forward`` maps
``[B, *in_shape]`` to class scores ``[B, num_classes]``; its class attribute ``outputs_probabilities`` says whether
those are logits (cross-entropy) or capsule lengths (margin loss). ``svm`` returns a scikit-learn estimator instead,
kept with skops (:mod:`.svm`), never pickle.

Each network sizes itself from ``in_shape`` where its architecture allows (STSTNet on a 1x28x28 apex frame works)
and refuses at build time, in one line naming the expected and the given shape, what cannot work.

- :class:`~.ststnet.STSTNet` (Liong et al. 2019): three shallow parallel convolutions on flow and strain.
- :class:`~.dual_inception.DualInception` (Zhou, Mao, Xue 2019): one Inception stream per flow component.
- :class:`~.capsulenet.CapsuleNet` (Van Quang et al. 2019): ResNet-18 features, then capsules.
- :class:`~.emr.EMRApprox` (Liu et al. 2019, approximated): ResNet-18 on a flow picture, a head per half face.
- :func:`~.svm.svm`: a linear SVM on handcrafted features (LBP-TOP, the MEGC2019 baseline).

A network may return, in training mode only, a tuple of scores whose first is the prediction and the rest
auxiliary outputs, each trained with the same loss (:func:`icezoo.recognition.fit.training_loss`), and may define
``param_groups(lr)`` for Adam (a backbone at its own rate: :func:`icezoo.recognition.fit.adam_for`).
"""

from __future__ import annotations

from .capsulenet import CAPSULENET_MARGIN, CapsuleNet
from .dual_inception import DualInception
from .emr import EMRApprox
from .shapes import shape_error
from .ststnet import STSTNet
from .svm import load_estimator, save_estimator, svm

__all__ = [
    "CAPSULENET_MARGIN",
    "CapsuleNet",
    "DualInception",
    "EMRApprox",
    "STSTNet",
    "load_estimator",
    "save_estimator",
    "shape_error",
    "svm",
]
