"""A procedural stand-in for the MEGC2019 composite: synthetic faces with micro-expressions.

The licensed micro-expression databases cannot be shipped, so icezoo's default
dataset is drawn here: 68 subjects in three "datasets" (SMIC 16, CASME II 24,
SAMM 28), 442 clips, the composite's exact class balance (:data:`COUNTS`).

Face model
    Each subject has its own face (:class:`Face`, drawn by :func:`random_face`):
    head ellipse, skin and background brightness, lighting direction, a fixed
    low-frequency skin texture, hair line, eyes (spacing, size, iris), brows
    (height, thickness, arch, tilt), nose, mouth (width, lip thickness, resting
    curvature) and cheeks. Everything is an implicit, anti-aliased shape
    (soft ellipses, soft-edged bands, gaussian strokes) evaluated on the pixel
    grid, so sub-pixel motion changes the image.

Clips
    Each clip has its own small head translation (up to 2 px at 128x128),
    lighting change, expression intensity (0.6 to 1.0), per-action-unit
    jitter, left/right asymmetry and a slight jitter of the motion's direction
    (:class:`ClipPose`). The onset frame is the subject's neutral face in that
    pose and light; the apex frame moves the face by the class's action units;
    the neighbours are the same face at 0.85 to 0.95 of the apex intensity.
    Every frame gets its own faint sensor noise, so ``|apex - onset|`` shows the
    motion and little else.

Class motions (micro-expression scale, a few pixels at 128x128)
    positive: lip corners pulled up and out, cheeks raised, nasolabial folds
    deepened, lower lids raised (AU6 + AU12). surprise: brows raised with
    forehead lines (AU1 + AU2), upper lids raised (AU5), lips parted (AU25/26).
    negative: brows lowered and drawn together with glabellar lines (AU4), lip
    corners depressed (AU15), a slight nose wrinkle (AU9).

The identity variation (brow height, resting mouth curvature, eye size...)
is of the same order as the motion, so recognising the class from an apex
frame of an unseen subject is possible but not trivial. Same arguments give
byte-identical arrays: every subject and clip draws from its own generator
derived from ``(seed, dataset, subject, clip)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping

import numpy as np

from ..io import atomic_write
from .clips import CLASSES, DATASETS, ClipSet, neighbour_offsets

FORMAT_VERSION = "icezoo-synthetic-4"
"""Part of the cache key: bump it with every change to the generator's output, or stale caches are served."""

COUNTS: dict[str, dict[str, int]] = {
    "smic": {"subjects": 16, "negative": 70, "positive": 51, "surprise": 43},
    "casme2": {"subjects": 24, "negative": 88, "positive": 32, "surprise": 25},
    "samm": {"subjects": 28, "negative": 92, "positive": 26, "surprise": 15},
}
"""Subjects and clips per class of each source dataset of the MEGC2019 composite (68 subjects, 442 clips)."""
assert tuple(COUNTS) == DATASETS

AUS: tuple[str, ...] = (
    "brow_raise",  # AU1+2: inner and outer brow raiser
    "lid_raise",  # AU5: upper lid raiser
    "jaw_drop",  # AU25/26: lips part
    "brow_lower",  # AU4: brow lowerer (down and together)
    "lip_depress",  # AU15: lip corner depressor
    "nose_wrinkle",  # AU9: nose wrinkler
    "cheek_raise",  # AU6: cheek raiser, lid tightener
    "lip_pull",  # AU12: lip corner puller
)
"""The action units the renderer animates; an expression is one amplitude per AU."""

CLASS_AUS: dict[str, dict[str, float]] = {
    "positive": {"lip_pull": 1.0, "cheek_raise": 0.8},
    "negative": {"brow_lower": 1.0, "lip_depress": 0.8, "nose_wrinkle": 0.4},
    "surprise": {"brow_raise": 1.0, "lid_raise": 0.8, "jaw_drop": 0.7},
}
"""The action units of each class at full intensity."""

# Displacements at AU amplitude 1 and motion=1, in face units (the image spans
# [-1, 1], so one pixel at 128x128 is 0.0156).
MOVE: dict[str, float] = {
    "brow_raise": 0.030,  # brows up
    "lid_raise": 0.42,  # upper-lid opening grows by this fraction
    "jaw_drop": 0.021,  # lips part by this much at the centre
    "brow_lower": 0.020,  # brows down (inner ends a little more)
    "brow_pull": 0.016,  # brows drawn toward the midline
    "lip_depress": 0.026,  # lip corners down
    "nose_wrinkle": 0.009,  # nostrils up
    "cheek_raise": 0.020,  # cheek highlight up
    "lid_narrow": 0.26,  # lower-lid opening shrinks by this fraction
    "lip_pull_up": 0.027,  # lip corners up
    "lip_pull_out": 0.015,  # lip corners outward
    # appearance changes: gray levels of the lines that appear, relative growth of shading
    "glabella": 6.8,  # vertical lines between the brows (AU4)
    "forehead": 4.5,  # horizontal forehead lines (AU1+2)
    "nose_lines": 5.2,  # lines across the nose bridge (AU9)
    "fold_deepen": 1.0,  # nasolabial folds deepen (AU12)
    "cheek_glow": 0.45,  # cheek highlight grows (AU6)
}

