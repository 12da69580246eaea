"""An exponential moving average of the generator's weights (``train.ema_decay``), the generator one samples from.

After every step, ``ema = decay * ema + (1 - decay) * weight`` for each
parameter (as StyleGAN, StudioGAN and mmagic do); buffers (batch-norm
statistics, spectral-norm vectors) are copied from the trained generator.
The average lives in its own copy of the generator, is saved in the
checkpoint (``generator_ema``) and resumed from it, so a resumed run averages
exactly as an uninterrupted one. It is off in the paper's recipes (decay 0).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    """The averaged copy of ``generator``, updated by :meth:`update` after each optimiser step.

    Args:
        generator: the generator being trained (copied once; never modified).
        decay: weight of the old average in each update, in [0, 1).
    """

    def __init__(self, generator: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    @classmethod
    def of(cls, generator: nn.Module | None, decay: float) -> GeneratorEMA | None:
        """The average of ``generator``, or None where it is off (decay 0) or there is no generator (model A)."""
        return cls(generator, decay) if decay > 0 and generator is not None else None

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """One averaging step towards ``generator``'s current weights."""
        ema = list(self.module.parameters())
        torch._foreach_lerp_(ema, [p.detach() for p in generator.parameters()], 1 - self.decay)
        for mine, theirs in zip(self.module.buffers(), generator.buffers()):
            mine.copy_(theirs)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()
