"""Sequences: each synthetic clip's whole time course, onset -> apex -> offset, rendered on demand.

A clip's frames are numbered 0 (the onset) to its offset. The intensity rises
from 0 at the onset to 1 at the apex and falls back to 0 at the offset. The
frames within :data:`NEAR` of the apex are exactly the clip's apex neighbours
(same intensity, same noise), the frames further out follow a smooth
``cos^2`` fall from there to 0, and the onset and offset frames are the neutral
face. Frame ``apex + d`` takes the noise stream of the neighbour ``d``, the
onset frame the onset's, so the onset, the apex and the neighbours of the set
are frames of the sequence, byte for byte.

Each subject's clips are rendered in one batch, as :func:`.assembly.generate`
renders them (the batch decides how far a moving feature's box reaches), and
the last subject rendered is kept, so reading clips in order renders each
subject once. Nothing is rendered until a frame is asked for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ...errors import IcezooError
from ..clips import DATASETS, ClipFrames, ClipSet
from .assembly import COUNTS, _add_noise, _draw_clip, _frame_key, _near_scale, _rng, _subject_ids
from .faces import AUS, ClipPose, expression, random_face
from .render import render_faces

NEAR = 2
"""Frames within this many of the apex are the apex neighbours of the default four (intensity 1 - 0.05 |d|)."""

RISE = (4, 8)
"""Frames from the onset to the apex, drawn per clip (inclusive range)."""

FALL = (4, 10)
"""Frames from the apex to the offset, drawn per clip (inclusive range)."""


def timing(seed: int, dataset: int, clips: int) -> np.ndarray:
    """``[clips, 2]`` (apex, offset) frame numbers of one dataset's clips in generation order (their own stream)."""
    rng = _rng(seed, 5, dataset)
    rise = rng.integers(RISE[0], RISE[1] + 1, size=clips)
    fall = rng.integers(FALL[0], FALL[1] + 1, size=clips)
    return np.stack([rise, rise + fall], axis=1)


def intensities(seed: int, d: int, s: int, k: int, apex: int, offset: int) -> list[float]:
    """The expression's intensity at each frame 0..offset, relative to the apex's: 0 at both ends, 1 at the apex."""
    near = {o: _near_scale(seed, d, s, k, o) for o in range(-NEAR, NEAR + 1)}
    out = []
    for t in range(offset + 1):
        o = t - apex
        if t in (0, offset):
            out.append(0.0)
        elif abs(o) <= NEAR:
            out.append(near[o])
        else:
            span = apex - NEAR if o < 0 else offset - apex - NEAR
            out.append(near[NEAR if o > 0 else -NEAR] * np.cos(0.5 * np.pi * (abs(o) - NEAR) / span) ** 2)
    return out


class SyntheticSequences:
    """Renders the sequences of one synthetic set (its image size, seed and motion), one subject at a time."""

    def __init__(self, image_size: int, seed: int, motion: float) -> None:
        self.image_size, self.seed, self.motion = image_size, seed, motion
        self._last: tuple[tuple[int, int], list[np.ndarray]] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last": None}  # a pickled copy (a worker process) renders afresh

    def subject(self, d: int, s: int, labels: Sequence[int], times: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """The subject's clips' sequences, ``[offset + 1, S, S]`` uint8 each."""
        if self._last is not None and self._last[0] == (d, s):
            return self._last[1]
        seed = self.seed
        length = max(offset for _, offset in times) + 1
        poses, exprs, keys = [], np.zeros((len(labels), length, len(AUS))), []
        for k, (label, (apex, offset)) in enumerate(zip(labels, times, strict=True)):
            pose, amount, jitter = _draw_clip(seed, d, s, k)
            poses.append(pose)
            for t, scale in enumerate(intensities(seed, d, s, k, apex, offset)):
                if t not in (0, offset):
                    exprs[k, t] = expression(label, self.motion * amount * max(scale, 0.0), jitter)
            keys.append([0] + [_frame_key(t - apex) for t in range(1, offset + 1)])
        img = render_faces(random_face(_rng(seed, 1, d, s)), ClipPose.stack(poses), exprs, self.image_size)
        img = _add_noise(img, seed, d, s, keys)
        clips = [img[k, : offset + 1] for k, (_, offset) in enumerate(times)]
        self._last = ((d, s), clips)
        return clips


@dataclasses.dataclass(frozen=True)
class _Reader:
    """Reads frames of clip ``k`` of subject ``(d, s)`` (a picklable :data:`~icezoo.data.clips.FrameReader`)."""

    source: SyntheticSequences
    d: int
    s: int
    k: int
    labels: tuple[int, ...]
    times: tuple[tuple[int, int], ...]
    name: str

    def __call__(self, numbers: Sequence[int]) -> np.ndarray:
        frames = self.source.subject(self.d, self.s, self.labels, self.times)[self.k]
        bad = [n for n in numbers if not 0 <= n < len(frames)]
        if bad:
            raise IcezooError(f"synthetic clip {self.name}: no frame {bad[0]} (frames 0..{len(frames) - 1})")
        return frames[list(numbers)]


def with_sequences(clips: ClipSet, image_size: int, seed: int, motion: float) -> ClipSet:
    """``clips`` (the synthetic set of these arguments, in generation order) with each clip's sequence attached."""
    source = SyntheticSequences(image_size, seed, motion)
    subject_index = {
        f"{ds}/{sid}": s for ds in DATASETS for s, sid in enumerate(_subject_ids(ds, COUNTS[ds]["subjects"]))
    }
    per_dataset = {ds: clips.dataset.count(ds) for ds in DATASETS}
    times = {ds: timing(seed, d, per_dataset[ds]) for d, ds in enumerate(DATASETS)}
    members: dict[str, list[int]] = {}
    for i, subject in enumerate(clips.subject):
        members.setdefault(subject, []).append(i)
    position = dict.fromkeys(DATASETS, 0)
    frames: list[ClipFrames] = []
    for members_of in members.values():
        ds = clips.dataset[members_of[0]]
        d, s = DATASETS.index(ds), subject_index[clips.subject[members_of[0]]]
        first = position[ds]
        position[ds] += len(members_of)
        subject_times = tuple((int(a), int(o)) for a, o in times[ds][first : first + len(members_of)])
        labels = tuple(int(clips.label[i]) for i in members_of)
        for k, i in enumerate(members_of):
            apex, offset = subject_times[k]
            name = f"{clips.subject[i]}/{clips.clip[i]}"
            frames.append(ClipFrames(0, apex, offset, _Reader(source, d, s, k, labels, subject_times, name)))
    order = [i for members_of in members.values() for i in members_of]
    if order != list(range(len(clips))):
        raise ValueError("synthetic clips must be in generation order, each subject's clips together")
    return dataclasses.replace(clips, frames=frames)
