"""Recognising one face image: crop as ``icezoo prepare`` does, resize, score with D.

The crop is :func:`icezoo.data.prepare.faces.read_face`'s (the one ``icezoo synth`` uses too): the square
around the 68 landmarks when asked and the landmarks extra is there, else the
centre square, and the result says which was used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import CLASSES


def predict_image(
    checkpoint: str | Path, image: str | Path, *, align: bool | None = False, device: str = "cpu", allow_plugins=()
) -> dict:
    """``{"class", "scores": {class: score}, "crop", "checkpoint", "image"}`` for one face image.

    ``align`` as :func:`~icezoo.data.prepare.faces.face_cropper` takes it (``--align`` is None: landmarks when the
    extra is installed, else the centre square, said so).
    """
    from ..data.prepare.faces import read_face
    from ..train.checkpoint import load_trained_model

    model, recipe = load_trained_model(checkpoint, device, allow_plugins=allow_plugins)
    face, how = read_face(image, recipe.model.image_size, align, "--image")
    scores = model.recognise(face.to(device))[0].tolist()
    return {"class": CLASSES[int(np.argmax(scores))], "scores": dict(zip(CLASSES, scores)), "crop": how,
            "checkpoint": str(checkpoint), "image": str(image), "recipe": recipe.name}  # fmt: skip
