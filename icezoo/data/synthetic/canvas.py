"""The pixel grid and the anti-aliased primitives every painter draws with.

Shapes are implicit (soft ellipses, soft-edged bands, gaussian strokes)
evaluated on the pixel grid in float32, so sub-pixel motion changes the image.
"""

from __future__ import annotations

import numpy as np


def ramp(d: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased step: 0 for d << 0, 1 for d >> 0, linear over ``width``."""
    return np.clip(d * np.float32(1.0 / width) + np.float32(0.5), 0.0, 1.0)


def gauss(d: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    """Gaussian profile of the distance ``d`` (1 at 0): strokes and soft spots."""
    return np.exp(np.float32(-0.5) * np.square(d / sigma))


def f32(x) -> np.ndarray:
    """``x`` as float32: every image array stays in single precision."""
    return np.asarray(x, dtype=np.float32)


class Canvas:
    """The pixel grid of C clips x T frames, with face-centred coordinates per clip."""

    def __init__(self, size: int, ox: np.ndarray, oy: np.ndarray, frames: int):
        self.size = size
        self.px = 2.0 / size
        self.grid = f32((np.arange(size) + 0.5) * self.px - 1.0)
        self.ox = f32(ox)
        self.oy = f32(oy)
        self.frames = frames

    def _span(self, lo: float, hi: float, origin: np.ndarray) -> slice:
        a = float(origin.min()) + lo
        b = float(origin.max()) + hi
        i0 = int(np.floor((a + 1.0) / self.px - 0.5))
        i1 = int(np.ceil((b + 1.0) / self.px - 0.5)) + 1
        return slice(max(0, i0), min(self.size, i1))

    def region(self, u0: float, u1: float, v0: float, v1: float):
        """Pixels covering face box ``[u0,u1] x [v0,v1]`` in every clip, or None.

        Returns (rows, cols, u [C,1,1,w], v [C,1,h,1]): the slices and the face-centred coordinates there.
        """
        rows = self._span(v0, v1, self.oy)
        cols = self._span(u0, u1, self.ox)
        if rows.stop <= rows.start or cols.stop <= cols.start:
            return None
        u = self.grid[cols][None, None, None, :] - self.ox[:, None, None, None]
        v = self.grid[rows][None, None, :, None] - self.oy[:, None, None, None]
        return rows, cols, u, v


def segment_distance(u, v, x0, y0, x1, y1):
    """Distance to the segment (x0,y0)-(x1,y1) and the position along it (0..1)."""
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((u - x0) * dx + (v - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(u - (x0 + t * dx), v - (y0 + t * dy)), t
