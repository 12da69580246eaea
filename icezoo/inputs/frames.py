"""The ``apex`` input: the apex face itself, as the trainer feeds faces."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from PIL import Image

from ..data.clips import to_unit_range
from ..data.megc2019 import RESAMPLE
from ..errors import IcezooError
from .base import Input


class Apex(Input):
    """The apex face, ``[1, S, S]`` in [-1, 1] (uint8 / 127.5 - 1, as the trainer scales faces).

    ``size`` resizes it (Lanczos, as every face crop; CapsuleNet reads 224x224
    crops of a 234x240 resize, which is its own augmentation); None keeps the
    data's image size. Cheap, so nothing is cached.

    Args:
        size: side the apex face is resized to (None: the data's image size).
    """

    name: ClassVar[str] = "apex"
    reads: ClassVar[tuple[str, ...]] = ("apex",)
    cached: ClassVar[bool] = False

    def __init__(self, size: int | None = None) -> None:
        if size is not None and size < 1:
            raise IcezooError(f"input '{self.name}': size must be at least 1, got {size}")
        self.size = size
        self.params = {"size": size}

    def shape(self, image_size: int) -> tuple[int, ...]:
        side = self.size or image_size
        return (1, side, side)

    def frames(self, clips, i: int) -> list[np.ndarray]:
        return [clips.apex[i, 0]]

    def compute(self, frames: list[np.ndarray]) -> np.ndarray:
        face = frames[0]
        if self.size is not None and face.shape != (self.size, self.size):
            face = np.asarray(Image.fromarray(face).resize((self.size, self.size), RESAMPLE), dtype=np.uint8)
        return to_unit_range(np.array(face)).numpy()  # a copy: torch wants a writable array


__all__ = ["Apex"]
