"""The batches of a run: the clips on the training device, and every random draw of a step.

Every random draw of step k (which clips, which apex neighbour, the noise z,
the classes G is asked for, the augmentation) comes from a generator seeded
by (seed, k), and the clip order of epoch e from one seeded by (seed, e).
Nothing depends on how the run got to step k, so a run resumed from a
checkpoint continues exactly as an uninterrupted one (on the CPU, bit for bit).

The whole dataset lives on the training device as tensors (442 clips of
128x128 are ~170 MB in float32), so a batch is one index operation, with no
loader processes and no host round trip.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..config.schema import TrainConfig
from ..data import ClipSet
from ..data.clips import to_unit_range

Batch = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]  # onset, apex, labels, z, classes G is asked for


def derived_seed(*parts: int) -> int:
    """A seed for one purpose of a run (initial weights, an epoch's order, a step), from the run's seed and tags."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


def translate(frames: Tensor, shift: Tensor) -> Tensor:
    """Shift each sample's frames [B, F, C, S, S] by ``shift`` [B, 2] pixels (x, y), bilinear, edges repeated.

    One shift per sample for all its frames, so an onset and its apex stay aligned.
    """
    b, f, c, s, _ = frames.shape
    theta = torch.zeros(b, 2, 3, device=frames.device, dtype=frames.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = -2 * shift.to(frames.dtype) / s  # normalised coordinates span 2 over S pixels
    grid = torch.nn.functional.affine_grid(theta, (b, f * c, s, s), align_corners=False)
    out = torch.nn.functional.grid_sample(
        frames.reshape(b, f * c, s, s), grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.view(b, f, c, s, s)


class BatchSampler:
    """The global batch of any step: call with the step; the same whichever way the run got there."""

    def __init__(
        self,
        clips: ClipSet,
        cfg: TrainConfig,
        device: torch.device,
        *,
        noise_dim: int,
        num_classes: int,
        random_fake_labels: bool,
    ):
        self.clips, self.cfg, self.device = clips, cfg, device
        self.noise_dim, self.num_classes, self.random_fake_labels = noise_dim, num_classes, random_fake_labels
        self.onset = to_unit_range(clips.onset).to(device)  # [N, 1, S, S]
        self.apex = to_unit_range(clips.apex).to(device)  # [N, K, 1, S, S]
        self.labels = torch.as_tensor(clips.label, dtype=torch.long).to(device)
        self.apex_choices = min(clips.apex.shape[1], 1 + cfg.apex_neighbours)
        self.steps_per_epoch = len(clips) // cfg.batch_size
        self._perm_epoch, self._perm = -1, None

    def _indices(self, step: int) -> Tensor:
        """The clips of ``step``: its slice of its epoch's seeded permutation."""
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self._perm_epoch:
            g = torch.Generator(device=self.device).manual_seed(derived_seed(self.cfg.seed, 0xE0C, epoch))
            self._perm = torch.randperm(len(self.clips), generator=g, device=self.device)
            self._perm_epoch = epoch
        size = self.cfg.batch_size
        return self._perm[position * size : (position + 1) * size]

    def __call__(self, step: int) -> Batch:
        """(onset, apex, labels, z, classes G is asked for) of ``step``."""
        cfg, device = self.cfg, self.device
        idx = self._indices(step)
        b = len(idx)
        # drawn on the device by a generator seeded by the step: no host-to-device copies in the loop
        g = torch.Generator(device=device).manual_seed(derived_seed(cfg.seed, 0x57E, step))
        which = torch.randint(self.apex_choices, (b,), generator=g, device=device)
        z = torch.randn(b, self.noise_dim, generator=g, device=device)
        labels = self.labels[idx]
        if self.random_fake_labels:
            asked = torch.randint(self.num_classes, (b,), generator=g, device=device)
        else:
            asked = labels
        onset, apex = self.onset[idx], self.apex[idx, which]
        if cfg.augment_shift:
            shift = (torch.rand(b, 2, generator=g, device=device) * 2 - 1) * cfg.augment_shift
            onset, apex = translate(torch.stack([onset, apex], 1), shift).unbind(1)
        if cfg.augment_flip:
            flip = (torch.rand(b, generator=g, device=device) < 0.5).view(b, 1, 1, 1)
            onset, apex = torch.where(flip, onset.flip(-1), onset), torch.where(flip, apex.flip(-1), apex)
        return onset, apex, labels, z, asked
