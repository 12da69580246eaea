"""Dual-Inception (Zhou, Mao, Xue 2019): one Inception stream for each component of the optical flow."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .shapes import image_shape, shape_error


def _conv(cin: int, cout: int, kernel: int) -> nn.Sequential:
    """A 'same'-padded convolution with ReLU (every convolution of the original has one)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.ReLU())


class InceptionBlock(nn.Module):
    """Four branches of ``width`` channels each, concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; max-pool 3x3 -> 1x1."""

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        self.branches = nn.ModuleList(
            [
                _conv(in_channels, width, 1),
                nn.Sequential(_conv(in_channels, width, 1), _conv(width, width, 3)),
                nn.Sequential(_conv(in_channels, width, 1), _conv(width, width, 5)),
                nn.Sequential(nn.MaxPool2d(3, 1, 1), _conv(in_channels, width, 1)),
            ]
        )
        self.out_channels = 4 * width

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class InceptionStream(nn.Sequential):
    """One flow component: an Inception block per width, each followed by a 2x2 max-pool."""

    def __init__(self, in_channels: int, widths: Sequence[int]):
        layers: list[nn.Module] = []
        for width in widths:
            block = InceptionBlock(in_channels, width)
            layers += [block, nn.MaxPool2d(2)]
            in_channels = block.out_channels
        super().__init__(*layers)
        self.out_channels = in_channels


class DualInception(nn.Module):
    """Dual-Inception (Zhou, Mao, Xue 2019): class logits from the horizontal and the vertical optical flow.

    The input's channels are split in two halves, the horizontal and the vertical flow (``(2, 28, 28)``: one
    28x28 image each), and each half goes through its own stream: an Inception block of four branches of 6
    channels (1x1; 1x1 -> 3x3; 1x1 -> 5x5; max-pool 3x3 -> 1x1, every convolution with ReLU and 'same' padding),
    a 2x2 max-pool, the same block with 16 channels, a 2x2 max-pool: 7x7x64. Both streams are flattened and
    concatenated (6,272), then Dense 1024 with ReLU and Dense ``num_classes`` (the original's softmax is in the
    cross-entropy). On (2, 28, 28): 6,449,867 parameters ("about 6.45 M"); the authors' Keras code reads each
    component as a 3-channel image, which (6, 28, 28) reproduces (6,449,963).

    Args:
        in_shape: shape (2k, H, W) of one sample, the two flow components stacked ((2, 28, 28)); set by icezoo.
        num_classes: number of classes (3); set by icezoo.
        widths: channels per branch of each Inception block, one block per entry (6 and 16 in the paper).
        hidden: width of the fully connected layer (1024 in the paper).
    """

    outputs_probabilities = False  # logits

    def __init__(self, in_shape: Sequence[int], num_classes: int, widths: list[int] = (6, 16), hidden: int = 1024):
        super().__init__()
        channels, height, width = image_shape("dual_inception", in_shape, "(2k, H, W), two flow components")
        side = 2 ** len(widths)
        if channels % 2 or height < side or width < side:
            raise shape_error("dual_inception", f"(2k, H, W) with H, W >= {side}: two flow components", in_shape)
        self.in_shape, self.num_classes = (channels, height, width), num_classes
        self.streams = nn.ModuleList(InceptionStream(channels // 2, widths) for _ in range(2))
        features = 2 * self.streams[0].out_channels * (height // side) * (width // side)
        self.classifier = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        halves = x.chunk(2, dim=1)
        return self.classifier(torch.cat([s(h).flatten(1) for s, h in zip(self.streams, halves)], dim=1))
