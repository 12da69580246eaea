"""One painter per facial feature, each drawing on the pixel grid of C clips x T frames.

The static painters (head and skin, skin texture, nose shading, lighting,
hair) draw what a clip keeps in every frame, ``[C,1,S,S]``. The moving painters
(brows, eyes, cheeks, glabellar and forehead lines, nose, mouth, nasolabial
folds) return a :data:`Patch`: the change of albedo, ``[C,T,h,w]``, over the
rows and columns of the feature's box, or None when the box is off the image.
:func:`~.render.render_faces` composes them; the order it adds patches in is
part of the output (float32 sums), so it stays fixed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .canvas import Canvas, f32, gauss, ramp, segment_distance
from .faces import MOVE, ClipPose, Face

Patch = tuple[slice, slice, np.ndarray] | None
"""Rows, columns and the albedo change ``[C,T,h,w]`` there, or None when the feature is off the image."""


@dataclasses.dataclass(frozen=True)
class Scene:
    """What the painters share: the face, the clips' poses, the canvas and the action units of every frame."""

    face: Face
    pose: ClipPose
    cv: Canvas
    au: dict[str, np.ndarray]  # amplitude of each AU, [C,T,1,1]
    side_gain: dict[int, np.ndarray]  # motion gain of the left (-1) and right (+1) side, [C,1,1,1]
    reach: float  # margin a moving feature's box keeps for its motion
    soft: float  # edge width of small features


# ------------------------------------------------------------- static layer


