"""The face model: one subject's identity (:class:`Face`), one clip's pose (:class:`ClipPose`) and the action units.

A face is a set of numbers in face units (the image spans [-1, 1], vertical
coordinates grow downward); an expression is one amplitude per action unit
(:data:`AUS`), and :data:`MOVE` says how far each one moves the features.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..clips import CLASSES

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
