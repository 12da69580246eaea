"""STSTNet (Liong et al. 2019): a shallow triple-stream network on optical flow and optical strain."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .shapes import conv_out, image_shape, shape_error


def _side(size: int, padding: int, pool: int, pool_padding: int, avg_pool: int) -> int:
    """Side of the map the fully connected layer reads: conv 3x3 -> max-pool pool/pool -> avg-pool."""
    side = conv_out(size, 3, 1, padding)
    if side < 1 or side + 2 * pool_padding < pool:
        return 0
    return conv_out(side, pool, pool, pool_padding) // avg_pool


class STSTNet(nn.Module):
    """Shallow Triple Stream Three-dimensional CNN (Liong et al. 2019): class logits from flow u, v and strain.

    Three parallel 3x3 convolutions with 3, 5 and 8 filters read the whole input; each is followed by ReLU,
    BatchNorm (in that order, as in the authors' PyTorch port), a 3x3 max-pool of stride 3 and dropout 0.5. The
    16 channels are concatenated, average-pooled by 2 and read by one fully connected layer. On the paper's
    3x28x28 input: 28 -> 30 (padding 2, as in the port) -> 10 -> 5, so FC 400 -> 3 and 1,683 parameters as
    PyTorch counts them (the paper's Table V says 1,670). Any ``(C, H, W)`` with H, W >= 2 fits: the fully
    connected layer is sized from ``in_shape`` (a 1x28x28 apex frame works).

    Args:
        in_shape: shape (C, H, W) of one sample (3, 28, 28: u, v and strain); set by icezoo.
        num_classes: number of classes (3); set by icezoo.
        filters: filters of the parallel 3x3 convolutions (3, 5, 8 in the paper).
        padding: zero padding of those convolutions (2 in the authors' PyTorch port: 28 -> 30).
        pool: kernel and stride of the max-pool after each convolution (3 in the paper).
        pool_padding: padding of that max-pool (1 in the port: 30 -> 10).
        avg_pool: kernel and stride of the average pool after the concatenation (2 in the paper).
        dropout: dropout probability after each branch's pool (0.5 in the paper).
    """

    outputs_probabilities = False  # logits: cross-entropy, as the authors trained it

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        filters: list[int] = (3, 5, 8),
        padding: int = 2,
        pool: int = 3,
        pool_padding: int = 1,
        avg_pool: int = 2,
        dropout: float = 0.5,
    ):
        super().__init__()
        channels, height, width = image_shape("ststnet", in_shape)
        h, w = (_side(s, padding, pool, pool_padding, avg_pool) for s in (height, width))
        if h < 1 or w < 1:
            smallest = next(s for s in range(1, 1000) if _side(s, padding, pool, pool_padding, avg_pool) >= 1)
            raise shape_error("ststnet", f"(C, H, W) with H, W >= {smallest}", in_shape)
        self.in_shape, self.num_classes = (channels, height, width), num_classes
        self.branches = nn.ModuleList(
            nn.Sequential(
                OrderedDict(
                    conv=nn.Conv2d(channels, f, 3, padding=padding),
                    relu=nn.ReLU(),
                    norm=nn.BatchNorm2d(f),
                    pool=nn.MaxPool2d(pool, pool, pool_padding),
                    dropout=nn.Dropout(dropout),
                )
            )
            for f in filters
        )
        self.avgpool = nn.AvgPool2d(avg_pool)
        self.fc = nn.Linear(sum(filters) * h * w, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([branch(x) for branch in self.branches], dim=1)
        return self.fc(self.avgpool(x).flatten(1))
