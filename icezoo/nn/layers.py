"""Small layer factories shared by generators, trunks and heads."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .spectral import SpectralForm, spectral_norm

Norm = Literal["instance", "batch", "none"]
Activation = Literal["relu", "leaky_relu", "gelu", "sigmoid", "tanh", "identity"]


def maybe_spectral(module: nn.Module, enabled: bool, form: SpectralForm = "parametrization") -> nn.Module:
    """``module`` with spectral normalisation of its weight when ``enabled``, in ``form`` (see :mod:`.spectral`)."""
    return spectral_norm(module, form) if enabled else module


def conv(
    cin: int,
    cout: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    *,
    bias: bool = True,
    spectral: bool = False,
    form: SpectralForm = "parametrization",
) -> nn.Module:
    return maybe_spectral(nn.Conv2d(cin, cout, kernel, stride, padding, bias=bias), spectral, form)


def conv_transpose(
    cin: int,
    cout: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    *,
    bias: bool = True,
    spectral: bool = False,
    form: SpectralForm = "parametrization",
) -> nn.Module:
    return maybe_spectral(nn.ConvTranspose2d(cin, cout, kernel, stride, padding, bias=bias), spectral, form)


def norm2d(kind: Norm, channels: int) -> nn.Module:
    """Instance norm (no affine, no running stats, as in the release), batch norm, or nothing.

    Instance norm is written as ``GroupNorm(C, C)``, the same function, which
    also accepts a 1x1 map (giving zeros) where ``InstanceNorm2d`` raises.
    """
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def activation(kind: Activation) -> nn.Module:
    """An activation by name; ``leaky_relu`` has slope 0.2 as in pix2pix and the release."""
    table = {
        "relu": lambda: nn.ReLU(),
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
        "gelu": lambda: nn.GELU(),
        "sigmoid": lambda: nn.Sigmoid(),
        "tanh": lambda: nn.Tanh(),
        "identity": lambda: nn.Identity(),
    }
    if kind not in table:
        raise ValueError(f"unknown activation {kind!r}")
    return table[kind]()


@torch.no_grad()
def init_gan_weights(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN / release initialisation: conv and linear weights N(0, std), biases 0, BN weight N(1, std).

    Spectral-normalised layers are initialised through their original weight.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def power_of_two_depth(image_size: int, minimum: int = 8) -> int:
    """log2(image_size) for a power-of-two size of at least ``minimum``, else ValueError."""
    if image_size < minimum or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two of at least {minimum}, got {image_size}")
    return image_size.bit_length() - 1


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot rows for class indices, without ``F.one_hot``'s range check (a device-to-host sync on CUDA)."""
    return (labels[:, None] == torch.arange(num_classes, device=labels.device)).to(dtype)
