"""The ``flow_hsv`` input: Farneback flow from the onset to the apex, coded as an HSV image (ME-Recognizer's input).

As ME-Recognizer's ``Prepare.py`` (xiaobaishu0097/MEGC2019) makes it: OpenCV's Farneback flow between the grey
faces (``pyr_scale`` 0.5, 1 level, window 15, 2 iterations, ``poly_n`` 5, ``poly_sigma`` 1.1), the direction as
hue (degrees / 2), the magnitude min-max normalised to 0..255 as value, the apex face's own saturation as
saturation, converted to RGB by OpenCV from a float32 HSV image and cast to uint8; read as torchvision's
``ToTensor`` and ``Normalize(0.5, 0.5)`` read it ([-1, 1]) after a resize to 256x256. A grey face has no
saturation, so on icezoo's grey faces (and on SAMM's, in the original) the picture is the flow's normalised
magnitude in three equal channels: the direction is lost there, as it was in the original.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from PIL import Image

from ..errors import IcezooError
from .base import Input, check_two_frames, frames_digest
from .flow import _cv2


def farneback_hsv(onset: np.ndarray, apex: np.ndarray, **params) -> np.ndarray:
    """The uint8 RGB picture ``[H, W, 3]`` of the Farneback flow from ``onset`` to ``apex`` (uint8 grey faces).

    ``params``: OpenCV's ``pyr_scale``, ``levels``, ``winsize``, ``iterations``, ``poly_n``, ``poly_sigma``.
    """
    cv2 = _cv2()
    flow = cv2.calcOpticalFlowFarneback(np.ascontiguousarray(onset), np.ascontiguousarray(apex), None,
                                        params["pyr_scale"], params["levels"], params["winsize"],
                                        params["iterations"], params["poly_n"], params["poly_sigma"], 0)  # fmt: skip
    magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1])
    hsv = np.zeros((*onset.shape, 3), dtype=np.float32)  # saturation: a grey apex face has none
    hsv[..., 0] = angle * (180 / np.pi / 2)
    hsv[..., 2] = cv2.normalize(magnitude, None, 0, 255, cv2.NORM_MINMAX)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.uint8)


class FlowHSV(Input):
    """Farneback flow onset -> apex as ME-Recognizer's HSV picture, ``[3, 256, 256]`` in [-1, 1] (see the module).

    The recogniser reads the centre ``crop`` (224, in training a random one). OpenCV's Farneback parameters are
    recipe keys with the original's values. Needs the ``baselines`` extra; a clip whose apex is its onset is
    refused.

    Args:
        size: side the picture is resized to (bilinear, as torchvision's ``Resize``).
        crop: side of the square the recogniser reads (None: all of it).
        pyr_scale: scale between pyramid levels.
        levels: pyramid levels.
        winsize: averaging window.
        iterations: iterations per level.
        poly_n: neighbourhood of the polynomial expansion.
        poly_sigma: Gaussian standard deviation of the polynomial expansion.
    """

    name: ClassVar[str] = "flow_hsv"
    reads: ClassVar[tuple[str, ...]] = ("onset", "apex")
    computes_with: ClassVar[tuple[str, ...]] = ("opencv-contrib-python-headless",)
    value_range = (-1.0, 1.0)  # a picture: rotation and brightness/contrast jitter apply, as in the original
    fill = -1.0  # torchvision's rotation fills 0 before Normalize(0.5, 0.5)

    def __init__(
        self,
        size: int = 256,
        crop: int | None = 224,
        pyr_scale: float = 0.5,
        levels: int = 1,
        winsize: int = 15,
        iterations: int = 2,
        poly_n: int = 5,
        poly_sigma: float = 1.1,
    ) -> None:
        for key, value in dict(size=size, levels=levels, winsize=winsize, iterations=iterations).items():
            if value < 1:
                raise IcezooError(f"input '{self.name}': {key} must be at least 1, got {value}")
        if crop is not None and not 1 <= crop <= size:
            raise IcezooError(f"input '{self.name}': crop must lie in 1..{size}, got {crop}")
        if not 0 < pyr_scale < 1:
            raise IcezooError(f"input '{self.name}': pyr_scale must lie in (0, 1), got {pyr_scale}")
        self.size, self.crop = int(size), crop
        self.params = dict(size=int(size), pyr_scale=float(pyr_scale), levels=int(levels), winsize=int(winsize),
                           iterations=int(iterations), poly_n=int(poly_n), poly_sigma=float(poly_sigma))  # fmt: skip

    def stored_shape(self, image_size: int) -> tuple[int, ...]:
        return (3, self.size, self.size)

    def shape(self, image_size: int) -> tuple[int, ...]:
        return (3, self.crop, self.crop) if self.crop else self.stored_shape(image_size)

    def frames(self, clips, i: int) -> list[np.ndarray]:
        check_two_frames(clips, i, "apex", self.name)
        return [clips.onset[i], clips.apex[i, 0]]

    def digests(self, clips, i: int) -> list[str]:
        return [frames_digest(self.frames(clips, i))]

    def compute(self, frames: list[np.ndarray]) -> np.ndarray:
        solver = {k: v for k, v in self.params.items() if k != "size"}
        picture = Image.fromarray(farneback_hsv(frames[0], frames[1], **solver))
        if picture.size != (self.size, self.size):
            picture = picture.resize((self.size, self.size), Image.BILINEAR)
        return (np.asarray(picture, dtype=np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5


__all__ = ["FlowHSV", "farneback_hsv"]
