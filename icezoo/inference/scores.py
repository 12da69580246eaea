"""Class scores of faces from a trained discriminator, batch by batch: the one reading of D (predict, eval, test, synthesis metrics)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data import CLASSES, ClipSet
from ..data.clips import to_unit_range
from ..devices import autocast


@torch.no_grad()
def class_scores(
    discriminator: nn.Module, faces: torch.Tensor, *, batch_size: int = 64, precision: str = "fp32"
) -> torch.Tensor:
    """Class scores [N, Nc] (capsule lengths or logits; float32, on the CPU) of faces [N, C, S, S] in [-1, 1].

    D runs in eval mode under ``precision``'s autocast, ``batch_size`` faces at a time on its own device: the one
    way eval's test faces and the synthesis metrics' synthesised faces are read.
    """
    device = next(discriminator.parameters()).device
    was = discriminator.training
    discriminator.eval()
    scores = []
    try:
        for start in range(0, len(faces), batch_size):
            with autocast(device, precision):
                scores.append(discriminator(faces[start : start + batch_size].to(device)).cls.float().cpu())
    finally:
        discriminator.train(was)
    return torch.cat(scores) if scores else torch.zeros((0, len(CLASSES)))


def predict(discriminator: nn.Module, clips: ClipSet, *, batch_size: int = 64, precision: str = "fp32") -> np.ndarray:
    """Class scores [N, Nc] for the clips' apex frames (:func:`class_scores`)."""
    faces = to_unit_range(clips.apex[:, 0])
    return class_scores(discriminator, faces, batch_size=batch_size, precision=precision).numpy()
