"""Example icezoo plugin: registers the reasoning block ``nonlocal``.

Copy ``plugins/icezoo-example`` to start your own plugin:

1. rename the package and the entry point in ``pyproject.toml``;
2. write your blocks: a reasoning block is built as ``cls(channels=C, **params)``
   and maps ``[B, C, H, W] -> [B, C, H, W]`` for any H, W; annotate its
   parameters (int, float, bool, str, Literal[...]) so recipes are checked,
   and give each a line ``name: meaning.`` in an ``Args:`` section of the
   class docstring (as below) for ``icezoo describe``;
3. register them in ``icezoo_register`` below;
4. ``pip install -e .`` and use the name in a recipe:
   ``model.generator.reasoning: {type: nonlocal, reduction: 2}``.

``icezoo list reasoning`` then shows the block with this plugin as its source.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

import icezoo


class NonLocalBlock(nn.Module):
    """Non-local block (Wang et al. 2018): every position attends to every other; residual.

    theta, phi, g: 1x1 convolutions to C // reduction; y = softmax(theta^T phi) g;
    out = x + W_z(y), with W_z zero-initialised so the block starts as the identity.

    Args:
        channels: width C of the feature map the block bridges; set by icezoo.
        reduction: ratio of C to the inner width C' of theta, phi and g (2, as in Wang et al.).
    """

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        inner = max(1, channels // reduction)
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)  # [B, HW, C']
        k = self.phi(x).flatten(2)  # [B, C', HW]
        v = self.g(x).flatten(2).transpose(1, 2)  # [B, HW, C']
        y = torch.softmax(q @ k / k.shape[1] ** 0.5, dim=-1) @ v
        return x + self.out(y.transpose(1, 2).reshape(b, -1, h, w))


@icezoo.hookimpl
def icezoo_register(registry) -> None:
    """Called once by icezoo when its registry is first used."""
    registry.register("reasoning", "nonlocal", NonLocalBlock)
