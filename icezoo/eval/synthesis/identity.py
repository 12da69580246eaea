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
    onset: np.ndarray, synth: np.ndarray, subject: list[str], gallery: dict[str, np.ndarray], per_subject: int = 3
) -> dict[str, np.ndarray]:
    """Per-face identity numbers of one fold.

    Each synthesised face is matched to the nearest subject centroid of a gallery in which every subject has at
    most ``per_subject`` onset faces: the training subjects' (``gallery``) and the test subjects' own onsets, the
    face's own onset left out (it would sit in its own subject's centroid and make the match trivial). A face
    whose subject has no other onset cannot be matched to it: its ``match`` is NaN (not measured), not 1.

    Args:
        onset: embeddings [N, 128] of the test clips' onset faces.
        synth: embeddings [N, K, 128] of the faces synthesised from them (one per asked class).
        subject: the N clips' subject ids.
        gallery: training subject id -> onset embeddings [M, 128], M <= ``per_subject``.
        per_subject: the gallery's size per subject, test subjects' included.
    """
    tested: dict[str, list[int]] = {}
    for i, s in enumerate(subject):
        tested.setdefault(s, []).append(i)
    self_d = np.linalg.norm(synth - onset[:, None], axis=-1)  # [N, K]
    match = np.full(synth.shape[:2], np.nan)
    other = np.empty(len(subject))
    for i, own in enumerate(subject):
        entries = {s: g for s, g in gallery.items() if s not in tested}
        for s, faces in tested.items():
            picked = [j for j in faces if j != i][:per_subject]  # the face's own onset never
            if picked:
                entries[s] = onset[picked]
        names = sorted(entries)
        centres = np.stack([entries[s].mean(0) for s in names])
        if own in entries:
            nearest = np.linalg.norm(synth[i][:, None] - centres[None], axis=-1).argmin(-1)  # [K]
            match[i] = [names[j] == own for j in nearest]
        others = np.concatenate([entries[s] for s in names if s != own])
        other[i] = np.linalg.norm(others - onset[i], axis=-1).mean()
    return {"self_distance": self_d, "match": match, "other_subject_distance": other}


def identity_summary(records: dict[str, np.ndarray]) -> dict[str, float]:
    """Means over faces: distance to the own onset, to other subjects' onsets, their ratio, the match share
    (over the faces whose subject has another onset to match: ``matched_faces``)."""
    own, other = float(records["self_distance"].mean()), float(records["other_subject_distance"].mean())
    match = np.asarray(records["match"], dtype=float)
    measured = ~np.isnan(match)
    return {
        "distance_to_onset": own,
        "distance_between_subjects": other,
        "ratio": own / other if other > 0 else float("nan"),
        "own_subject_match": float(match[measured].mean()) if measured.any() else None,
        "matched_faces": int(measured.sum()),
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
