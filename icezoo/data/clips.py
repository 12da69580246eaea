"""Clips in memory: the one representation every dataset produces and every protocol consumes.

A dataset component (kind ``dataset``) is a factory returning a :class:`ClipSet`:
for each clip its onset frame, its apex frame and the frames around the apex
(128x128 grayscale, uint8; nearest neighbours first), its label, subject,
source dataset and clip id. The trainer holds a ClipSet on the device as
tensors, so no ``torch.utils.data`` loader is involved.

The whole sequence from onset to offset (LBP-TOP reads it, Dual-Inception the
middle frame) is not held: ``ClipSet.frames`` gives each clip a
:class:`ClipFrames`, its frame numbers and a reader that decodes (or renders)
frames only when asked, so a recipe that reads the onset and apex costs what it
did before sequences existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..errors import IcezooError

CLASSES: tuple[str, ...] = ("positive", "negative", "surprise")
"""The three MEGC2019 composite classes; a label is an index into this tuple."""

DATASETS: tuple[str, ...] = ("smic", "casme2", "samm")
"""The composite's source datasets (SMIC-HS, CASME II, SAMM)."""


def neighbour_offsets(neighbours: int) -> list[int]:
    """Frame offsets of the apex's neighbours, nearest first: 4 -> [-1, 1, -2, 2].

    ``apex[:, 1:1 + k]`` of a ClipSet are then always the k nearest frames.
    """
    return [sign * (i // 2 + 1) for i, sign in zip(range(neighbours), [-1, 1] * neighbours)]


FrameReader = Callable[[Sequence[int]], np.ndarray]
"""Reads frames of one clip by frame number: ``read([n1, n2, ...])`` -> ``[len, S, S]`` uint8."""


@dataclasses.dataclass(frozen=True, eq=False)
class ClipFrames:
    """One clip's sequence, onset to offset (frame numbers, inclusive), read on demand through ``read``.

    The frame numbers are the dataset's own (a release's numbering for a
    manifest, 0..offset for the synthetic clips); the sequence is every number
    from ``onset`` to ``offset``. ``read`` raises an IcezooError naming a frame
    it cannot give (a manifest folder prepared before sequences were saved).
    Compared and hashed by identity: subsets of a ClipSet share their clips' objects.
    """

    onset: int
    apex: int
    offset: int
    read: FrameReader

    def __post_init__(self) -> None:
        if not self.onset <= self.offset:
            raise ValueError(f"a clip's offset ({self.offset}) cannot come before its onset ({self.onset})")

    @property
    def numbers(self) -> range:
        """The frame numbers of the sequence, onset to offset."""
        return range(self.onset, self.offset + 1)

    @property
    def middle(self) -> int:
        """The middle frame's number, ``(onset + offset) // 2`` (Dual-Inception's flow target)."""
        return (self.onset + self.offset) // 2

    def sequence(self) -> np.ndarray:
        """Every frame from onset to offset, ``[T, S, S]`` uint8."""
        return self.read(self.numbers)

    def frame(self, number: int) -> np.ndarray:
        """One frame, ``[S, S]`` uint8."""
        return self.read([number])[0]


@dataclasses.dataclass
class ClipSet:
    """N clips. ``apex[:, 0]`` is the apex frame, ``apex[:, 1:]`` its neighbours.

    ``frames`` (optional) gives each clip's whole sequence, read lazily (:class:`ClipFrames`).
    """

    onset: np.ndarray  # [N, S, S] uint8
    apex: np.ndarray  # [N, K, S, S] uint8, K >= 1: the apex, then its neighbours nearest first
    label: np.ndarray  # [N] int64, index into CLASSES
    subject: list[str]  # [N] subject ids, unique across datasets ("casme2/sub01")
    dataset: list[str]  # [N] one of DATASETS (or another source name)
    clip: list[str]  # [N] clip ids, unique within a subject
    frames: list[ClipFrames] | None = None  # [N] each clip's onset..offset sequence, read on demand; None: not known

    def __post_init__(self) -> None:
        n = len(self.label)
        if self.onset.ndim != 3 or self.apex.ndim != 4:
            raise ValueError(f"onset must be [N,S,S] and apex [N,K,S,S], got {self.onset.shape} and {self.apex.shape}")
        if not (
            self.onset.shape[0] == self.apex.shape[0] == len(self.subject) == len(self.dataset) == len(self.clip) == n
        ):
            raise ValueError("every field of a ClipSet must have one entry per clip")
        if self.frames is not None and len(self.frames) != n:
            raise ValueError(f"frames must have one entry per clip ({n}), got {len(self.frames)}")

    def __len__(self) -> int:
        return len(self.label)

    @property
    def image_size(self) -> int:
        return int(self.onset.shape[-1])

    def subset(self, indices: Sequence[int] | np.ndarray) -> ClipSet:
        idx = np.asarray(indices, dtype=np.int64)
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        frames = None if self.frames is None else pick(self.frames)
        return ClipSet(
            self.onset[idx], self.apex[idx], self.label[idx], pick(self.subject), pick(self.dataset), pick(self.clip),
            frames,
        )  # fmt: skip

    def clip_frames(self, i: int) -> ClipFrames:
        """Clip ``i``'s sequence; a set without sequences is one error naming the clip."""
        if self.frames is None:
            raise IcezooError(
                f"clip {self.subject[i]}/{self.clip[i]}: its dataset gives onset and apex frames only, no sequence"
            )
        return self.frames[i]

    def subjects(self) -> list[str]:
        """Subject ids, sorted."""
        return sorted(set(self.subject))

    def indices_of(self, subjects: Sequence[str]) -> np.ndarray:
        """Indices of the clips of the given subjects."""
        wanted = set(subjects)
        return np.array([i for i, s in enumerate(self.subject) if s in wanted], dtype=np.int64)

    def class_counts(self, dataset: str | None = None) -> dict[str, int]:
        keep = [i for i, d in enumerate(self.dataset) if dataset is None or d == dataset]
        counts = np.bincount(self.label[keep], minlength=len(CLASSES))
        return {name: int(c) for name, c in zip(CLASSES, counts)}


def check_fits(clips: ClipSet, image_size: int, in_channels: int, num_classes: int, source: str) -> None:
    """Refuse a model whose input or output shape is not the data's (one line naming ``source``), before step 1.

    Clips are grayscale (one channel) with labels indexing :data:`CLASSES`; a
    3-channel model would fail in its first convolution, a 5-class one would train and mislead.
    """
    data = {"image_size": clips.image_size, "in_channels": 1, "num_classes": len(CLASSES)}
    model = {"image_size": image_size, "in_channels": in_channels, "num_classes": num_classes}
    for key, value in data.items():
        if model[key] != value:
            raise IcezooError(f"{source}: model.{key} is {model[key]}, the data has {value} (faces {clips.image_size}x"
                              f"{clips.image_size}, 1 channel, {len(CLASSES)} classes)")  # fmt: skip


def to_unit_range(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames -> float32 tensor in [-1, 1] with a channel axis ([..., S, S] -> [..., 1, S, S])."""
    return torch.from_numpy(frames).float().div_(127.5).sub_(1.0).unsqueeze(-3)
