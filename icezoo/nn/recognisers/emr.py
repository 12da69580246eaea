"""ME-Recognizer, approximated (Liu et al., FG 2019; xiaobaishu0097/MEGC2019): ResNet-18 on a flow picture, its
last feature map split into the upper and the lower face, each with its own head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor, nn

from ...typecheck import ExistingFile
from ..backbones import create_timm
from .shapes import conv_out, image_shape, shape_error


def _side(size: int) -> int:
    """Side of ResNet-18's last feature map for an input side ``size`` (stem, max-pool, three stride-2 stages)."""
    side = conv_out(conv_out(size, 7, 2, 3), 3, 2, 1)
    for _ in range(3):
        side = conv_out(side, 3, 2, 1)
    return side


class EMRApprox(nn.Module):
    """ME-Recognizer's network without its domain adversary: class logits from a flow picture ``(C, H, W)``.

    ResNet-18 (timm's, without its classifier) gives 512 maps of 7x7 for a 224x224 picture; the rows above
    ``split_row`` (the upper face, 3 of 7) and the rest (the lower face) are each averaged to 512 features and
    mapped to ``hidden`` (64) by Linear, Tanh and Dropout(0.1); the class logits come from both (128 -> 3). In
    training, :meth:`forward` also returns the logits of each half alone (64 -> 3), which the original's loss adds
    to the main one (three cross-entropies). On (3, 224, 224): 11,242,953 parameters.

    The original starts the ResNet from VGGFace2 weights (a MatConvNet import) and trains it at a learning rate of
    1e-5 while the heads train at the recipe's (:meth:`param_groups`); its gradient-reversal domain adversary on
    CK+ (a Linear 128-64-32-1 discriminator) is left out, because CK+ is not here. Heads start as the original's
    (Xavier-normal weights, zero biases); the ResNet from ``backbone_weights``, a local timm ``resnet18`` file, or
    from scratch.

    Args:
        in_shape: shape (C, H, W) of one picture ((3, 224, 224)); set by icezoo.
        num_classes: number of classes (3); set by icezoo.
        backbone_weights: local file of timm ``resnet18`` weights (None: from scratch).
        hidden: features of each half's head (64 in the original).
        dropout: dropout after each half's Tanh (0.1 in the original).
        split_row: rows of the last feature map that are the upper face (3 of 7 in the original).
        backbone_lr: learning rate of the ResNet (1e-5 in the original; None: the recipe's ``train.lr``).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        backbone_weights: Annotated[str | None, ExistingFile()] = None,
        hidden: int = 64,
        dropout: float = 0.1,
        split_row: int = 3,
        backbone_lr: float | None = 1e-5,
    ):
        super().__init__()
        channels, height, width = image_shape("emr_approx", in_shape)
        rows = _side(height)
        if rows <= split_row or split_row < 1 or _side(width) < 1:
            smallest = next(s for s in range(1, 4096) if _side(s) > split_row)
            raise shape_error("emr_approx", f"(C, H, W) with H >= {smallest} (more than {split_row} feature rows)",
                              in_shape)  # fmt: skip
        self.in_shape, self.split_row, self.backbone_lr = (channels, height, width), split_row, backbone_lr
        self.pretrained, self.backbone_weights = backbone_weights is not None, backbone_weights
        self.backbone = create_timm("resnet18", backbone_weights, in_chans=channels, num_classes=0, global_pool="",
                                    zero_init_last=False)  # fmt: skip
        features = self.backbone.num_features
        self.head_top = nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Dropout(dropout))
        self.head_bottom = nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Dropout(dropout))
        self.classifier = nn.Linear(2 * hidden, num_classes)
        self.classifier_top = nn.Linear(hidden, num_classes)
        self.classifier_bottom = nn.Linear(hidden, num_classes)
        for module in (self.head_top[0], self.head_bottom[0], self.classifier, self.classifier_top,
                       self.classifier_bottom):  # fmt: skip
            nn.init.xavier_normal_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        maps = self.backbone(x)  # no pooling, no classifier: the last feature maps
        top = self.head_top(maps[:, :, : self.split_row].mean((2, 3)))
        bottom = self.head_bottom(maps[:, :, self.split_row :].mean((2, 3)))
        logits = self.classifier(torch.cat([top, bottom], 1))
        if self.training:  # the prediction first; the loss adds each half's own
            return logits, self.classifier_top(top), self.classifier_bottom(bottom)
        return logits

    def param_groups(self, lr: float) -> list[dict]:
        """Adam's parameter groups: the ResNet at ``backbone_lr`` (never scheduled, as in the original), the heads
        at ``lr``."""
        if self.backbone_lr is None:
            return [{"params": list(self.parameters()), "lr": lr}]
        heads = [p for name, p in self.named_parameters() if not name.startswith("backbone.")]
        return [{"params": list(self.backbone.parameters()), "lr": self.backbone_lr, "scheduled": False},
                {"params": heads, "lr": lr}]  # fmt: skip

    def extra_repr(self) -> str:
        start = "weights from " + str(self.backbone_weights) if self.pretrained else "from scratch"
        return f"backbone: {start}, split after feature row {self.split_row}"


__all__ = ["EMRApprox"]
