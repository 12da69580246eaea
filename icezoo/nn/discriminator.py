"""The discriminator: a trunk followed by a head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .heads import DiscriminatorOutput


class Discriminator(nn.Module):
    """Trunk then head: ``forward(x [B,1,S,S], labels=None) -> DiscriminatorOutput``."""

    def __init__(self, trunk: nn.Module, head: nn.Module):
        super().__init__()
        self.trunk, self.head = trunk, head

    def forward(self, x: Tensor, labels: Tensor | None = None) -> DiscriminatorOutput:
        return self.head(self.trunk(x), labels=labels)


@torch.no_grad()
def feature_shape(trunk: nn.Module, in_channels: int, image_size: int) -> tuple[int, int, int]:
    """(C, h, w) of the trunk's output, found by one forward pass of a single dummy image.

    On the ``meta`` device this costs nothing; elsewhere it is one small forward.
    """
    param = next(trunk.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = trunk.training
    trunk.eval()
    try:
        out = trunk(torch.zeros(1, in_channels, image_size, image_size, device=device))
    finally:
        trunk.train(was_training)
    return tuple(out.shape[1:])