NEIGHBOUR_STEP = 0.05
"""A neighbour ``d`` frames from the apex shows ``1 - 0.05 |d|`` (+-0.015) of the apex intensity."""

NOISE_STD = 0.8
"""Per-frame sensor noise, gray levels."""


# --------------------------------------------------------------------- faces


@dataclasses.dataclass(frozen=True)
class Face:
    """One subject's identity: geometry and shading, in face units (the image spans [-1, 1]).

    Vertical coordinates grow downward; features are placed relative to the head
    centre ``(cx, cy)``. Gray levels are in 0..255 before lighting.
    """

    cx: float = 0.0
    cy: float = 0.05
    head_a: float = 0.70  # head half-width
    head_b: float = 0.92  # head half-height
    bg: float = 80.0
    bg_grad: float = 0.0  # background brightness change top to bottom
    skin: float = 150.0
    edge_shade: float = 0.25  # darkening toward the face outline
    light_angle: float = 0.0
    light_strength: float = 0.15
    tex_k: tuple[tuple[float, float], ...] = ()  # skin texture wave vectors
    tex_phase: tuple[float, ...] = ()
    tex_amp: tuple[float, ...] = ()
    hair: float = 45.0
    hair_y: float = -0.55  # hair line at the midline
    hair_curve: float = 0.5  # hair line comes down at the sides
    eye_y: float = -0.12
    eye_dx: float = 0.25  # half the distance between the eyes
    eye_w: float = 0.10  # eye half-width
    eye_h: float = 0.042  # upper-lid opening above the eye line
    eye_lo: float = 0.75  # lower-lid opening, relative to eye_h
    iris_r: float = 0.038
    iris: float = 45.0
    sclera: float = 28.0  # sclera brighter than skin by this
    lash: float = 55.0  # darkness of the upper lid line
    brow_gap: float = 0.11  # brow above the eye line
    brow_w: float = 0.115  # brow half-length
    brow_t: float = 0.016  # brow half-thickness
    brow_dark: float = 55.0
    brow_arch: float = 0.02
    brow_tilt: float = 0.0  # > 0: inner end lower
    brow_dx: float = 0.0  # brow centre outward of the eye centre
    nose_y: float = 0.18
    nose_w: float = 0.072
    nostril: float = 35.0
    nose_shade: float = 8.0
    mouth_y: float = 0.41
    mouth_w: float = 0.155  # mouth half-width
    lip_up: float = 0.024
    lip_lo: float = 0.03
    lip_dark: float = 25.0
    mouth_curve: float = 0.0  # resting corner offset (> 0: corners lower)
    mouth_line: float = 55.0
    cheek_dx: float = 0.29
    cheek_y: float = 0.10
    cheek_r: float = 0.10
    cheek: float = 8.0
    fold: float = 5.0  # nasolabial fold darkness


