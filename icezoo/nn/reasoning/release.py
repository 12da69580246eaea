"""The GRM as the authors' released model files build it (GloRe-style), for ``icegan_release``."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ..layers import init_gan_weights, norm2d


class ReleaseGraphReasoning(nn.Module):
    """GRM of the authors' release: a GloRe graph convolution on a C/4-node channel graph.

    phi, theta: 1x1 convolutions C -> C' = C / reduction (with bias); M = phi theta^T / C'
    ([B, C', C']); graph convolution as in GloRe (Chen et al. 2019): a 1x1 Conv1d
    across nodes (applied to M transposed), plus M, ReLU, then a 1x1 Conv1d across
    features; back-projection M^ theta, a 1x1 convolution C' -> C without bias,
    instance norm (no affine), added to the input. Weights N(0, 0.02), biases 0.

    Args:
        channels: width C of the feature map the block bridges; set by icezoo.
        reduction: ratio C / C' of channels to graph nodes (4, as in the release).
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        if reduction < 1 or channels % reduction:
            raise ValueError(f"reduction must divide channels ({channels}), got {reduction}")
        nodes = channels // reduction
        self.nodes = nodes
        self.phi = nn.Conv2d(channels, nodes, 1)
        self.theta = nn.Conv2d(channels, nodes, 1)
        self.node_conv = nn.Conv1d(nodes, nodes, 1)
        self.feature_conv = nn.Conv1d(nodes, nodes, 1)
        self.out = nn.Conv2d(nodes, channels, 1, bias=False)
        self.norm = norm2d("instance", channels)
        init_gan_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        p, q = self.phi(x).flatten(2), self.theta(x).flatten(2)  # [B, C', HW]
        m = torch.bmm(p, q.transpose(1, 2)) / self.nodes  # [B, C', C']
        g = self.node_conv(m.transpose(1, 2)).transpose(1, 2) + m
        g = self.feature_conv(torch.relu(g))
        y = rearrange(torch.bmm(g, q), "b n (h w) -> b n h w", h=h, w=w)  # nodes back onto the grid
        return x + self.norm(self.out(y))
