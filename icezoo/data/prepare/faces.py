"""Face crops for ``icezoo prepare``: a square box from the onset frame, applied to every frame; the apex from frames.

:class:`LandmarkCrop` finds the face with a detector and 68 landmarks (the
optional ``face_recognition`` package, offline); :class:`CentreCrop` takes the
centre square (``--no-align``). :func:`find_apex` picks an apex from frame
differences where a release gives none (SMIC-HS, CASME II's "/"). :func:`read_face`
crops one photograph the same way, for ``icezoo predict`` and ``icezoo synth``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image, ImageFilter

from ...errors import IcezooError
from ..clips import to_unit_range
from ..megc2019 import RESAMPLE, open_image

CROP_SIZE = 128
"""Side of the face crops ``prepare`` writes (the paper's 128x128)."""

APEX_BLUR_RADIUS = 2.0
"""Gaussian blur (pixels at 128x128) applied before frame differences, so sensor noise does not pick the apex."""

ALIGN_INSTALL = 'pip install dlib-bin && pip install --no-deps face_recognition==1.3.0 face_recognition_models==0.3.0 && pip install "setuptools<81"'
"""The offline install of the landmarks extra, as the README gives it (face_recognition_models imports pkg_resources)."""

Box = tuple[int, int, int, int]  # left, top, right, bottom


def square_box(size: tuple[int, int], centre: tuple[float, float], side: float) -> Box:
    """A square of ``side`` around ``centre``, shrunk and shifted to lie inside an image of ``size`` (w, h)."""
    width, height = size
    side = max(1, min(int(round(side)), width, height))
    left = min(max(int(round(centre[0] - side / 2)), 0), width - side)
    top = min(max(int(round(centre[1] - side / 2)), 0), height - side)
    return left, top, left + side, top + side


def crop_face(image: Image.Image, box: Box, size: int = CROP_SIZE) -> np.ndarray:
    """The box of ``image`` as ``[size, size]`` uint8 grayscale."""
    return np.asarray(image.convert("L").crop(box).resize((size, size), RESAMPLE), dtype=np.uint8)


class FaceCropper(Protocol):
    """Chooses the crop box of a clip from its onset frame."""

    def box(self, image: Image.Image, where: str) -> Box: ...


class CentreCrop:
    """The largest centred square (``--no-align``: frames that are already face crops, or no landmarks extra)."""

    def box(self, image: Image.Image, where: str) -> Box:
        width, height = image.size
        return square_box(image.size, (width / 2, height / 2), min(width, height))


class LandmarkCrop:
    """The square around the 68 landmarks of the most confident face (dlib's HOG detector and shape predictor).

    Needs the optional ``face_recognition`` package (see :data:`ALIGN_INSTALL`).
    A frame with no face falls back to :class:`CentreCrop`; ``missed`` lists them.
    """

    def __init__(self) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pkg_resources' deprecation notice
                import face_recognition_models  # noqa: F401  (first: face_recognition exits the process without it)
                from face_recognition import api
        except ImportError as err:
            raise IcezooError(
                f"face alignment needs the landmarks extra ({err}): {ALIGN_INSTALL}; or pass --no-align"
            ) from None
        self._detect = api.face_detector.run
        self._predict = api.pose_predictor_68_point
        self.missed: list[str] = []

    def landmarks(self, image: Image.Image) -> np.ndarray | None:
        """The 68 landmarks ``[68, 2]`` (x, y) of the most confident face, or None when no face is found."""
        rgb = np.asarray(image.convert("RGB"))
        faces, scores, _ = self._detect(rgb, 1, 0.0)  # upsample once: faces down to ~40 px
        if not faces:
            return None
        shape = self._predict(rgb, faces[int(np.argmax(scores))])
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def box(self, image: Image.Image, where: str) -> Box:
        points = self.landmarks(image)
        if points is None:
            self.missed.append(where)
            return CentreCrop().box(image, where)
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        return square_box(image.size, ((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0))


def face_cropper(align: bool | None) -> tuple[FaceCropper, str]:
    """The cropper of a photograph and how it crops: the 68 landmarks' square (``align`` True: the extra required;
    None: when it is installed) or the centre square (False, or None without the extra)."""
    if align is False:
        return CentreCrop(), "centre crop"
    try:
        return LandmarkCrop(), "aligned by 68 landmarks"
    except IcezooError:
        if align:
            raise
        return CentreCrop(), "centre crop: the landmarks extra is not installed"


def read_face(path: str | Path, size: int, align: bool | None = None, where: str = "image") -> tuple[torch.Tensor, str]:
    """A face photograph as ``prepare`` crops it: ([1, 1, size, size] in [-1, 1], how it was cropped).

    The box is :func:`face_cropper`'s (a photograph without a face found: the centre square, said so), resized with
    :data:`RESAMPLE`; ``where`` (the command's option) and the path name a file that is missing or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise IcezooError(f"{path}: image not found")
    image = open_image(path, where)
    cropper, how = face_cropper(align)
    box = cropper.box(image, str(path))
    if getattr(cropper, "missed", None):
        how = "centre crop: no face found"
    return to_unit_range(crop_face(image, box, size)[None].copy()), how  # a copy: PIL's array is read-only


def find_apex(crops: Mapping[int, np.ndarray], onset: int) -> int:
    """The frame whose face differs most from the onset's: largest mean absolute difference after a Gaussian blur.

    ``crops`` maps frame numbers to aligned grayscale crops (the onset among
    them). The blur (:data:`APEX_BLUR_RADIUS`) keeps sensor noise and JPEG
    artefacts from outweighing the facial motion; on a tie the earlier frame wins.
    """
    blurred = {
        n: np.asarray(Image.fromarray(c).filter(ImageFilter.GaussianBlur(APEX_BLUR_RADIUS)), dtype=np.float32)
        for n, c in crops.items()
    }
    reference = blurred[onset]
    return max(sorted(blurred), key=lambda n: (float(np.abs(blurred[n] - reference).mean()), -n))
