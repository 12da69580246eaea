"""CapsuleNet (Van Quang et al. 2019): ResNet-18 features of the apex frame, then capsules routed to the classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from torch import Tensor, nn

from ...typecheck import ExistingFile
from ..backbones import create_timm
from ..capsules import RoutingLayer, squash
from ..heads import _length
from .shapes import conv_out, image_shape, shape_error

CAPSULENET_MARGIN = {"m_plus": 0.99, "m_minus": 0.01, "lambda_": 0.5}
"""The margins of the authors' ``losses.py`` (davidnvq/me_recognition, ``me_loss``): squared hinges at 0.99 and 0.01,
absent classes weighted 0.5; not Sabour et al.'s 0.9 / 0.1. icezoo's registered ``margin`` loss
(:class:`icezoo.losses.MarginLoss`) with these parameters is that loss."""


def _grid(size: int, conv_kernel: int, primary_kernel: int, primary_stride: int) -> int:
    """Side of the primary capsules' grid for an input side ``size`` (0 if it cannot be reached)."""
    side = conv_out(size, 7, 2, 3)  # the stem; no max-pool
    side = conv_out(conv_out(side, 3, 2, 1), 3, 2, 1)  # layer2 and layer3 halve it
    side = side - conv_kernel + 1
    return conv_out(side, primary_kernel, primary_stride) if side >= primary_kernel else 0


class CapsuleNet(nn.Module):
    """CapsuleNet (Van Quang et al. 2019): expression capsules' lengths from a face, through ResNet-18 features.

    timm's ResNet-18 up to ``layer3`` without its max-pool (256x28x28 for a 224x224 face), then a 9x9 convolution
    with 256 channels and ReLU (20x20), PrimaryCaps as a 9x9 convolution of stride 2 giving 32 capsule types of
    8 D on a 6x6 grid (1,152 capsules, squashed), and one expression capsule of 16 D per class by dynamic routing
    (:class:`icezoo.nn.capsules.RoutingLayer`: 3 iterations, softmax over the classes, gradient only through the
    last one, as in the original). The scores are the capsules' lengths, in [0, 1); train them with the
    ``margin`` loss and :data:`CAPSULENET_MARGIN`. On (3, 224, 224): 13,842,496 parameters ("about 13.8 M").

    A 1-channel face is repeated to 3 channels. The original read faces in [0, 1] (``ToTensor``, no ImageNet
    normalisation) as 224x224 crops of a 234x240 resize: the ``apex`` input with ``size: [234, 240], crop: 224,
    scale: unit``, as ``recipes/table1/capsulenet.yaml`` asks, with its training views (``train.augment_*``). The original starts from ImageNet weights; here they come from
    ``backbone_weights``, a local file of timm's ``resnet18`` (nothing is downloaded), or the network starts
    from scratch. ``pretrained`` and ``backbone_weights`` record which, for the report.

    Args:
        in_shape: shape (C, H, W) of one face, C 1 or 3 ((3, 224, 224)); set by icezoo.
        num_classes: number of classes, one expression capsule each (3); set by icezoo.
        backbone_weights: local file of timm ``resnet18`` ImageNet weights (None: from scratch).
        conv_channels: channels of the 9x9 convolution after the backbone (256 in the paper).
        conv_kernel: its kernel (9 in the paper).
        primary_types: capsule types of PrimaryCaps (32 in the paper).
        primary_dim: dimension of each primary capsule (8 in the paper).
        primary_kernel: kernel of the PrimaryCaps convolution (9 in the paper).
        primary_stride: its stride (2 in the paper).
        exp_dim: dimension of each expression capsule (16 in the paper).
        routing_iterations: iterations of dynamic routing (3 in the paper).
    """

    outputs_probabilities = True  # capsule lengths

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        backbone_weights: Annotated[str | None, ExistingFile()] = None,
        conv_channels: int = 256,
        conv_kernel: int = 9,
        primary_types: int = 32,
        primary_dim: int = 8,
        primary_kernel: int = 9,
        primary_stride: int = 2,
        exp_dim: int = 16,
        routing_iterations: int = 3,
    ):
        super().__init__()
        expected = "(C, H, W) with C 1 or 3"
        channels, height, width = image_shape("capsulenet", in_shape, expected)
        grid = [_grid(s, conv_kernel, primary_kernel, primary_stride) for s in (height, width)]
        if channels not in (1, 3) or min(grid) < 1:
            smallest = next(s for s in range(1, 4096) if _grid(s, conv_kernel, primary_kernel, primary_stride) >= 1)
            raise shape_error("capsulenet", f"{expected} and H, W >= {smallest}", in_shape)
        self.in_shape, self.num_classes = (channels, height, width), num_classes
        # zero_init_last=False: torchvision's initialisation; timm's zeroed last norms would start every
        # residual branch without a gradient to its convolutions
        resnet = create_timm("resnet18", backbone_weights, zero_init_last=False)
        self.pretrained, self.backbone_weights = backbone_weights is not None, backbone_weights
        self.backbone = nn.Sequential(
            resnet.conv1, resnet.bn1, resnet.act1, resnet.layer1, resnet.layer2, resnet.layer3
        )
        backbone_channels = resnet.layer3[-1].conv2.out_channels
        self.conv = nn.Sequential(nn.Conv2d(backbone_channels, conv_channels, conv_kernel), nn.ReLU())
        self.primary = nn.Conv2d(conv_channels, primary_types * primary_dim, primary_kernel, primary_stride)
        self.primary_dim = primary_dim
        self.exp_caps = RoutingLayer(
            primary_types * grid[0] * grid[1], primary_dim, num_classes, exp_dim, routing_iterations, softmax="out"
        )

    def capsules(self, x: Tensor) -> Tensor:
        """The expression capsules [B, Nc, exp_dim]."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        u = self.primary(self.conv(self.backbone(x)))
        # each grid position's channels, in groups of primary_dim, are its capsules (as the original reshapes them)
        u = squash(u.permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.primary_dim))
        return self.exp_caps(u)

    def forward(self, x: Tensor) -> Tensor:
        return _length(self.capsules(x))

    def extra_repr(self) -> str:
        return (
            f"backbone: {'ImageNet weights from ' + str(self.backbone_weights) if self.pretrained else 'from scratch'}"
        )
