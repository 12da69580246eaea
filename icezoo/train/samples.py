"""The pictures of a run: onset / synthesised / apex faces of a few clips per class, as a PNG grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import CLASSES
from ..devices import autocast
from ..models import GAN
from ..nn.layers import one_hot
from .batches import BatchSampler


@torch.no_grad()
def sample_grid(
    model: GAN,
    data: BatchSampler,
    path: Path,
    *,
    seed: int,
    precision: str,
    title: str,
    per_class: int = 2,
    generator: torch.nn.Module | None = None,
) -> Path | None:
    """onset / synthesised / apex for ``per_class`` clips of every class, written to ``path``; None for model A.

    The same clips and noise (from ``seed``) every time, so the grids of one run show its progress. ``generator``
    (the averaged one of ``train.ema_decay``) draws the faces in place of the model's own, and the title says so.
    """
    if model.generator is None:
        return None
    from ..plots import image_grid

    clips, device = data.clips, data.device
    picks = [i for c in range(len(CLASSES)) for i in np.flatnonzero(clips.label == c)[:per_class]]
    idx = torch.as_tensor(picks, device=device)
    labels = data.labels[idx]
    z = torch.randn(len(picks), model.noise_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    gen = generator if generator is not None else model.generator
    was = gen.training
    gen.eval()
    try:
        with autocast(device, precision):
            fake = gen(data.onset[idx] if model.uses_onset else None, z, one_hot(labels, model.num_classes, z.dtype))
    finally:
        gen.train(was)
    rows = [[data.onset[i], fake[n], data.apex[i, 0]] for n, i in enumerate(idx)]
    names = [f"{CLASSES[int(label)]} ({clips.subject[int(i)]})" for label, i in zip(labels, idx)]
    title += " (EMA)" if generator is not None else ""
    return image_grid(rows, path, names, ["onset", "synthesised", "apex"], title=title)
