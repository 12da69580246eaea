"""Motion: mean |x - x_on| inside the face regions each class moves, the number behind Fig. 5's maps.

Regions: ``brows_eyelids`` (surprise, negative), ``lip_corners_cheeks``
(positive, negative) and ``mouth`` (surprise's parted lips). On the synthetic
data they are boxes bounding where the synthetic face model
(:mod:`icezoo.data.synthetic.faces`) can put those features, for any subject
and pose; on real faces they come from the 68 dlib landmarks of each onset
face (the landmark extra), boxes padded by a tenth of the face.
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.synthetic.faces import Face

REGIONS: tuple[str, ...] = ("brows_eyelids", "lip_corners_cheeks", "mouth")


def face_model_boxes() -> dict[str, list[tuple[float, float, float, float]]]:
    """Boxes (u0, u1, v0, v1) in face units ([-1, 1], v down) around the default face's features, with margins
    that cover the range :func:`~icezoo.data.synthetic.faces.random_face` draws and the pose shift."""
    f, m = Face(), 0.06
    eyes_v = (f.cy + f.eye_y - f.brow_gap - 0.05 - m, f.cy + f.eye_y + f.eye_h + m)
    eyes_u = f.eye_dx + f.eye_w + m
    mouth_v = (f.cy + f.mouth_y - f.lip_up - m, f.cy + f.mouth_y + f.lip_lo + m)
    mouth_u = f.mouth_w + 0.02 + m
    cheek_v = (f.cy + f.cheek_y - f.cheek_r, mouth_v[1])
    cheek_u = (f.mouth_w - 0.05, f.cheek_dx + f.cheek_r + m / 2)
    return {
        "brows_eyelids": [(-eyes_u, eyes_u, *eyes_v)],
        "lip_corners_cheeks": [(-cheek_u[1], -cheek_u[0], *cheek_v), (cheek_u[0], cheek_u[1], *cheek_v)],
        "mouth": [(-mouth_u, mouth_u, *mouth_v)],
    }


def face_model_masks(size: int) -> dict[str, torch.Tensor]:
    """The synthetic face model's region masks [S, S] (bool), the same for every clip."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    out = {}
    for name, boxes in face_model_boxes().items():
        mask = torch.zeros(size, size, dtype=torch.bool)
        for u0, u1, v0, v1 in boxes:
            mask |= (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
        out[name] = mask
    return out


def landmark_masks(points: np.ndarray, size: int) -> dict[str, torch.Tensor]:
    """Region masks [S, S] of one face from its 68 landmarks [68, 2] (x, y in pixels), iBUG numbering."""
    pad = 0.1 * size

    def box(idx, extra_up: float = 0.0) -> tuple[float, float, float, float]:
        p = points[idx]
        return p[:, 0].min() - pad, p[:, 0].max() + pad, p[:, 1].min() - pad - extra_up, p[:, 1].max() + pad

    nose_tip_y = points[33, 1]
    corners = [(points[i, 0] - pad, points[i, 0] + pad, nose_tip_y - pad, points[i, 1] + pad) for i in (48, 54)]
    boxes = {
        "brows_eyelids": [box(list(range(17, 27)) + list(range(36, 48)))],
        "lip_corners_cheeks": corners,
        "mouth": [box(list(range(48, 68)))],
    }
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    out = {}
    for name, parts in boxes.items():
        mask = torch.zeros(size, size, dtype=torch.bool)
        for x0, x1, y0, y1 in parts:
            mask |= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        out[name] = mask
    return out


def region_means(faces: torch.Tensor, onset: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean |faces - onset| per region, in gray levels (0..255): faces, onset [N, 1, S, S] in [-1, 1],
    masks [N or 1, R, S, S] -> [N, R]."""
    diff = (faces - onset).abs()[:, 0].unsqueeze(1) * 127.5  # [N, 1, S, S]
    m = masks.float()
    return (diff * m).sum((2, 3)) / m.sum((2, 3)).clamp_min(1)