def head(sc: Scene, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The head's anti-aliased outline mask and its skin albedo (edge shading, texture, nose shading)."""
    f = sc.face
    r2 = np.square(u / f.head_a) + np.square(v / f.head_b)
    r = np.sqrt(r2)
    face_mask = ramp((1.0 - r) * f.head_a, max(0.02, 1.2 * sc.cv.px))
    albedo = f.skin * (1.0 - f.edge_shade * np.square(r2)) + skin_texture(sc)
    patch = nose_shading(sc)
    if patch is not None:
        rows, cols, value = patch
        albedo[:, :, rows, cols] += value
    return face_mask, albedo


def skin_texture(sc: Scene) -> np.ndarray | float:
    """The subject's skin texture ``[C,1,S,S]``: a sum of plane waves, separable, as a batched matrix product."""
    f, cv = sc.face, sc.cv
    if not f.tex_amp:
        return 0.0
    g = cv.grid
    kx = f32([k[0] for k in f.tex_k])
    ky = f32([k[1] for k in f.tex_k])
    ph = f32(f.tex_phase)
    amp = f32(f.tex_amp)
    uu = g[None, :, None] - cv.ox[:, None, None]  # [C,S,1]
    vv = g[None, :, None] - cv.oy[:, None, None]
    au_ = kx * uu + ph  # [C,S,K]
    av_ = ky * vv
    left = np.concatenate([np.cos(av_), np.sin(av_)], axis=2) * np.concatenate([amp, amp])  # rows
    right = np.concatenate([np.sin(au_), np.cos(au_)], axis=2)  # cols
    return np.matmul(left, right.transpose(0, 2, 1))[:, None]  # [C,1,S,S]


def nose_shading(sc: Scene) -> Patch:
    """The static nose: shading along the bridge and a highlight on the tip."""
    f = sc.face
    box = sc.cv.region(-2 * f.nose_w, 2 * f.nose_w, f.eye_y, f.nose_y + 0.1)
    if box is None:
        return None
    rows, cols, bu, bv = box
    along = ramp(bv - (f.eye_y + 0.03), 0.04) * ramp((f.nose_y - 0.02) - bv, 0.03)
    shade = sum(gauss(bu - s * 0.55 * f.nose_w, 0.012) for s in (-1, 1))
    tip = gauss(np.hypot(bu, bv - (f.nose_y - 0.035)), 0.025)
    return rows, cols, -f.nose_shade * shade * along + 7.0 * tip


def lighting(sc: Scene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The clip's light: brightness gain times a linear gradient along the (turned) light direction."""
    f, pose = sc.face, sc.pose
    angle = f.light_angle + f32(pose.light_turn)[:, None, None, None]
    strength = f.light_strength + f32(pose.light_boost)[:, None, None, None]
    return f32(pose.gain)[:, None, None, None] * (1.0 + strength * (np.cos(angle) * x + np.sin(angle) * y))


def hair(sc: Scene, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hair's mask (a slightly larger head above the curved hair line) and its faintly striped albedo."""
    f = sc.face
    hr2 = np.square(u / (1.06 * f.head_a)) + np.square((v + 0.02) / (1.05 * f.head_b))
    outline = ramp((1.0 - np.sqrt(hr2)) * f.head_a, max(0.02, 1.2 * sc.cv.px))
    mask = outline * ramp(f.hair_y + f.hair_curve * np.square(u) - v, 0.035)
    return mask, f.hair * (1.0 + 0.08 * np.sin(45.0 * u + 9.0 * v))


# ---------------------------------------------------------- moving features


def brow(sc: Scene, side: int) -> Patch:
    """One brow: raised (AU1+2, inner vs outer end skewed per clip), lowered and drawn inward (AU4)."""
    f, au, sg, reach = sc.face, sc.au, sc.side_gain[side], sc.reach
    brow_v = f.eye_y - f.brow_gap
    bc = side * (f.eye_dx + f.brow_dx)
    box = sc.cv.region(
        bc - f.brow_w - reach, bc + f.brow_w + reach, brow_v - f.brow_arch - reach - 0.02, brow_v + reach + 0.02
    )
    if box is None:
        return None
    rows, cols, bu, bv = box
    centre = bc - side * MOVE["brow_pull"] * au["brow_lower"] * sg
    t = side * (bu - centre) / f.brow_w  # -1 inner end, +1 outer end
    inner, outer = (1.0 - t) * 0.5, (1.0 + t) * 0.5
    skew = f32(sc.pose.skew)[:, None, None, None]
    dy = -MOVE["brow_raise"] * au["brow_raise"] * sg * (inner * (0.9 + skew) + outer * (1.1 - skew))
    dy = dy + MOVE["brow_lower"] * au["brow_lower"] * sg * (0.7 + 0.6 * inner)
    line = brow_v - f.brow_arch * (1.0 - np.square(t)) - f.brow_tilt * t + dy
    half = f.brow_t * (1.0 - 0.35 * outer)
    ends = ramp((1.0 - np.abs(t)) * f.brow_w, 0.025)
    return rows, cols, -f.brow_dark * ends * ramp(half - np.abs(bv - line), sc.soft)


def eye(sc: Scene, side: int) -> Patch:
    """One eye: sclera, iris and lid lines; the upper lid rises (AU5), the lower lid rises and narrows (AU6)."""
    f, au, sg, soft = sc.face, sc.au, sc.side_gain[side], sc.soft
    ec = side * f.eye_dx
    box = sc.cv.region(
        ec - f.eye_w - 0.03, ec + f.eye_w + 0.03, f.eye_y - 2.2 * f.eye_h - 0.04 - sc.reach, f.eye_y + f.eye_h + 0.03
    )
    if box is None:
        return None
    rows, cols, bu, bv = box
    s = (bu - ec) / f.eye_w
    shape = np.clip(1.0 - np.square(s), 0.0, None)
    h_up = f.eye_h * (1.0 + MOVE["lid_raise"] * au["lid_raise"] * sg - 0.1 * au["cheek_raise"] * sg)
    h_lo = f.eye_h * f.eye_lo * (1.0 - MOVE["lid_narrow"] * au["cheek_raise"] * sg)
    up = f.eye_y - h_up * shape
    lo = f.eye_y + h_lo * shape
    ends = ramp((1.0 - np.abs(s)) * f.eye_w, soft)
    inside = ramp(bv - up, soft) * ramp(lo - bv, soft) * ends
    iris = ramp(f.iris_r - np.hypot(bu - ec, bv - f.eye_y), soft)
    value = inside * (f.sclera + iris * (f.iris - f.skin - f.sclera))
    lid = f.lash * gauss(bv - (up - 0.004), 0.007) * ramp((1.1 - np.abs(s)) * f.eye_w, soft)
    crease = 10.0 * gauss(bv - (up - 0.028 - 0.4 * (h_up - f.eye_h)), 0.007) * ends
    lower = 8.0 * gauss(bv - (lo + 0.004), 0.006) * ends
    return rows, cols, value - lid - crease - lower


def cheek(sc: Scene, side: int) -> Patch:
    """One cheek highlight: raised and brighter with AU6, a little with AU12."""
    f, au, sg = sc.face, sc.au, sc.side_gain[side]
    cy = f.cheek_y - MOVE["cheek_raise"] * au["cheek_raise"] * sg - 0.3 * MOVE["lip_pull_up"] * au["lip_pull"] * sg
    cx = side * f.cheek_dx
    rad = 4.5 * f.cheek_r + sc.reach
    box = sc.cv.region(cx - rad, cx + rad, f.cheek_y - rad, f.cheek_y + rad)
    if box is None:
        return None
    rows, cols, bu, bv = box
    amp = f.cheek * (1.0 + MOVE["cheek_glow"] * (au["cheek_raise"] + 0.5 * au["lip_pull"]) * sg)
    return rows, cols, amp * gauss(np.hypot(bu - cx, bv - cy), f.cheek_r)


def glabella(sc: Scene) -> Patch:
    """Vertical lines between the brows (AU4)."""
    brow_v = sc.face.eye_y - sc.face.brow_gap
    box = sc.cv.region(-0.06, 0.06, brow_v - 0.1, brow_v + 0.1)
    if box is None:
        return None
    rows, cols, bu, bv = box
    along = gauss(bv - (brow_v + 0.005), 0.025)
    lines = sum(gauss(bu - s * 0.022, 0.006) for s in (-1, 1))
    return rows, cols, -MOVE["glabella"] * sc.au["brow_lower"] * along * lines


def forehead(sc: Scene) -> Patch:
    """Three horizontal forehead lines, curved with the brows (AU1+2)."""
    brow_v = sc.face.eye_y - sc.face.brow_gap
    box = sc.cv.region(-0.5, 0.5, brow_v - 0.2, brow_v + 0.01)
    if box is None:
        return None
    rows, cols, bu, bv = box
    across = gauss(bu, 0.14)
    lines = sum(gauss(bv - (brow_v - 0.075 - 0.045 * i + 0.1 * np.square(bu)), 0.006) for i in range(3))
    return rows, cols, -MOVE["forehead"] * sc.au["brow_raise"] * across * lines


def nose(sc: Scene) -> Patch:
    """The nostrils (raised by AU9) and the wrinkles across the bridge (AU9)."""
    f, au = sc.face, sc.au
    ny = f.nose_y + 0.004 - MOVE["nose_wrinkle"] * au["nose_wrinkle"]
    box = sc.cv.region(-1.5 * f.nose_w - 0.06, 1.5 * f.nose_w + 0.06, f.eye_y + 0.02, f.nose_y + 0.04)
    if box is None:
        return None
    rows, cols, bu, bv = box
    nostrils = sum(ramp(1.0 - np.hypot((bu - s * 0.45 * f.nose_w) / 0.022, (bv - ny) / 0.011), 0.35) for s in (-1, 1))
    wrinkle = sum(gauss(bv - (f.eye_y + 0.06 + 0.02 * i), 0.005) for i in range(3)) * gauss(bu, 0.035)
    return rows, cols, -f.nostril * nostrils - MOVE["nose_lines"] * au["nose_wrinkle"] * wrinkle


Corners = tuple[dict[int, np.ndarray], dict[int, np.ndarray]]
"""The mouth corners' x and y offsets per side (-1 left, +1 right), relative to the mouth's centre."""


def mouth_corners(sc: Scene) -> Corners:
    """Where the corners move: up and out (AU12, direction jittered per clip), down (AU15), in as the lips part."""
    f, au = sc.face, sc.au
    corner_x, corner_y = {}, {}
    for side in (-1, 1):
        sg = sc.side_gain[side]
        turn = f32(sc.pose.turn)[:, None, None, None] * side
        pull_up = MOVE["lip_pull_up"] * au["lip_pull"] * sg
        pull_out = MOVE["lip_pull_out"] * au["lip_pull"] * sg
        dx = pull_out * np.cos(turn) + pull_up * np.sin(turn) - 0.003 * au["lip_depress"] - 0.0045 * au["jaw_drop"]
        dy = -pull_up * np.cos(turn) + pull_out * np.sin(turn) + MOVE["lip_depress"] * au["lip_depress"] * sg
        corner_x[side] = f.mouth_w + dx
        corner_y[side] = f.mouth_curve + dy
    return corner_x, corner_y


def mouth(sc: Scene, corners: Corners) -> Patch:
    """The lips and the line between them, bent to the moving corners; the lips part at the centre (AU25/26)."""
    f, soft, reach = sc.face, sc.soft, sc.reach
    corner_x, corner_y = corners
    box = sc.cv.region(
        -f.mouth_w - reach, f.mouth_w + reach, f.mouth_y - f.lip_up - reach - 0.02, f.mouth_y + f.lip_lo + reach + 0.04
    )
    if box is None:
        return None
    rows, cols, bu, bv = box
    neg = bu < 0
    half = np.where(neg, corner_x[-1], corner_x[1])
    s = bu / half
    s2 = np.square(s)
    shape = np.clip(1.0 - s2, 0.0, None)
    line = f.mouth_y + np.where(neg, corner_y[-1], corner_y[1]) * s2
    gap = MOVE["jaw_drop"] * sc.au["jaw_drop"] * shape
    ends = ramp((1.0 - np.abs(s)) * half, soft)
    lip_shape = np.sqrt(shape)
    upper = ramp(bv - (line - f.lip_up * lip_shape), soft) * ramp(line - bv, soft)
    lower = ramp(bv - (line + gap), soft) * ramp(line + gap + f.lip_lo * lip_shape - bv, soft)
    opening = ramp(bv - line, soft) * ramp(line + gap - bv, soft)
    seam = gauss(bv - (line + 0.5 * gap), 0.0055)
    value = -f.lip_dark * (upper + lower) - (f.skin - 25.0) * opening - f.mouth_line * seam
    return rows, cols, value * ends


def fold(sc: Scene, side: int, corners: Corners) -> Patch:
    """One nasolabial fold, from the nose wing toward the (moving) mouth corner; deepened by AU12 and AU9."""
    f, au, sg, reach = sc.face, sc.au, sc.side_gain[side], sc.reach
    corner_x, corner_y = corners
    x0, y0 = side * 1.3 * f.nose_w, f.nose_y - 0.015
    x1 = side * (corner_x[side] + 0.03)
    y1 = f.mouth_y + corner_y[side] + 0.01
    lo_u, hi_u = sorted((x0, side * (f.mouth_w + 0.03)))
    box = sc.cv.region(lo_u - reach, hi_u + reach, y0 - 0.03, f.mouth_y + reach + 0.04)
    if box is None:
        return None
    rows, cols, bu, bv = box
    d, t = segment_distance(bu, bv, x0, y0, x1, y1)
    depth = f.fold * (1.0 + MOVE["fold_deepen"] * (au["lip_pull"] * sg + 0.3 * au["nose_wrinkle"]))
    return rows, cols, -depth * gauss(d, 0.011) * (1.0 - 0.6 * t)