def random_face(rng: np.random.Generator) -> Face:
    """Draw one subject's face."""
    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    n_tex = 10
    wavelength = rng.uniform(0.22, 1.0, n_tex)
    direction = rng.uniform(0.0, np.pi, n_tex)
    k = 2 * np.pi / wavelength
    tex_amp = rng.uniform(0.5, 1.0, n_tex)
    tex_amp *= u(5.0, 9.0) / np.sqrt(0.5 * np.sum(tex_amp**2))  # rms of the texture, gray levels
    eye_h = u(0.034, 0.05)
    return Face(
        cx=u(-0.03, 0.03),
        cy=u(0.02, 0.08),
        head_a=u(0.66, 0.76),
        head_b=u(0.86, 0.96),
        bg=u(45.0, 110.0),
        bg_grad=u(-25.0, 25.0),
        skin=u(120.0, 180.0),
        edge_shade=u(0.15, 0.35),
        light_angle=u(0.0, 2 * np.pi),
        light_strength=u(0.06, 0.22),
        tex_k=tuple((float(kk * np.cos(d)), float(kk * np.sin(d))) for kk, d in zip(k, direction, strict=True)),
        tex_phase=tuple(float(p) for p in rng.uniform(0.0, 2 * np.pi, n_tex)),
        tex_amp=tuple(float(a) for a in tex_amp),
        hair=u(20.0, 75.0),
        hair_y=u(-0.64, -0.5),
        hair_curve=u(0.25, 0.7),
        eye_y=u(-0.16, -0.08),
        eye_dx=u(0.22, 0.28),
        eye_w=u(0.085, 0.11),
        eye_h=eye_h,
        eye_lo=u(0.6, 0.9),
        iris_r=u(0.85, 1.05) * eye_h,
        iris=u(25.0, 70.0),
        sclera=u(18.0, 38.0),
        lash=u(40.0, 70.0),
        brow_gap=u(0.085, 0.13),
        brow_w=u(0.10, 0.13),
        brow_t=u(0.011, 0.02),
        brow_dark=u(35.0, 75.0),
        brow_arch=u(0.008, 0.035),
        brow_tilt=u(-0.02, 0.02),
        brow_dx=u(-0.015, 0.02),
        nose_y=u(0.14, 0.22),
        nose_w=u(0.06, 0.085),
        nostril=u(25.0, 50.0),
        nose_shade=u(5.0, 12.0),
        mouth_y=u(0.37, 0.46),
        mouth_w=u(0.13, 0.18),
        lip_up=u(0.018, 0.03),
        lip_lo=u(0.022, 0.038),
        lip_dark=u(12.0, 35.0),
        mouth_curve=u(-0.02, 0.02),
        mouth_line=u(40.0, 70.0),
        cheek_dx=u(0.26, 0.32),
        cheek_y=u(0.06, 0.13),
        cheek_r=u(0.08, 0.12),
        cheek=u(5.0, 12.0),
        fold=u(3.0, 7.0),
    )


@dataclasses.dataclass(frozen=True)
class ClipPose:
    """Per-clip nuisance parameters, each an array ``[C]`` (one entry per clip)."""

    tx: np.ndarray  # head translation, face units
    ty: np.ndarray
    gain: np.ndarray  # overall brightness factor
    light_turn: np.ndarray  # change of the light direction, radians
    light_boost: np.ndarray  # change of the light gradient's strength
    asym: np.ndarray  # left/right imbalance of the motion (left x (1+asym), right x (1-asym))
    turn: np.ndarray  # jitter of the direction of the lip-corner motion, radians
    skew: np.ndarray  # inner vs outer brow motion imbalance

    @staticmethod
    def neutral(n: int = 1) -> ClipPose:
        z = np.zeros(n)
        return ClipPose(z, z, np.ones(n), z, z, z, z, z)

    @staticmethod
    def draw(rng: np.random.Generator) -> ClipPose:
        """One clip's pose (arrays of length 1)."""
        shift = 2 * 2.0 / 128  # +-2 px at 128x128
        def v(lo: float, hi: float) -> np.ndarray:
            return np.array([rng.uniform(lo, hi)])

        return ClipPose(
            tx=v(-shift, shift),
            ty=v(-shift, shift),
            gain=v(0.94, 1.06),
            light_turn=v(-0.3, 0.3),
            light_boost=v(-0.03, 0.03),
            asym=v(-0.2, 0.2),
            turn=v(-0.25, 0.25),
            skew=v(-0.25, 0.25),
        )

    @staticmethod
    def stack(poses: list[ClipPose]) -> ClipPose:
        return ClipPose(*(np.concatenate([getattr(p, f.name) for p in poses]) for f in dataclasses.fields(ClipPose)))


def expression(label: str | int, amount: float = 1.0, jitter: Mapping[str, float] | None = None) -> np.ndarray:
    """The AU amplitude vector ``[len(AUS)]`` of one class at ``amount`` (0 = neutral)."""
    name = CLASSES[label] if isinstance(label, (int, np.integer)) else label
    out = np.zeros(len(AUS))
    for au, a in CLASS_AUS[name].items():
        out[AUS.index(au)] = a * amount * (1.0 if jitter is None else jitter.get(au, 1.0))
    return out


# ----------------------------------------------------------------- rendering


