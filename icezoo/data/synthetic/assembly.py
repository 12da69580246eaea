"""Assembly: subjects and clips drawn into a :class:`~icezoo.data.clips.ClipSet` of the composite's shape.

Every subject and clip draws from its own generator derived from
``(seed, dataset, subject, clip)``, and every frame's noise and intensity from
its own stream, so equal arguments give byte-identical arrays.
"""

from __future__ import annotations

import numpy as np

from ..clips import CLASSES, DATASETS, ClipSet, neighbour_offsets
from .faces import AUS, ClipPose, expression, random_face
from .render import render_faces

COUNTS: dict[str, dict[str, int]] = {
    "smic": {"subjects": 16, "negative": 70, "positive": 51, "surprise": 43},
    "casme2": {"subjects": 24, "negative": 88, "positive": 32, "surprise": 25},
    "samm": {"subjects": 28, "negative": 92, "positive": 26, "surprise": 15},
}
"""Subjects and clips per class of each source dataset of the MEGC2019 composite (68 subjects, 442 clips)."""
assert tuple(COUNTS) == DATASETS

NEIGHBOUR_STEP = 0.05
"""A neighbour ``d`` frames from the apex shows ``1 - 0.05 |d|`` (+-0.015) of the apex intensity."""

NOISE_STD = 0.8
"""Per-frame sensor noise, gray levels."""


def _rng(seed: int, *key: int) -> np.random.Generator:
    """The generator of one stream, ``key`` = (kind, dataset, subject, clip, frame) as far as it applies."""
    return np.random.default_rng([seed, *key])


def _assign(rng: np.random.Generator, n_subjects: int, class_counts: list[int]) -> list[list[int]]:
    """Split a dataset's labels over its subjects: each gets at least one clip, most two classes, totals uneven."""
    remaining = np.array(class_counts, dtype=np.int64)
    total = int(remaining.sum())
    if total < n_subjects:
        raise ValueError(f"{total} clips cannot cover {n_subjects} subjects")
    clips: list[list[int]] = [[] for _ in range(n_subjects)]

    def take(exclude: int | None = None) -> int:
        p = remaining.astype(np.float64)
        if exclude is not None and p.sum() > p[exclude]:
            p[exclude] = 0.0
        c = int(rng.choice(len(p), p=p / p.sum()))
        remaining[c] -= 1
        return c

    for s in rng.permutation(n_subjects):  # one clip each
        clips[s].append(take())
    for s in rng.permutation(n_subjects):  # a second, of another class, where the counts allow
        if remaining.sum() == 0:
            break
        clips[s].append(take(exclude=clips[s][0]))
    weights = rng.dirichlet(np.full(n_subjects, 1.5))  # the rest, unevenly
    rest = np.repeat(np.arange(len(remaining)), remaining)
    for c in rng.permutation(rest):
        clips[int(rng.choice(n_subjects, p=weights))].append(int(c))
    return [list(rng.permutation(c)) for c in clips]


def _subject_ids(dataset: str, n: int) -> list[str]:
    if dataset == "smic":
        return [f"s{i + 1:02d}" for i in range(n)]
    if dataset == "casme2":
        return [f"sub{i + 1:02d}" for i in range(n)]
    if dataset == "samm":
        return [f"{i + 6:03d}" for i in range(n)]
    return [f"{i + 1:02d}" for i in range(n)]


def _clip_id(dataset: str, subject: str, k: int, label: int) -> str:
    if dataset == "smic":
        return f"{subject}_{CLASSES[label][:2]}_{k + 1:02d}"
    if dataset == "casme2":
        return f"EP{k + 1:02d}_01"
    return f"{subject}_{k + 1}"


def _frame_key(offset: int) -> int:
    """A frame's own stream key (the onset is 0): a frame's draws do not depend on how many neighbours there are."""
    return 1 + 2 * abs(offset) - (offset < 0)


def _draw_clip(seed: int, d: int, s: int, k: int) -> tuple[ClipPose, float, dict[str, float]]:
    """A clip's pose, expression intensity and per-AU jitter (its own stream: the whole sequence shares them)."""
    rng = _rng(seed, 2, d, s, k)
    pose = ClipPose.draw(rng)
    amount = rng.uniform(0.6, 1.0)
    jitter = {au: rng.uniform(0.8, 1.2) for au in AUS}
    return pose, amount, jitter


def _near_scale(seed: int, d: int, s: int, k: int, offset: int) -> float:
    """The intensity, relative to the apex's, of the frame ``offset`` frames from the apex (an apex neighbour)."""
    if offset == 0:
        return 1.0
    return 1.0 - NEIGHBOUR_STEP * abs(offset) + _rng(seed, 4, d, s, k, _frame_key(offset)).uniform(-0.015, 0.015)


def _add_noise(img: np.ndarray, seed: int, d: int, s: int, keys: list[list[int]]) -> np.ndarray:
    """Each frame's own sensor noise (``keys[k][j]``: the stream of clip k's frame j), quantised to uint8."""
    for k, clip_keys in enumerate(keys):
        for j, key in enumerate(clip_keys):
            noise = _rng(seed, 3, d, s, k, key).standard_normal(img.shape[2:], dtype=np.float32)
            img[k, j] += NOISE_STD * noise
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def layout(seed: int):
    """Every subject in generation order: (dataset index, dataset, subject index, subject id, its clips' labels)."""
    for d, (dataset, counts) in enumerate(COUNTS.items()):
        assignment = _assign(_rng(seed, 0, d), counts["subjects"], [counts[c] for c in CLASSES])
        for s, (sid, clip_labels) in enumerate(zip(_subject_ids(dataset, counts["subjects"]), assignment, strict=True)):
            yield d, dataset, s, sid, [int(label) for label in clip_labels]


def generate(image_size: int, seed: int, neighbours: int, motion: float) -> ClipSet:
    """Draw the whole set afresh: every dataset's subjects, their clips, rendered with noise and quantised to uint8."""
    offsets = neighbour_offsets(neighbours)
    frames = 2 + len(offsets)  # onset, apex, neighbours
    onsets, apexes, labels, subjects, datasets, clip_ids = [], [], [], [], [], []
    for d, dataset, s, sid, clip_labels in layout(seed):
        face = random_face(_rng(seed, 1, d, s))
        poses, exprs = [], np.zeros((len(clip_labels), frames, len(AUS)))
        for k, label in enumerate(clip_labels):
            pose, amount, jitter = _draw_clip(seed, d, s, k)
            poses.append(pose)
            scale = [1.0] + [_near_scale(seed, d, s, k, o) for o in offsets]
            for j, sc in enumerate(scale):
                exprs[k, 1 + j] = expression(label, motion * amount * max(sc, 0.0), jitter)
            labels.append(label)
            subjects.append(f"{dataset}/{sid}")
            datasets.append(dataset)
            clip_ids.append(_clip_id(dataset, sid, k, label))
        img = render_faces(face, ClipPose.stack(poses), exprs, image_size)
        keys = [0, _frame_key(0)] + [_frame_key(o) for o in offsets]  # onset, apex, neighbours
        img = _add_noise(img, seed, d, s, [keys] * len(clip_labels))
        onsets.append(img[:, 0])
        apexes.append(img[:, 1:])
    return ClipSet(
        onset=np.concatenate(onsets),
        apex=np.concatenate(apexes),
        label=np.asarray(labels, dtype=np.int64),
        subject=subjects,
        dataset=datasets,
        clip=clip_ids,
    )
