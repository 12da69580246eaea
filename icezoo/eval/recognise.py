"""Recognising one face image: crop (by landmarks when the extra is installed), resize, score with D.

The crop follows ``icezoo prepare``: the square around the 68 landmarks
(:class:`icezoo.data.prepare.faces.LandmarkCrop`) with ``align``, else, or
when the landmarks extra is missing or finds no face, the centre square, and
the result says which was used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import CLASSES
from ..errors import IcezooError


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise IcezooError(f"{path}: image not found")
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:  # bomb: too many pixels
        raise IcezooError(f"{path}: not a readable image ({str(err).splitlines()[0][:120]})") from None


def face_crop(path: str | Path, size: int, align: bool) -> tuple[torch.Tensor, str]:
    """([1, 1, size, size] in [-1, 1], how it was cropped)."""
    from ..data.prepare.faces import CentreCrop, LandmarkCrop, crop_face

    image = _open(Path(path))
    how = "centre crop"
    cropper: Any = CentreCrop()
    if align:
        try:
            cropper = LandmarkCrop()
            how = "aligned by 68 landmarks"
        except IcezooError:
            how = "centre crop: the landmarks extra is not installed"
    box = cropper.box(image, str(path))
    if align and getattr(cropper, "missed", None):
        how = "centre crop: no face found"
    pixels = crop_face(image, box, size).astype(np.float32)
    return torch.from_numpy(pixels / 127.5 - 1)[None, None], how


def predict_image(
    checkpoint: str | Path, image: str | Path, *, align: bool = False, device: str = "cpu", allow_plugins=()
) -> dict:
    """``{"class", "scores": {class: score}, "crop", "checkpoint", "image"}`` for one face image."""
    from ..train.checkpoint import load_trained_model

    model, recipe = load_trained_model(checkpoint, device, allow_plugins=allow_plugins)
    face, how = face_crop(image, recipe.model.image_size, align)
    scores = model.recognise(face.to(device))[0].tolist()
    return {"class": CLASSES[int(np.argmax(scores))], "scores": dict(zip(CLASSES, scores)), "crop": how,
            "checkpoint": str(checkpoint), "image": str(image), "recipe": recipe.name}  # fmt: skip
