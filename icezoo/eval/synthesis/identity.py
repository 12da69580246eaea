"""Identity preservation: dlib's 128-d face embeddings (``face_recognition_models``, the landmark extra).

The network is the ResNet that ``face_recognition`` ships offline; each face
is given as a whole-image face box (the crops are already faces), upscaled to
150x150, dlib's chip size. Distances are Euclidean; dlib's own rule calls two
faces the same person below 0.6.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ...data.prepare.faces import ALIGN_INSTALL
from ...errors import IcezooError

NETWORK = "dlib_face_recognition_resnet_model_v1 (face_recognition_models, 128-d)"


def _face_recognition():
    try:
        import face_recognition  # noqa: F401  (loads the models of face_recognition_models)
    except (ImportError, SystemExit) as err:  # face_recognition exits when its models package is missing
        raise IcezooError(
            f"identity metrics and landmark regions need the landmark extra ({type(err).__name__}): {ALIGN_INSTALL}"
        ) from None
    return face_recognition


def check_extra() -> None:
    """Raise the one-line error naming the install when the landmark extra is missing (checked before training)."""
    _face_recognition()


def to_rgb8(faces: torch.Tensor, size: int = 150) -> list[np.ndarray]:
    """Faces [N, 1, S, S] in [-1, 1] as RGB uint8 arrays of size x size."""
    x = torch.nn.functional.interpolate(faces.float(), size=(size, size), mode="bilinear", align_corners=False)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().byte()[:, 0].numpy()
    return [np.repeat(img[:, :, None], 3, axis=2) for img in x]


_CACHE: dict[bytes, np.ndarray] = {}
"""Embeddings by image digest: the real onset faces recur in every fold's gallery."""


def embed(faces: torch.Tensor) -> np.ndarray:
    """128-d dlib embeddings [N, 128] of faces [N, 1, S, S] in [-1, 1]."""
    fr = _face_recognition()
    out = []
    for img in to_rgb8(faces):
        key = hashlib.sha1(img.tobytes()).digest()
        if key not in _CACHE:
            _CACHE[key] = fr.face_encodings(img, known_face_locations=[(0, 149, 149, 0)])[0]
        out.append(_CACHE[key])
    return np.stack(out) if out else np.zeros((0, 128))


def identity_records(
    onset: np.ndarray, synth: np.ndarray, subject: list[str], gallery: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per-face identity numbers of one fold.

    Args:
        onset: embeddings [N, 128] of the test clips' onset faces.
        synth: embeddings [N, K, 128] of the faces synthesised from them (one per asked class).
        subject: the N clips' subject ids.
        gallery: subject id -> onset embeddings [M, 128] of that subject (the fold's training and test subjects).
    """
    names = sorted(gallery)
    centres = np.stack([gallery[s].mean(0) for s in names])
    self_d = np.linalg.norm(synth - onset[:, None], axis=-1)  # [N, K]
    nearest = np.linalg.norm(synth[:, :, None] - centres[None, None], axis=-1).argmin(-1)  # [N, K]
    match = np.array([[names[j] == subject[i] for j in row] for i, row in enumerate(nearest)])
    other = [
        np.linalg.norm(np.concatenate([gallery[s] for s in names if s != subject[i]]) - onset[i], axis=-1).mean()
        for i in range(len(subject))
    ]
    return {"self_distance": self_d, "match": match, "other_subject_distance": np.array(other)}


def identity_summary(records: dict[str, np.ndarray]) -> dict[str, float]:
    """Means over faces: distance to the own onset, to other subjects' onsets, their ratio, the match share."""
    own, other = float(records["self_distance"].mean()), float(records["other_subject_distance"].mean())
    return {
        "distance_to_onset": own,
        "distance_between_subjects": other,
        "ratio": own / other if other > 0 else float("nan"),
        "own_subject_match": float(records["match"].mean()),
    }


def landmarks(faces: torch.Tensor) -> np.ndarray:
    """The 68 dlib landmarks [N, 68, 2] (x, y in pixels of the faces' own size) of faces [N, 1, S, S]."""
    fr = _face_recognition()
    from face_recognition import api

    scale = faces.shape[-1] / 150
    out = []
    for img in to_rgb8(faces):
        shape = api._raw_face_landmarks(img, [(0, 149, 149, 0)], model="large")[0]
        out.append([(p.x * scale, p.y * scale) for p in shape.parts()])
    del fr
    return np.asarray(out, dtype=np.float64).reshape(len(out), 68, 2)
