"""LBP-TOP (Zhao and Pietikainen 2007): the ``lbp_top`` input, the MEGC2019 baseline's features, in numpy.

The clip's onset..offset sequence is interpolated to ``frames`` frames
(linearly in time, the first and last frames kept: a simple stand-in for the
graph-embedding temporal interpolation model the MEGC2019 baseline used).
Sampling and interpolation are exact integer arithmetic, so a neighbour equal
to its centre is always a 1 (floating point would break such ties either way).
Every voxel at least a radius from the volume's borders gets a local binary
pattern on each of the three orthogonal planes through it: XY (a frame: rows y,
columns x), XT (rows t, columns x) and YT (rows t, columns y). Its ``points``
neighbours lie on an ellipse of the plane's two radii, at angles
``2 pi p / points`` (p = 0 to the right along the columns, then counter-clockwise),
sampled bilinearly, as scikit-image's ``local_binary_pattern`` samples them;
a neighbour at least as bright as the centre is a 1. The patterns map to
non-rotation-invariant uniform codes (scikit-image's ``nri_uniform``):
``points (points - 1) + 3`` bins, 59 for 8 points. The voxels are split into
``blocks x blocks`` blocks in x and y; each block and plane gives one histogram,
normalised to sum 1. The features are ordered (plane XY, XT, YT; block row;
block column; code): 3 x 64 x 59 = 11,328 for the defaults.

This is a common configuration (10 frames, radii 3/3/3, 8 neighbours, uniform
codes, 8x8 blocks): the MEGC2019 baseline's exact settings are not public.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import numpy as np

from ..errors import IcezooError
from .base import Input, sequence_digest

PLANES: tuple[str, ...] = ("XY", "XT", "YT")
"""The three orthogonal planes, in the order of the features."""


def bins(points: int) -> int:
    """Codes of the non-rotation-invariant uniform patterns of ``points`` neighbours (59 for 8)."""
    return points * (points - 1) + 3


@functools.cache
def uniform_codes(points: int) -> np.ndarray:
    """The code of every ``points``-bit pattern (bit p = neighbour p), as scikit-image's ``nri_uniform`` numbers them.

    0: no neighbour brighter; ``P (P - 1) + 1``: all; a pattern whose ones form one
    circular run of n (1 <= n < P) starting at neighbour s: ``1 + (n - 1) P + (P - s) mod P``;
    any other pattern (more than two 0/1 changes around the circle): ``P (P - 1) + 2``.
    """
    p = points
    table = np.full(1 << p, p * (p - 1) + 2, dtype=np.int64)
    for pattern in range(1 << p):
        bits = [(pattern >> i) & 1 for i in range(p)]
        ones = sum(bits)
        if ones == 0:
            table[pattern] = 0
        elif ones == p:
            table[pattern] = p * (p - 1) + 1
        else:
            starts = [i for i in range(p) if bits[i] and not bits[i - 1]]  # a one after a zero, circularly
            if len(starts) == 1:
                table[pattern] = 1 + (ones - 1) * p + (p - starts[0]) % p
    return table


WEIGHT_SCALE = 100_000
"""Neighbour offsets are rounded to 5 decimals (as scikit-image rounds them), so bilinear weights are integers / 1e5."""


def neighbours(points: int, radius_rows: float, radius_cols: float) -> list[tuple[float, float]]:
    """(row, column) offsets of the neighbours, rounded to 5 decimals as scikit-image rounds them."""
    angles = 2 * np.pi * np.arange(points) / points
    rows = np.round(-radius_rows * np.sin(angles), 5)
    cols = np.round(radius_cols * np.cos(angles), 5)
    return [(float(r), float(c)) for r, c in zip(rows, cols, strict=True)]


def lbp_codes(images: np.ndarray, points: int = 8, radius_rows: float = 3, radius_cols: float = 3) -> np.ndarray:
    """Uniform LBP codes over the last two axes of integer ``images`` ``[..., R, C]``, for the positions at least a
    radius (rounded up) from the borders: ``[..., R - 2 mr, C - 2 mc]`` int64.

    The bilinear samples are computed exactly, in integers scaled by :data:`WEIGHT_SCALE` squared, so a
    neighbour that equals its centre (a flat patch, a symmetric one) is always a 1, whatever the rounding.
    """
    if not np.issubdtype(images.dtype, np.integer):
        raise TypeError(f"lbp_codes computes exactly on integer images, got {images.dtype}")
    mr, mc = math.ceil(radius_rows), math.ceil(radius_cols)
    rows, cols = images.shape[-2:]
    if rows <= 2 * mr or cols <= 2 * mc:
        raise ValueError(f"{rows}x{cols} images have no position {mr}x{mc} from the borders")
    x = images.astype(np.int64, copy=False)
    if x.size and int(np.abs(x).max()) > (1 << 62) // WEIGHT_SCALE**2:
        raise ValueError("image values too large for exact LBP sampling")
    one = WEIGHT_SCALE

    def shifted(dr: int, dc: int) -> np.ndarray:
        return x[..., mr + dr : rows - mr + dr, mc + dc : cols - mc + dc]

    centre = shifted(0, 0) * one * one
    pattern = np.zeros(centre.shape, dtype=np.int64)
    for p, (dr, dc) in enumerate(neighbours(points, radius_rows, radius_cols)):
        r0, c0 = math.floor(dr), math.floor(dc)
        wr, wc = round((dr - r0) * one), round((dc - c0) * one)  # exact: the offsets have 5 decimals

        def across(r: int, c0: int = c0, wc: int = wc) -> np.ndarray:  # a row of the 2x2 cell, along the columns
            left = shifted(r, c0)
            return left * one if wc == 0 else (one - wc) * left + wc * shifted(r, c0 + 1)

        value = across(r0) * one if wr == 0 else (one - wr) * across(r0) + wr * across(r0 + 1)
        pattern |= (value >= centre).astype(np.int64) << p
    return uniform_codes(points)[pattern]


def temporal_interpolation(sequence: np.ndarray, frames: int) -> np.ndarray:
    """``[T, S, S]`` uint8 -> ``[frames, S, S]`` linear in time (first and last kept), exact: int64 scaled by
    ``frames - 1`` (frame i lies at ``i (T - 1) / (frames - 1)``; LBP compares, so the scale does not matter)."""
    sequence = np.asarray(sequence, dtype=np.int64)
    steps = frames - 1
    position = np.arange(frames) * (len(sequence) - 1)
    lo, m = position // steps, position % steps
    hi = np.minimum(lo + 1, len(sequence) - 1)
    return (steps - m)[:, None, None] * sequence[lo] + m[:, None, None] * sequence[hi]


def lbp_top(
    volume: np.ndarray, points: int = 8, radii: tuple[int, int, int] = (3, 3, 3), blocks: int = 8
) -> np.ndarray:
    """LBP-TOP histograms of a ``[T, H, W]`` volume; ``radii`` (x, y, t); float32 ``[3 * blocks^2 * bins]``."""
    rx, ry, rt = radii
    t, h, w = volume.shape
    if t <= 2 * rt or h <= 2 * ry or w <= 2 * rx:
        raise ValueError(f"a {t}x{h}x{w} volume has no voxel radii (x {rx}, y {ry}, t {rt}) from its borders")
    xy = lbp_codes(volume, points, ry, rx)[rt : t - rt]  # [t, y, x]
    xt = lbp_codes(volume.transpose(1, 0, 2), points, rt, rx)[ry : h - ry].transpose(1, 0, 2)  # [y, t, x] -> [t, y, x]
    yt = lbp_codes(volume.transpose(2, 0, 1), points, rt, ry)[rx : w - rx].transpose(1, 2, 0)  # [x, t, y] -> [t, y, x]
    n = bins(points)
    _, hi, wi = xy.shape
    block = ((np.arange(hi) * blocks) // hi)[:, None] * blocks + ((np.arange(wi) * blocks) // wi)[None, :]
    per_block = np.bincount(block.ravel(), minlength=blocks * blocks) * xy.shape[0]
    out = []
    for codes in (xy, xt, yt):
        index = (block[None] * n + codes).ravel()
        hist = np.bincount(index, minlength=blocks * blocks * n).reshape(blocks * blocks, n)
        out.append(hist / per_block[:, None])
    return np.concatenate(out, axis=None).astype(np.float32)


class LBPTop(Input):
    """LBP-TOP histograms of the onset..offset sequence: 59 x 3 x 64 = 11,328 features with the defaults.

    The sequence is interpolated to ``frames`` frames; LBP on the XY, XT and YT
    planes with radii 3/3/3 and 8 neighbours, non-rotation-invariant uniform
    codes (59 bins), 8x8 blocks, each histogram normalised to sum 1 (see
    :mod:`icezoo.inputs.lbp_top`). A common configuration: the MEGC2019
    baseline's exact settings are not public.

    Args:
        frames: frames the sequence is interpolated to (temporal interpolation).
        points: neighbours on each plane's circle.
        radius_x: radius along x (XY and XT planes), pixels.
        radius_y: radius along y (XY and YT planes), pixels.
        radius_t: radius along t (XT and YT planes), frames.
        blocks: blocks per side in x and y (blocks x blocks histograms per plane).
    """

    name: ClassVar[str] = "lbp_top"
    reads: ClassVar[tuple[str, ...]] = ("sequence",)
    spatial: ClassVar[bool] = False  # histograms: nothing a training view could move

    def __init__(
        self,
        frames: int = 10,
        points: int = 8,
        radius_x: int = 3,
        radius_y: int = 3,
        radius_t: int = 3,
        blocks: int = 8,
    ) -> None:
        if not 4 <= points <= 16:
            raise IcezooError(f"input '{self.name}': points must be 4 to 16, got {points}")
        for key, value in (("radius_x", radius_x), ("radius_y", radius_y), ("radius_t", radius_t), ("blocks", blocks)):
            if value < 1:
                raise IcezooError(f"input '{self.name}': {key} must be at least 1, got {value}")
        if frames <= 2 * radius_t:
            raise IcezooError(f"input '{self.name}': frames ({frames}) must exceed 2 x radius_t ({2 * radius_t})")
        self.params = dict(frames=frames, points=points, radius_x=radius_x, radius_y=radius_y, radius_t=radius_t,
                           blocks=blocks)  # fmt: skip
        self.frame_count, self.points, self.blocks = frames, points, blocks
        self.radii = (radius_x, radius_y, radius_t)

    def shape(self, image_size: int) -> tuple[int, ...]:
        return (len(PLANES) * self.blocks**2 * bins(self.points),)

    def frames(self, clips, i: int) -> list[np.ndarray]:
        return [clips.clip_frames(i).sequence()]

    def digests(self, clips, i: int) -> list[str]:
        return [sequence_digest(clips.clip_frames(i))]

    def compute(self, frames: list[np.ndarray]) -> np.ndarray:
        volume = temporal_interpolation(frames[0], self.frame_count)
        side = min(volume.shape[1:])
        if side <= 2 * max(self.radii[:2]) + self.blocks - 1:
            raise IcezooError(f"input '{self.name}': {side}x{side} faces are too small for {self.blocks}x{self.blocks} "
                              f"blocks at radii {self.radii[0]}/{self.radii[1]}")  # fmt: skip
        return lbp_top(volume, self.points, self.radii, self.blocks)


__all__ = [
    "PLANES",
    "WEIGHT_SCALE",
    "LBPTop",
    "bins",
    "lbp_codes",
    "lbp_top",
    "neighbours",
    "temporal_interpolation",
    "uniform_codes",
]
