"""Rendering: the painters of :mod:`.painters` composed into frames of one face.

A clip's static layer (background, head, skin, hair, light) is drawn once and
every frame adds the moving features' albedo changes to it, seen through the
clip's light: ``base + gain * delta``.
"""

from __future__ import annotations

import numpy as np

from . import painters as paint
from .canvas import Canvas, f32
from .faces import AUS, ClipPose, Face, expression


def _static_layer(sc: paint.Scene) -> tuple[np.ndarray, np.ndarray]:
    """The clips' still image and how an albedo change shows in it (``gain``), both float32 ``[C,1,S,S]``."""
    f, cv = sc.face, sc.cv
    x = cv.grid[None, None, None, :]
    y = cv.grid[None, None, :, None]
    u = x - cv.ox[:, None, None, None]
    v = y - cv.oy[:, None, None, None]
    face_mask, albedo = paint.head(sc, u, v)
    light = paint.lighting(sc, x, y)
    hair_mask, hair = paint.hair(sc, u, v)
    base = f.bg + f.bg_grad * 0.5 * y
    base = base + face_mask * (albedo * light - base)
    base = base + hair_mask * (hair * light - base)
    gain = face_mask * (1.0 - hair_mask) * light
    return base.astype(np.float32), gain.astype(np.float32)


def _moving_features(sc: paint.Scene):
    """The moving painters' patches, in the order they are added (it is part of the output)."""
    for side in (-1, 1):
        yield paint.brow(sc, side)
        yield paint.eye(sc, side)
        yield paint.cheek(sc, side)
    yield paint.glabella(sc)
    yield paint.forehead(sc)
    yield paint.nose(sc)
    corners = paint.mouth_corners(sc)
    yield paint.mouth(sc, corners)
    for side in (-1, 1):
        yield paint.fold(sc, side, corners)


def render_faces(face: Face, pose: ClipPose, expressions: np.ndarray, image_size: int = 128) -> np.ndarray:
    """Render C clips x T frames of one face as float32 ``[C, T, S, S]`` gray levels (noise-free).

    ``expressions`` is ``[C, T, len(AUS)]``, ``pose`` holds C clips. All frames of a clip share its pose and
    lighting; only the expression differs.
    """
    expressions = f32(expressions)
    if expressions.ndim != 3 or expressions.shape[2] != len(AUS):
        raise ValueError(f"expressions must be [C, T, {len(AUS)}], got {expressions.shape}")
    C, T, _ = expressions.shape
    S = int(image_size)
    cv = Canvas(S, face.cx + pose.tx, face.cy + pose.ty, T)
    asym = f32(pose.asym)[:, None, None, None]
    sc = paint.Scene(
        face=face,
        pose=pose,
        cv=cv,
        au={name: expressions[:, :, i, None, None] for i, name in enumerate(AUS)},
        side_gain={-1: 1.0 + asym, 1: 1.0 - asym},
        reach=0.03 + 0.08 * max(1.0, float(np.abs(expressions).max(initial=0.0))),
        soft=max(0.008, 0.7 * cv.px),
    )
    base, gain = _static_layer(sc)
    delta = np.zeros((C, T, S, S), dtype=np.float32)
    for patch in _moving_features(sc):
        if patch is not None:
            rows, cols, value = patch
            delta[:, :, rows, cols] += value
    return base + gain * delta


def render_face(
    face: Face,
    expr: np.ndarray | str | None = None,
    amount: float = 1.0,
    image_size: int = 128,
    pose: ClipPose | None = None,
) -> np.ndarray:
    """Draw one face: ``expr`` is a class name (at ``amount``), an AU vector ``[len(AUS)]`` or None (neutral).

    Returns float32 ``[S, S]`` gray levels, noise-free.
    """
    if expr is None:
        vec = np.zeros(len(AUS))
    elif isinstance(expr, (str, int, np.integer)):
        vec = expression(expr, amount)
    else:
        vec = np.asarray(expr, dtype=np.float64)
    return render_faces(face, pose or ClipPose.neutral(1), vec[None, None], image_size)[0, 0]