def _ramp(d: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased step: 0 for d << 0, 1 for d >> 0, linear over ``width``."""
    return np.clip(d * np.float32(1.0 / width) + np.float32(0.5), 0.0, 1.0)


def _gauss(d: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    return np.exp(np.float32(-0.5) * np.square(d / sigma))


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


class _Canvas:
    """The pixel grid of C clips x T frames, with face-centred coordinates per clip."""

    def __init__(self, size: int, ox: np.ndarray, oy: np.ndarray, frames: int):
        self.size = size
        self.px = 2.0 / size
        self.grid = _f32((np.arange(size) + 0.5) * self.px - 1.0)
        self.ox = _f32(ox)
        self.oy = _f32(oy)
        self.frames = frames

    def _span(self, lo: float, hi: float, origin: np.ndarray) -> slice:
        a = float(origin.min()) + lo
        b = float(origin.max()) + hi
        i0 = int(np.floor((a + 1.0) / self.px - 0.5))
        i1 = int(np.ceil((b + 1.0) / self.px - 0.5)) + 1
        return slice(max(0, i0), min(self.size, i1))

    def region(self, u0: float, u1: float, v0: float, v1: float):
        """Pixels covering face box ``[u0,u1] x [v0,v1]`` in every clip: (rows, cols, u [C,1,1,w], v [C,1,h,1]), or None."""
        rows = self._span(v0, v1, self.oy)
        cols = self._span(u0, u1, self.ox)
        if rows.stop <= rows.start or cols.stop <= cols.start:
            return None
        u = self.grid[cols][None, None, None, :] - self.ox[:, None, None, None]
        v = self.grid[rows][None, None, :, None] - self.oy[:, None, None, None]
        return rows, cols, u, v


def _segment_distance(u, v, x0, y0, x1, y1):
    """Distance to the segment (x0,y0)-(x1,y1) and the position along it (0..1)."""
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((u - x0) * dx + (v - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(u - (x0 + t * dx), v - (y0 + t * dy)), t


def render_faces(face: Face, pose: ClipPose, expressions: np.ndarray, image_size: int = 128) -> np.ndarray:
    """Render C clips x T frames of one face as float32 ``[C, T, S, S]`` gray levels (noise-free).

    ``expressions`` is ``[C, T, len(AUS)]``, ``pose`` holds C clips. All frames of a clip share its pose and lighting; only the expression differs.
    """
    expressions = _f32(expressions)
    if expressions.ndim != 3 or expressions.shape[2] != len(AUS):
        raise ValueError(f"expressions must be [C, T, {len(AUS)}], got {expressions.shape}")
    C, T, _ = expressions.shape
    S = int(image_size)
    f = face
    cv = _Canvas(S, f.cx + pose.tx, f.cy + pose.ty, T)
    px = cv.px
    soft = max(0.008, 0.7 * px)  # edge width of small features
    au = {name: expressions[:, :, i, None, None] for i, name in enumerate(AUS)}  # [C,T,1,1]
    reach = 0.03 + 0.08 * max(1.0, float(np.abs(expressions).max(initial=0.0)))
    asym = _f32(pose.asym)[:, None, None, None]
    side_gain = {-1: 1.0 + asym, 1: 1.0 - asym}

    # --- static layer, per clip ([C,1,S,S]) ---------------------------------
    g = cv.grid
    X = g[None, None, None, :]
    Y = g[None, None, :, None]
    u = X - cv.ox[:, None, None, None]
    v = Y - cv.oy[:, None, None, None]
    r2 = np.square(u / f.head_a) + np.square(v / f.head_b)
    r = np.sqrt(r2)
    face_mask = _ramp((1.0 - r) * f.head_a, max(0.02, 1.2 * px))

    # skin texture: sum of plane waves, separable, as a batched matrix product
    if f.tex_amp:
        kx = _f32([k[0] for k in f.tex_k])
        ky = _f32([k[1] for k in f.tex_k])
        ph = _f32(f.tex_phase)
        amp = _f32(f.tex_amp)
        uu = g[None, :, None] - cv.ox[:, None, None]  # [C,S,1]
        vv = g[None, :, None] - cv.oy[:, None, None]
        au_ = kx * uu + ph  # [C,S,K]
        av_ = ky * vv
        left = np.concatenate([np.cos(av_), np.sin(av_)], axis=2) * np.concatenate([amp, amp])  # rows
        right = np.concatenate([np.sin(au_), np.cos(au_)], axis=2)  # cols
        texture = np.matmul(left, right.transpose(0, 2, 1))[:, None]  # [C,1,S,S]
    else:
        texture = 0.0
    albedo = f.skin * (1.0 - f.edge_shade * np.square(r2)) + texture

    # static nose: bridge shading and tip highlight
    box = cv.region(-2 * f.nose_w, 2 * f.nose_w, f.eye_y, f.nose_y + 0.1)
    if box is not None:
        rows, cols, bu, bv = box
        along = _ramp(bv - (f.eye_y + 0.03), 0.04) * _ramp((f.nose_y - 0.02) - bv, 0.03)
        shade = sum(_gauss(bu - s * 0.55 * f.nose_w, 0.012) for s in (-1, 1))
        tip = _gauss(np.hypot(bu, bv - (f.nose_y - 0.035)), 0.025)
        albedo[:, :, rows, cols] += -f.nose_shade * shade * along + 7.0 * tip

    angle = f.light_angle + _f32(pose.light_turn)[:, None, None, None]
    strength = f.light_strength + _f32(pose.light_boost)[:, None, None, None]
    light = _f32(pose.gain)[:, None, None, None] * (1.0 + strength * (np.cos(angle) * X + np.sin(angle) * Y))

    hr2 = np.square(u / (1.06 * f.head_a)) + np.square((v + 0.02) / (1.05 * f.head_b))
    hair_mask = _ramp((1.0 - np.sqrt(hr2)) * f.head_a, max(0.02, 1.2 * px)) * _ramp(f.hair_y + f.hair_curve * np.square(u) - v, 0.035)
    hair = f.hair * (1.0 + 0.08 * np.sin(45.0 * u + 9.0 * v))

    base = f.bg + f.bg_grad * 0.5 * Y
    base = base + face_mask * (albedo * light - base)
    base = base + hair_mask * (hair * light - base)
    gain = face_mask * (1.0 - hair_mask) * light  # how an albedo change shows in the image
    base = base.astype(np.float32)
    gain = gain.astype(np.float32)

    # --- moving features, per frame ([C,T,h,w] patches) ---------------------
    delta = np.zeros((C, T, S, S), dtype=np.float32)

    def add(box, value):
        rows, cols = box[0], box[1]
        delta[:, :, rows, cols] += value

    brow_v = f.eye_y - f.brow_gap
    for side in (-1, 1):
        sg = side_gain[side]
        # brows
        bc = side * (f.eye_dx + f.brow_dx)
        box = cv.region(bc - f.brow_w - reach, bc + f.brow_w + reach, brow_v - f.brow_arch - reach - 0.02, brow_v + reach + 0.02)
        if box is not None:
            _, _, bu, bv = box
            centre = bc - side * MOVE["brow_pull"] * au["brow_lower"] * sg
            t = side * (bu - centre) / f.brow_w  # -1 inner end, +1 outer end
            inner, outer = (1.0 - t) * 0.5, (1.0 + t) * 0.5
            skew = _f32(pose.skew)[:, None, None, None]
            dy = -MOVE["brow_raise"] * au["brow_raise"] * sg * (inner * (0.9 + skew) + outer * (1.1 - skew))
            dy = dy + MOVE["brow_lower"] * au["brow_lower"] * sg * (0.7 + 0.6 * inner)
            line = brow_v - f.brow_arch * (1.0 - np.square(t)) - f.brow_tilt * t + dy
            half = f.brow_t * (1.0 - 0.35 * outer)
            ends = _ramp((1.0 - np.abs(t)) * f.brow_w, 0.025)
            add(box, -f.brow_dark * ends * _ramp(half - np.abs(bv - line), soft))

        # eyes
        ec = side * f.eye_dx
        box = cv.region(ec - f.eye_w - 0.03, ec + f.eye_w + 0.03, f.eye_y - 2.2 * f.eye_h - 0.04 - reach, f.eye_y + f.eye_h + 0.03)
        if box is not None:
            _, _, bu, bv = box
            s = (bu - ec) / f.eye_w
            shape = np.clip(1.0 - np.square(s), 0.0, None)
            h_up = f.eye_h * (1.0 + MOVE["lid_raise"] * au["lid_raise"] * sg - 0.1 * au["cheek_raise"] * sg)
            h_lo = f.eye_h * f.eye_lo * (1.0 - MOVE["lid_narrow"] * au["cheek_raise"] * sg)
            up = f.eye_y - h_up * shape
            lo = f.eye_y + h_lo * shape
            ends = _ramp((1.0 - np.abs(s)) * f.eye_w, soft)
            inside = _ramp(bv - up, soft) * _ramp(lo - bv, soft) * ends
            iris = _ramp(f.iris_r - np.hypot(bu - ec, bv - f.eye_y), soft)
            eye = inside * (f.sclera + iris * (f.iris - f.skin - f.sclera))
            lid = f.lash * _gauss(bv - (up - 0.004), 0.007) * _ramp((1.1 - np.abs(s)) * f.eye_w, soft)
            crease = 10.0 * _gauss(bv - (up - 0.028 - 0.4 * (h_up - f.eye_h)), 0.007) * ends
            lower = 8.0 * _gauss(bv - (lo + 0.004), 0.006) * ends
            add(box, eye - lid - crease - lower)

        # cheeks
        cy = f.cheek_y - MOVE["cheek_raise"] * au["cheek_raise"] * sg - 0.3 * MOVE["lip_pull_up"] * au["lip_pull"] * sg
        cx = side * f.cheek_dx
        rad = 4.5 * f.cheek_r + reach
        box = cv.region(cx - rad, cx + rad, f.cheek_y - rad, f.cheek_y + rad)
        if box is not None:
            _, _, bu, bv = box
            amp = f.cheek * (1.0 + MOVE["cheek_glow"] * (au["cheek_raise"] + 0.5 * au["lip_pull"]) * sg)
            add(box, amp * _gauss(np.hypot(bu - cx, bv - cy), f.cheek_r))

    # glabellar lines (AU4) and forehead lines (AU1+2)
    box = cv.region(-0.06, 0.06, brow_v - 0.1, brow_v + 0.1)
    if box is not None:
        _, _, bu, bv = box
        along = _gauss(bv - (brow_v + 0.005), 0.025)
        add(box, -MOVE["glabella"] * au["brow_lower"] * along * sum(_gauss(bu - s * 0.022, 0.006) for s in (-1, 1)))
    box = cv.region(-0.5, 0.5, brow_v - 0.2, brow_v + 0.01)
    if box is not None:
        _, _, bu, bv = box
        across = _gauss(bu, 0.14)
        lines = sum(_gauss(bv - (brow_v - 0.075 - 0.045 * i + 0.1 * np.square(bu)), 0.006) for i in range(3))
        add(box, -MOVE["forehead"] * au["brow_raise"] * across * lines)

    # nose: nostrils (raised by AU9) and bridge wrinkles
    ny = f.nose_y + 0.004 - MOVE["nose_wrinkle"] * au["nose_wrinkle"]
    box = cv.region(-1.5 * f.nose_w - 0.06, 1.5 * f.nose_w + 0.06, f.eye_y + 0.02, f.nose_y + 0.04)
    if box is not None:
        _, _, bu, bv = box
        nostrils = sum(_ramp(1.0 - np.hypot((bu - s * 0.45 * f.nose_w) / 0.022, (bv - ny) / 0.011), 0.35) for s in (-1, 1))
        wrinkle = sum(_gauss(bv - (f.eye_y + 0.06 + 0.02 * i), 0.005) for i in range(3)) * _gauss(bu, 0.035)
        add(box, -f.nostril * nostrils - MOVE["nose_lines"] * au["nose_wrinkle"] * wrinkle)

    # mouth: corners move (AU12 up/out, AU15 down), lips part (AU25/26)
    corner_x, corner_y = {}, {}
    for side in (-1, 1):
        sg = side_gain[side]
        turn = _f32(pose.turn)[:, None, None, None] * side
        pull_up = MOVE["lip_pull_up"] * au["lip_pull"] * sg
        pull_out = MOVE["lip_pull_out"] * au["lip_pull"] * sg
        dx = pull_out * np.cos(turn) + pull_up * np.sin(turn) - 0.003 * au["lip_depress"] - 0.0045 * au["jaw_drop"]
        dy = -pull_up * np.cos(turn) + pull_out * np.sin(turn) + MOVE["lip_depress"] * au["lip_depress"] * sg
        corner_x[side] = f.mouth_w + dx
        corner_y[side] = f.mouth_curve + dy
    box = cv.region(-f.mouth_w - reach, f.mouth_w + reach, f.mouth_y - f.lip_up - reach - 0.02, f.mouth_y + f.lip_lo + reach + 0.04)
    if box is not None:
        _, _, bu, bv = box
        neg = bu < 0
        half = np.where(neg, corner_x[-1], corner_x[1])
        s = bu / half
        s2 = np.square(s)
        shape = np.clip(1.0 - s2, 0.0, None)
        line = f.mouth_y + np.where(neg, corner_y[-1], corner_y[1]) * s2
        gap = MOVE["jaw_drop"] * au["jaw_drop"] * shape
        ends = _ramp((1.0 - np.abs(s)) * half, soft)
        lip_shape = np.sqrt(shape)
        upper = _ramp(bv - (line - f.lip_up * lip_shape), soft) * _ramp(line - bv, soft)
        lower = _ramp(bv - (line + gap), soft) * _ramp(line + gap + f.lip_lo * lip_shape - bv, soft)
        opening = _ramp(bv - line, soft) * _ramp(line + gap - bv, soft)
        seam = _gauss(bv - (line + 0.5 * gap), 0.0055)
        value = -f.lip_dark * (upper + lower) - (f.skin - 25.0) * opening - f.mouth_line * seam
        add(box, value * ends)

    # nasolabial folds, from the nose wings toward the (moving) mouth corners
    for side in (-1, 1):
        sg = side_gain[side]
        x0, y0 = side * 1.3 * f.nose_w, f.nose_y - 0.015
        x1 = side * (corner_x[side] + 0.03)
        y1 = f.mouth_y + corner_y[side] + 0.01
        lo_u, hi_u = sorted((x0, side * (f.mouth_w + 0.03)))
        box = cv.region(lo_u - reach, hi_u + reach, y0 - 0.03, f.mouth_y + reach + 0.04)
        if box is not None:
            _, _, bu, bv = box
            d, t = _segment_distance(bu, bv, x0, y0, x1, y1)
            depth = f.fold * (1.0 + MOVE["fold_deepen"] * (au["lip_pull"] * sg + 0.3 * au["nose_wrinkle"]))
            add(box, -depth * _gauss(d, 0.011) * (1.0 - 0.6 * t))

    return base + gain * delta


def render_face(face: Face, expr: np.ndarray | str | None = None, amount: float = 1.0, image_size: int = 128,
                pose: ClipPose | None = None) -> np.ndarray:
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


# ------------------------------------------------------------------- dataset


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _assign(rng: np.random.Generator, n_subjects: int, class_counts: list[int]) -> list[list[int]]:
    """Split a dataset's labels over its subjects: each gets at least one clip, most two classes, totals uneven."""
    remaining = np.array(class_counts, dtype=np.int64)
    total = int(remaining.sum())
    if total < n_subjects:
        raise ValueError(f"{total} clips cannot cover {n_subjects} subjects")
    clips: list[list[int]] = [[] for _ in range(n_subjects)]

    def take(exclude: int | None = None) -> int:
        p = remaining.astype(np.float64)
        if exclude is not None and p.sum() > p[exclude]:
            p[exclude] = 0.0
        c = int(rng.choice(len(p), p=p / p.sum()))
        remaining[c] -= 1
        return c

    for s in rng.permutation(n_subjects):  # one clip each
        clips[s].append(take())
    for s in rng.permutation(n_subjects):  # a second, of another class, where the counts allow
        if remaining.sum() == 0:
            break
        clips[s].append(take(exclude=clips[s][0]))
    weights = rng.dirichlet(np.full(n_subjects, 1.5))  # the rest, unevenly
    rest = np.repeat(np.arange(len(remaining)), remaining)
    for c in rng.permutation(rest):
        clips[int(rng.choice(n_subjects, p=weights))].append(int(c))
    return [list(rng.permutation(c)) for c in clips]


def _subject_ids(dataset: str, n: int) -> list[str]:
    if dataset == "smic":
        return [f"s{i + 1:02d}" for i in range(n)]
    if dataset == "casme2":
        return [f"sub{i + 1:02d}" for i in range(n)]
    if dataset == "samm":
        return [f"{i + 6:03d}" for i in range(n)]
    return [f"{i + 1:02d}" for i in range(n)]


def _clip_id(dataset: str, subject: str, k: int, label: int) -> str:
    if dataset == "smic":
        return f"{subject}_{CLASSES[label][:2]}_{k + 1:02d}"
    if dataset == "casme2":
        return f"EP{k + 1:02d}_01"
    return f"{subject}_{k + 1}"


def _frame_key(offset: int) -> int:
    """A frame's own stream key (the onset is 0), so each frame's draws do not depend on how many neighbours there are."""
    return 1 + 2 * abs(offset) - (offset < 0)


def _generate(image_size: int, seed: int, neighbours: int, motion: float) -> ClipSet:
    offsets = neighbour_offsets(neighbours)
    frames = 2 + len(offsets)  # onset, apex, neighbours
    onsets, apexes, labels, subjects, datasets, clip_ids = [], [], [], [], [], []
    for d, (dataset, counts) in enumerate(COUNTS.items()):
        assignment = _assign(_rng(seed, 0, d), counts["subjects"], [counts[c] for c in CLASSES])
        for s, (sid, clip_labels) in enumerate(zip(_subject_ids(dataset, counts["subjects"]), assignment, strict=True)):
            face = random_face(_rng(seed, 1, d, s))
            poses, exprs = [], np.zeros((len(clip_labels), frames, len(AUS)))
            for k, label in enumerate(clip_labels):
                rng = _rng(seed, 2, d, s, k)
                poses.append(ClipPose.draw(rng))
                amount = rng.uniform(0.6, 1.0)
                jitter = {au: rng.uniform(0.8, 1.2) for au in AUS}
                jitters = [_rng(seed, 4, d, s, k, _frame_key(o)).uniform(-0.015, 0.015) for o in offsets]
                scale = [1.0] + [1.0 - NEIGHBOUR_STEP * abs(o) + j for o, j in zip(offsets, jitters, strict=True)]
                for j, sc in enumerate(scale):
                    exprs[k, 1 + j] = expression(int(label), motion * amount * max(sc, 0.0), jitter)
                labels.append(int(label))
                subjects.append(f"{dataset}/{sid}")
                datasets.append(dataset)
                clip_ids.append(_clip_id(dataset, sid, k, int(label)))
            img = render_faces(face, ClipPose.stack(poses), exprs, image_size)
            keys = [0, _frame_key(0)] + [_frame_key(o) for o in offsets]  # onset, apex, neighbours
            for k in range(len(clip_labels)):
                for j, key in enumerate(keys):
                    img[k, j] += NOISE_STD * _rng(seed, 3, d, s, k, key).standard_normal(img.shape[2:], dtype=np.float32)
            img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
            onsets.append(img[:, 0])
            apexes.append(img[:, 1:])
    return ClipSet(
        onset=np.concatenate(onsets),
        apex=np.concatenate(apexes),
        label=np.asarray(labels, dtype=np.int64),
        subject=subjects,
        dataset=datasets,
        clip=clip_ids,
    )


# --------------------------------------------------------------------- cache


def _cache_path(folder: str, params: dict) -> tuple[str, str]:
    key = json.dumps({"version": FORMAT_VERSION, **params}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(folder, f"synthetic-{params['image_size']}px-{digest}.npz"), key


def _load(path: str, key: str, shape: tuple[int, int, int]) -> ClipSet | None:
    """The cached set, or None when the file is missing, unreadable, truncated or not the expected one."""
    n, k, size = shape
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            clips = ClipSet(
                onset=z["onset"],
                apex=z["apex"],
                label=z["label"].astype(np.int64),
                subject=[str(x) for x in z["subject"]],
                dataset=[str(x) for x in z["dataset"]],
                clip=[str(x) for x in z["clip"]],
            )
    except Exception:  # noqa: BLE001 -- missing, truncated, corrupt or foreign: regenerate
        return None
    if clips.onset.shape != (n, size, size) or clips.apex.shape != (n, k, size, size):
        return None
    if clips.onset.dtype != np.uint8 or clips.apex.dtype != np.uint8:
        return None
    return clips


def _save(path: str, key: str, clips: ClipSet) -> None:
    arrays = dict(key=np.array(key), onset=clips.onset, apex=clips.apex, label=clips.label,
                  subject=np.array(clips.subject), dataset=np.array(clips.dataset), clip=np.array(clips.clip))
    try:
        atomic_write(path, lambda handle: np.savez(handle, **arrays), fsync=False)
    except OSError:  # a read-only or full cache folder only costs the next call a regeneration
        pass


def synthetic(image_size: int = 128, seed: int = 0, neighbours: int = 4, motion: float = 1.0,
              cache_dir: str | None = None) -> ClipSet:
    """Synthetic MEGC2019-shaped faces: 68 subjects, 442 clips, the composite's class balance (the default dataset).

    Every subject has its own procedurally drawn face; each clip's onset frame is
    that face at rest and its apex frame (followed by ``neighbours`` frames at
    slightly lower intensity) shows a subtle, class-specific motion: positive
    raises the lip corners and cheeks, surprise raises the brows and lids and
    parts the lips, negative lowers and knits the brows and depresses the lip
    corners. ``motion`` scales every displacement (0 gives expressionless
    apexes). Arrays are byte-identical for equal arguments. With ``cache_dir``
    (or the ``ICEZOO_CACHE`` environment variable) the set is kept as an
    ``.npz`` there and regenerated when missing or unreadable.
    """
    image_size, seed, neighbours, motion = int(image_size), int(seed), int(neighbours), float(motion)
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16, got {image_size}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if neighbours < 0:
        raise ValueError(f"neighbours must be non-negative, got {neighbours}")
    if not np.isfinite(motion) or motion < 0:
        raise ValueError(f"motion must be a finite number >= 0, got {motion}")
    folder = cache_dir if cache_dir is not None else os.environ.get("ICEZOO_CACHE") or None
    if folder is None:
        return _generate(image_size, seed, neighbours, motion)
    params = {"image_size": image_size, "seed": seed, "neighbours": neighbours, "motion": motion}
    path, key = _cache_path(os.path.expanduser(folder), params)
    n = sum(counts[c] for counts in COUNTS.values() for c in CLASSES)
    clips = _load(path, key, (n, 1 + neighbours, image_size))
    if clips is None:
        clips = _generate(image_size, seed, neighbours, motion)
        _save(path, key, clips)
    return clips


__all__ = [
    "AUS",
    "CLASS_AUS",
    "COUNTS",
    "FORMAT_VERSION",
    "ClipPose",
    "Face",
    "expression",
    "random_face",
    "render_face",
    "render_faces",
    "synthetic",
]
