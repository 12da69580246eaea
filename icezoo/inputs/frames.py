"""The ``apex`` input: the apex face itself, as the trainer feeds faces (or as CapsuleNet's torchvision read them)."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from PIL import Image

from ..data.clips import to_unit_range
from ..data.megc2019 import RESAMPLE
from ..errors import IcezooError
from .base import Input

SCALES = {"signed": (-1.0, 1.0), "unit": (0.0, 1.0)}
"""Value ranges of a face: ``signed`` as icezoo's trainer scales faces (uint8 / 127.5 - 1), ``unit`` as
torchvision's ``ToTensor`` (uint8 / 255; CapsuleNet's original)."""
RESAMPLING = {"lanczos": RESAMPLE, "bilinear": Image.BILINEAR}
"""How a face is resized: Lanczos as icezoo crops faces, or bilinear as torchvision's ``Resize`` on a PIL image."""


class Apex(Input):
    """The apex face, ``[1, H, W]``: in [-1, 1] as the trainer scales faces, or [0, 1] (``scale: unit``).

    ``size`` resizes it (Lanczos, as every face crop, or bilinear as torchvision's ``Resize``): a side, or
    (height, width); None keeps the data's image size. ``crop`` is the side the recogniser reads: the centre crop, and in training a random one
    (:class:`icezoo.recognition.augment.TrainingViews`). CapsuleNet's original resizes to 234x240 and crops 224
    (``size: [234, 240], crop: 224, resample: bilinear``). Cheap, so nothing is cached.

    Args:
        size: side, or (height, width), the apex face is resized to (None: the data's image size).
        crop: side of the square the recogniser reads, cut from the resized face (None: all of it).
        scale: ``signed`` ([-1, 1], icezoo's faces) or ``unit`` ([0, 1], torchvision's ``ToTensor``).
        resample: ``lanczos`` (icezoo's face crops) or ``bilinear`` (torchvision's ``Resize`` of a PIL image).
    """

    name: ClassVar[str] = "apex"
    reads: ClassVar[tuple[str, ...]] = ("apex",)
    cached: ClassVar[bool] = False

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        crop: int | None = None,
        scale: Literal["signed", "unit"] = "signed",
        resample: Literal["lanczos", "bilinear"] = "lanczos",
    ) -> None:
        sides = (size, size) if isinstance(size, int) else size
        if sides is not None and min(sides) < 1:
            raise IcezooError(f"input '{self.name}': size must be at least 1, got {size}")
        if crop is not None and (crop < 1 or (sides is not None and crop > min(sides))):
            raise IcezooError(f"input '{self.name}': crop must lie in 1..{min(sides) if sides else 'size'}, got {crop}")
        if resample not in RESAMPLING:
            raise IcezooError(f"input '{self.name}': resample must be one of {sorted(RESAMPLING)}, got {resample!r}")
        if scale not in SCALES:
            raise IcezooError(f"input '{self.name}': scale must be one of {sorted(SCALES)}, got {scale!r}")
        self.sides = None if sides is None else (int(sides[0]), int(sides[1]))
        self.crop, self.scale, self.resample = crop, scale, resample
        self.value_range = SCALES[scale]
        self.fill = self.value_range[0]  # black
        self.params = {"size": size if isinstance(size, int) or size is None else list(self.sides)}
        defaults = {"crop": None, "scale": "signed", "resample": "lanczos"}
        self.params.update({k: v for k, v in (("crop", crop), ("scale", scale), ("resample", resample))
                            if v != defaults[k]})  # fmt: skip

    def stored_shape(self, image_size: int) -> tuple[int, ...]:
        return (1, *(self.sides or (image_size, image_size)))

    def shape(self, image_size: int) -> tuple[int, ...]:
        stored = self.stored_shape(image_size)
        if self.crop is not None and self.crop > min(stored[1:]):
            raise IcezooError(f"input '{self.name}': crop {self.crop} is larger than the {stored[1]}x{stored[2]} face")
        return stored if self.crop is None else (1, self.crop, self.crop)

    def frames(self, clips, i: int) -> list[np.ndarray]:
        return [clips.apex[i, 0]]

    def compute(self, frames: list[np.ndarray]) -> np.ndarray:
        face = frames[0]
        if self.sides is not None and face.shape != self.sides:
            resized = Image.fromarray(face).resize(self.sides[::-1], RESAMPLING[self.resample])
            face = np.asarray(resized, dtype=np.uint8)
        if self.scale == "unit":
            return (np.asarray(face, dtype=np.float32) / 255.0)[None]
        return to_unit_range(np.array(face)).numpy()  # a copy: torch wants a writable array


__all__ = ["Apex", "RESAMPLING", "SCALES"]
