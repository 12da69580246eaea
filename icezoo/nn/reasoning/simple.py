"""The simple bridges of Table III: none (model C), skip (model D), SE (model E)."""

from __future__ import annotations

from torch import Tensor, nn


class NoBridge(nn.Module):
    """No bridge at all (model C): the decoder level receives nothing from the encoder.

    Generators see ``bridges = False`` and leave the concatenation out, so the
    decoder is narrower. Called on its own it contributes nothing (zeros).

    Args:
        channels: width C of the encoder level it stands in for; set by icezoo.
    """

    bridges = False

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape)


class Skip(nn.Module):
    """Plain skip connection (model D): g = f_enc, as in U-Net.

    Args:
        channels: width C of the feature map the block bridges; set by icezoo.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return x


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (model E, Hu et al. 2018): channels rescaled by a gate from pooled features.

    g = f_enc * sigmoid(W2 relu(W1 avgpool(f_enc))), hidden width C // reduction.

    Args:
        channels: width C of the feature map the block bridges; set by icezoo.
        reduction: squeeze ratio of the bottleneck (C / reduction hidden units; 16, as in Hu et al.).
        min_hidden: fewest hidden units, so narrow levels keep a usable gate (4, an icezoo choice).
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 4):
        super().__init__()
        if reduction < 1:
            raise ValueError("reduction must be at least 1")
        hidden = max(min_hidden, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)
