"""Recognising a face image or a clip: crop as ``icezoo prepare`` does, resize, score with D, say what it means.

The crop is :func:`icezoo.data.prepare.faces.read_face`'s (the one ``icezoo synth`` uses too): the square
around the 68 landmarks when asked and the landmarks extra is there, else the
centre square, and the result says which was used. A clip (``--frames DIR`` of frame images, or ``--video FILE``)
is read as ``prepare`` reads SMIC-HS: the crop box comes from the onset (the first frame) and holds for every
frame, the apex is the frame that differs most from the onset (:func:`~icezoo.data.prepare.faces.find_apex`),
and the apex is classified. A baseline of Table I (:mod:`icezoo.recognition`) reads what its input reads of that
clip (the onset and apex for a flow, the whole sequence for LBP-TOP), cropped the same way; ``--image`` is refused
in one line for one whose input reads more than the apex. Every result names the data the model was trained on, what its scores are, and,
for a model trained on the synthetic faces, that its answer on a real face is not meaningful
(:mod:`.about`).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch

from ..data import CLASSES
from ..errors import IcezooError
from .about import SYNTHETIC_CAUTION, data_sentence, is_synthetic, score_kind

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
VIDEO_INSTALL = 'pip install "icezoo[video]"  (imageio with PyAV)'


def predict_image(
    checkpoint: str | Path, image: str | Path, *, align: bool | None = None, device: str = "cpu", allow_plugins=()
) -> dict:
    """``{"class", "scores", "score_kind", ..., "trained_on", "data", "caution", "crop", "checkpoint", "image"}``.

    ``align`` as :func:`~icezoo.data.prepare.faces.face_cropper` takes it (None, the default: by the landmarks
    when the extra is installed, as ``prepare`` crops, else the centre square, said so; False: the centre square).
    """
    from ..data.prepare.faces import read_face
    from ..train.checkpoint import load_trained_model

    model, recipe = load_trained_model(checkpoint, device, allow_plugins=allow_plugins)
    reads = set(getattr(model, "reads", ("apex",)))
    if reads - {"apex"}:
        raise IcezooError(
            f"--image: {checkpoint} holds recogniser '{recipe.model.recogniser['type']}', whose input "
            f"'{recipe.model.input['type']}' reads the clip's {' and '.join(sorted(reads))} frames, not one face; "
            "give the clip: --frames DIR or --video FILE"
        )
    face, how = read_face(image, recipe.model.image_size, align, "--image")
    if hasattr(model, "reads"):  # a baseline on the apex face: its input's features of it
        face = _features(model, [((face[0, 0].numpy() + 1) * 127.5).round().astype(np.uint8)], 0)
    return {**_answer(model, recipe, face.to(device), how), "checkpoint": str(checkpoint), "image": str(image)}


def predict_clip(
    checkpoint: str | Path,
    *,
    frames: str | Path | None = None,
    video: str | Path | None = None,
    align: bool | None = None,
    device: str = "cpu",
    allow_plugins=(),
) -> dict:
    """The answer of :func:`predict_image` for a clip's apex, found as ``prepare`` finds SMIC-HS's, plus
    ``apex_frame`` (0-based index in the clip), ``frames`` (how many) and the clip's source."""
    from ..data.clips import to_unit_range
    from ..data.prepare.faces import CROP_SIZE, crop_face, face_cropper, find_apex
    from ..train.checkpoint import load_trained_model

    model, recipe = load_trained_model(checkpoint, device, allow_plugins=allow_plugins)
    images = read_frames(frames) if frames is not None else read_video(video)
    cropper, how = face_cropper(align)
    box = cropper.box(images[0], "onset frame")
    if getattr(cropper, "missed", None):
        how = "centre crop: no face found"
    apex = find_apex({i: crop_face(im, box, CROP_SIZE) for i, im in enumerate(images)}, 0)
    if hasattr(model, "reads"):  # a baseline: its input's features of the cropped clip
        crops = [crop_face(im, box, recipe.model.image_size) for im in images]
        face = _features(model, crops, apex)
    else:
        face = to_unit_range(crop_face(images[apex], box, recipe.model.image_size)[None].copy())
    source = {"frames": str(frames)} if frames is not None else {"video": str(video)}
    answer = _answer(model, recipe, face.to(device), how)
    return {**answer, "apex_frame": apex, "frame_count": len(images), "checkpoint": str(checkpoint), **source}


def _features(model, crops: list[np.ndarray], apex: int) -> torch.Tensor:
    """A baseline's input features ``[1, *in_shape]`` of one clip of cropped frames (uint8 ``[S, S]``, the onset
    first, ``apex`` the apex's index): the clip as a one-clip ClipSet, read as the data's clips are."""
    from ..data.clips import ClipFrames, ClipSet

    stack = np.stack(crops)
    frames = ClipFrames(0, apex, len(crops) - 1, lambda numbers: stack[list(numbers)])
    one = ClipSet(stack[:1], stack[apex][None, None], np.zeros(1, np.int64), ["predict"], ["predict"], ["clip"],
                  [frames])  # fmt: skip
    return torch.from_numpy(model.features(one, progress=False))


def _answer(model, recipe, face: torch.Tensor, how: str) -> dict:
    scores = model.recognise(face)[0].float().cpu()
    kind, meaning = score_kind(recipe)
    data = dict(getattr(model, "trained_on", None) or {"type": "?"})
    out = {
        "class": CLASSES[int(scores.argmax())],
        "scores": dict(zip(CLASSES, scores.tolist())),
        "score_kind": kind,
        "score_meaning": meaning,
    }
    if kind == "logits":
        out["probabilities"] = dict(zip(CLASSES, torch.softmax(scores, 0).tolist()))
    out.update({
        "trained_on": data,
        "data": data_sentence(data) if data["type"] != "?" else "Data: unknown",
        "caution": SYNTHETIC_CAUTION if is_synthetic(data) else None,
        "crop": how,
        "recipe": recipe.name,
    })  # fmt: skip
    return out


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def read_frames(folder: str | Path):
    """The images of a clip folder, in natural name order (frame2 before frame10); at least two."""
    from ..data.megc2019 import open_image

    folder = Path(folder)
    if not folder.is_dir():
        raise IcezooError(f"--frames {folder}: not a folder of frame images")
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural)
    if len(files) < 2:
        raise IcezooError(f"--frames {folder}: {len(files)} frame images; a clip needs an onset and later frames")
    images = [open_image(p, "--frames") for p in files]
    if len({im.size for im in images}) > 1:
        raise IcezooError(f"--frames {folder}: the frames differ in size ({images[0].size} and others)")
    return images


def read_video(path: str | Path):
    """A video's frames as images, decoded by imageio (PyAV for video containers, Pillow for GIF)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise IcezooError(f"--video {path}: file not found")
    try:
        import imageio.v3 as iio
    except ImportError:
        raise IcezooError(f"--video needs imageio: {VIDEO_INSTALL}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # imageio's notices of deprecated plugins it tried on the way
            frames = [Image.fromarray(np.asarray(f)).convert("L") for f in iio.imiter(path)]
    except Exception as err:  # no plugin for the container, a corrupt file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IcezooError(f"--video {path}: cannot decode ({reason[:160]}); for video files: {VIDEO_INSTALL}") from None
    if len(frames) < 2:
        raise IcezooError(f"--video {path}: {len(frames)} frames; a clip needs an onset and later frames")
    return frames
