"""How much memory a recipe's training needs, estimated on the ``meta`` device before anything is allocated.

A recipe with ``model.image_size: 1048576`` or ``model.noise_dim: 1000000000000``
passes every type check and then dies in the allocator with a traceback; this
estimate refuses it up front with "this recipe needs about N GiB".
"""

from __future__ import annotations

import torch
from torch import nn

from .typecheck import ValidationError

MEMORY_LIMIT_GIB = 256
"""Refuse recipes whose training needs more than this: more than any single accelerator or workstation holds."""

BYTES_PER_PARAMETER = 16
"""fp32 weight, gradient and Adam's two moments."""


def _activation_count(model: nn.Module, image_size: int, in_channels: int, noise_dim: int) -> int:
    """Values every leaf module outputs for one image through G and D: a meta forward (no memory, no compute)."""
    total = [0]

    def count(_module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            total[0] += output.numel()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.device("meta"), torch.no_grad():
            x = torch.zeros(1, in_channels, image_size, image_size)
            if model.generator is not None:
                model.synthesize(x, torch.zeros(1, dtype=torch.long), torch.zeros(1, noise_dim))
            model.discriminator(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def training_bytes(model: nn.Module, batch_size: int, image_size: int, in_channels: int, noise_dim: int) -> int:
    """About the bytes one fp32 training step holds: parameters with their gradients and Adam moments, and the
    activations kept for backward (G once, D on a real and a synthesised batch)."""
    params = sum(p.numel() for p in model.parameters())
    try:
        activations = _activation_count(model, image_size, in_channels, noise_dim)
    except (RuntimeError, NotImplementedError, TypeError, ValueError):  # a block the meta device cannot run
        activations = 0
    return BYTES_PER_PARAMETER * params + 4 * batch_size * 2 * activations


def check_memory(model: nn.Module, batch_size: int, image_size: int, in_channels: int, noise_dim: int) -> None:
    """Raise :class:`ValidationError` (key ``model``) when training needs more than :data:`MEMORY_LIMIT_GIB`."""
    need = training_bytes(model, batch_size, image_size, in_channels, noise_dim) / 2**30
    if need > MEMORY_LIMIT_GIB:
        raise ValidationError(
            "model",
            f"this recipe needs about {need:,.0f} GiB to train (image_size {image_size}, noise_dim {noise_dim}, "
            f"batch {batch_size}); the limit is {MEMORY_LIMIT_GIB} GiB",
        )
