"""Recognition with a trained discriminator: class scores for the apex frame of each clip."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data import ClipSet
from ..data.clips import to_unit_range
from ..devices import autocast


@torch.no_grad()
def predict(discriminator: nn.Module, clips: ClipSet, *, batch_size: int = 64, precision: str = "fp32") -> np.ndarray:
    """Class scores [N, Nc] (capsule lengths or logits) for the apex frames, in eval mode."""
    device = next(discriminator.parameters()).device
    was = discriminator.training
    discriminator.eval()
    scores = []
    try:
        for start in range(0, len(clips), batch_size):
            x = to_unit_range(clips.apex[start : start + batch_size, 0]).to(device)
            with autocast(device, precision):
                scores.append(discriminator(x).cls.float().cpu())
    finally:
        discriminator.train(was)
    return torch.cat(scores).numpy() if scores else np.zeros((0, 3), dtype=np.float32)
