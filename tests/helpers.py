"""Test helpers shared by several test modules."""

from __future__ import annotations

import torch
from torch import nn


def randomize_(module: nn.Module, seed: int = 0, std: float = 0.1) -> nn.Module:
    """Overwrite every parameter with N(0, std) noise (so equivalence is not tested on a special init)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


def params_without_grad(module: nn.Module, loss: torch.Tensor) -> list[str]:
    """Names of trainable parameters whose gradient is missing or all zeros after ``loss.backward()``."""
    loss.backward()
    return [
        n for n, p in module.named_parameters() if p.requires_grad and (p.grad is None or not torch.any(p.grad != 0))
    ]


def weighted_sum(out: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """A loss that depends on every output element differently (a plain sum hides normalised branches)."""
    g = torch.Generator().manual_seed(seed)
    return (out * torch.randn(out.shape, generator=g).to(out)).sum()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b||: the error measure for tensors summed in different orders."""
    return ((a.double() - b.double()).norm() / b.double().norm().clamp(min=1e-30)).item()
