"""One fold's synthesis records: synthesise every test clip's onset into each class, then measure.

Everything a metric needs is kept per face (distances, predictions,
features, region means), so folds pool by concatenation and the pooled numbers
are computed the same way as a fold's.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch

from ...data import CLASSES, ClipSet
from ...data.clips import to_unit_range
from ...errors import IcezooError
from ...inference.scores import class_scores
from . import distribution, expression, identity, motion


@torch.no_grad()
def synthesise_all(model, onset: torch.Tensor, seed: int, batch_size: int = 64) -> torch.Tensor:
    """Faces [N, K, 1, S, S]: each onset [N, 1, S, S] synthesised into each of the K classes, noise from ``seed``."""
    n, k = len(onset), model.num_classes
    z = torch.randn(n, k, model.noise_dim, generator=torch.Generator().manual_seed(seed))
    labels = torch.arange(k).repeat(n)
    x_on = onset.repeat_interleave(k, 0)
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    try:
        out = [
            model.synthesize(
                x_on[i : i + batch_size].to(device),
                labels[i : i + batch_size].to(device),
                z.flatten(0, 1)[i : i + batch_size].to(device),
            )
            .float()
            .cpu()
            for i in range(0, n * k, batch_size)
        ]
    finally:
        model.train(was)
    return torch.cat(out).view(n, k, *onset.shape[1:])


def fold_seed(seed: int, fold_name: str) -> int:
    """The noise seed of a fold: the run's seed and the fold's name, so a fold's faces repeat anywhere."""
    return (int(seed) * 1_000_003 + zlib.crc32(fold_name.encode())) % 2**63


def _region_masks(onset: torch.Tensor, source: str) -> torch.Tensor:
    size = onset.shape[-1]
    if source == "face model":
        masks = motion.face_model_masks(size)
        return torch.stack([masks[r] for r in motion.REGIONS])[None]
    per_face = [motion.landmark_masks(p, size) for p in identity.landmarks(onset)]
    return torch.stack([torch.stack([m[r] for r in motion.REGIONS]) for m in per_face])


GALLERY_PER_SUBJECT = 3
"""Onset faces per subject in the identity gallery (the first clips of each; a test face's own onset left out)."""


def _per_subject(subjects: list[str], limit: int) -> list[int]:
    seen: dict[str, int] = {}
    keep = []
    for i, s in enumerate(subjects):
        if seen.get(s, 0) < limit:
            seen[s] = seen.get(s, 0) + 1
            keep.append(i)
    return keep


def _identity(onset: torch.Tensor, faces: torch.Tensor, test: ClipSet, train: ClipSet) -> dict[str, Any]:
    try:
        e_on = identity.embed(onset)
        e_syn = identity.embed(faces.flatten(0, 1)).reshape(len(onset), faces.shape[1], -1)
        keep = _per_subject(train.subject, GALLERY_PER_SUBJECT)
        e_train = identity.embed(to_unit_range(train.onset[keep]))
    except IcezooError as err:
        return {"skipped": str(err)}
    gallery: dict[str, list] = {}
    for s, e in zip([train.subject[i] for i in keep], e_train):
        gallery.setdefault(s, []).append(e)
    gallery_arrays = {s: np.stack(v) for s, v in gallery.items()}
    return identity.identity_records(e_on, e_syn, test.subject, gallery_arrays, GALLERY_PER_SUBJECT)


def fold_records(
    model,
    train: ClipSet,
    test: ClipSet,
    *,
    seed: int,
    regions: str = "face model",
    batch_size: int = 64,
    network: torch.nn.Module | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Synthesise the test clips into every class and keep what each metric needs, face by face.

    Args:
        model: the fold's trained GAN (with its generator; model A has none).
        train: the fold's training clips (the independent classifier's only data; identity gallery).
        test: the fold's test clips (their onset faces are synthesised from; their apex faces are the real set).
        seed: the noise seed (see :func:`fold_seed`).
        regions: ``face model`` (the synthetic data's known feature positions) or ``landmarks`` (68 dlib landmarks).
        batch_size: faces per forward pass.
        network: the KID/FID feature network (:func:`distribution.feature_network`; None: fer_xception).
        precision: ``train.precision``, under which the discriminator reads the faces (as eval reads its test faces).
    """
    if model.generator is None:
        return {"skipped": "this model has no generator (model A)"}
    if regions not in ("face model", "landmarks"):
        raise IcezooError(f"synthesis metrics: regions must be 'face model' or 'landmarks', got {regions!r}")
    onset, apex = to_unit_range(test.onset), to_unit_range(test.apex[:, 0])
    faces = synthesise_all(model, onset, seed, batch_size)  # [N, K, 1, S, S]
    n, k = faces.shape[:2]
    asked = np.tile(np.arange(k), (n, 1))
    own = faces[torch.arange(n), torch.as_tensor(test.label)]
    classifier = expression.MotionClassifier().fit(train)
    net = network if network is not None else distribution.FerFeatures()
    masks = _region_masks(onset, regions)
    flat_on = onset.repeat_interleave(k, 0)
    d_scores = class_scores(model.discriminator, faces.flatten(0, 1), batch_size=batch_size, precision=precision)
    return {
        "subject": list(test.subject),
        "label": test.label.astype(np.int64),
        "asked": asked,
        "identity": _identity(onset, faces, test, train),
        "d_pred": d_scores.argmax(1).numpy().reshape(n, k),
        "clf_pred": classifier.predict(faces.flatten(0, 1), flat_on).reshape(n, k),
        "clf_subjects": classifier.subjects,
        "clf_real_pred": classifier.predict(apex, onset),  # its accuracy on real test faces: the scale of its reading
        "feat_real": distribution.features(net, apex).numpy(),
        "feat_fake": distribution.features(net, own).numpy(),
        "feature_network": net.description,
        "motion_syn": motion.region_means(
            faces.flatten(0, 1), flat_on, masks.repeat_interleave(k, 0) if len(masks) > 1 else masks
        )
        .reshape(n, k, -1)
        .numpy(),
        "motion_real": motion.region_means(apex, onset, masks).numpy(),
        "regions": regions,
        "classes": list(CLASSES),
    }
