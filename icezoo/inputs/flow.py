"""TV-L1 optical flow and optical strain: the ``flow`` and ``flow_strain`` inputs (Dual-Inception, STSTNet).

The flow is OpenCV's TV-L1 (``cv2.optflow.DualTVL1OpticalFlow_create``, in
``opencv-contrib-python-headless``, the ``baselines`` extra), computed on the
uint8 gray faces at the data's image size (0..255, as OpenCV's parameters
expect), from the onset frame to the apex or to the middle frame of the clip.
u is the horizontal displacement (to the right), v the vertical (down), in
pixels of those faces; they are resized to ``size`` by area averaging and are
not rescaled. The optical strain is STSTNet's Eq. 7,
``sqrt(ux^2 + vy^2 + 1/2 (uy + vx)^2)``, from central differences of the
full-size flow, then resized the same way.

STSTNet's authors fed their network 0..255 images of u, v and strain (each
saved as an image and read back); icezoo feeds the values themselves (pixels,
and strain per pixel), which the recognisers' batch normalisation absorbs.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from ..errors import IcezooError
from .base import Input, check_two_frames, frames_digest, sequence_digest

INSTALL = 'pip install -e ".[baselines]"'
"""The install line the flow inputs name when OpenCV's contrib modules are missing."""


def _cv2():
    """OpenCV with its contrib modules (lazily: only the flow inputs need it)."""
    try:
        import cv2

        cv2.optflow.DualTVL1OpticalFlow_create  # noqa: B018 -- absent from a wheel without contrib
    except (ImportError, AttributeError) as err:
        raise IcezooError(
            f"the flow inputs need OpenCV's TV-L1 from opencv-contrib-python-headless ({err}): {INSTALL} "
            "(another opencv-* wheel installed beside it shadows cv2)"
        ) from None
    return cv2


def tvl1_flow(first: np.ndarray, second: np.ndarray, **params) -> np.ndarray:
    """TV-L1 flow from ``first`` to ``second`` (uint8 ``[H, W]``): ``[2, H, W]`` float32, u then v, in pixels.

    ``params`` are OpenCV's: tau, lambda_, theta, nscales, warps, epsilon,
    inner_iterations, outer_iterations, scale_step, gamma, median_filtering.
    """
    cv2 = _cv2()
    solver = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=params["tau"], lambda_=params["lambda_"], theta=params["theta"], nscales=params["nscales"],
        warps=params["warps"], epsilon=params["epsilon"], innnerIterations=params["inner_iterations"],
        outerIterations=params["outer_iterations"], scaleStep=params["scale_step"], gamma=params["gamma"],
        medianFiltering=params["median_filtering"],
    )  # fmt: skip
    flow = solver.calc(np.ascontiguousarray(first), np.ascontiguousarray(second), None)
    return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)


def optical_strain(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """STSTNet's Eq. 7: ``sqrt(ux^2 + vy^2 + 1/2 (uy + vx)^2)``, x along columns, y along rows (central differences)."""
    uy, ux = np.gradient(u.astype(np.float64))
    vy, vx = np.gradient(v.astype(np.float64))
    return np.sqrt(ux**2 + vy**2 + 0.5 * (uy + vx) ** 2).astype(np.float32)


def resize(field: np.ndarray, size: int) -> np.ndarray:
    """A float ``[H, W]`` field at ``[size, size]`` by area averaging (values are not rescaled)."""
    if field.shape == (size, size):
        return field.astype(np.float32)
    cv2 = _cv2()
    return cv2.resize(field.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


class Flow(Input):
    """TV-L1 optical flow u, v from the onset to the apex (or the middle frame), ``[2, size, size]``.

    Dual-Inception reads it from the onset to the middle frame at 28x28
    (``target: middle``); the parameters are OpenCV's TV-L1 parameters with
    OpenCV's defaults. u and v are pixels of the faces at the data's image
    size, resized by area averaging (see :mod:`icezoo.inputs.flow`). Needs the
    ``baselines`` extra; a clip whose target is its onset is refused.

    Args:
        target: the frame the flow goes to from the onset: the apex, or the middle frame of onset..offset.
        size: side of the resized u and v (28: STSTNet's and Dual-Inception's input).
        tau: time step of the numerical scheme.
        lambda_: weight of the data term (smaller: smoother flow).
        theta: tightness of the coupling between the two sub-problems.
        nscales: pyramid levels.
        warps: warpings per pyramid level.
        epsilon: stopping threshold of the inner iterations.
        inner_iterations: inner iterations per warping.
        outer_iterations: outer iterations per warping.
        scale_step: pyramid scale factor between levels.
        gamma: weight of the illumination-variation term (0: none).
        median_filtering: median filter size applied to the flow after each warping (OpenCV's default 5).
    """

    name: ClassVar[str] = "flow"
    channels: ClassVar[int] = 2
    mirror_negates: ClassVar[tuple[int, ...]] = (0,)  # mirrored left to right, u changes sign (strain does not)
    computes_with: ClassVar[tuple[str, ...]] = ("opencv-contrib-python-headless",)  # its version joins the run's

    def __init__(
        self,
        target: Literal["apex", "middle"] = "apex",
        size: int = 28,
        tau: float = 0.25,
        lambda_: float = 0.15,
        theta: float = 0.3,
        nscales: int = 5,
        warps: int = 5,
        epsilon: float = 0.01,
        inner_iterations: int = 30,
        outer_iterations: int = 10,
        scale_step: float = 0.8,
        gamma: float = 0.0,
        median_filtering: int = 5,
    ) -> None:
        if target not in ("apex", "middle"):
            raise IcezooError(f"input '{self.name}': target must be apex or middle, got {target!r}")
        counts = dict(size=size, nscales=nscales, warps=warps, inner_iterations=inner_iterations,
                      outer_iterations=outer_iterations, median_filtering=median_filtering)  # fmt: skip
        for key, value in counts.items():
            if value < 1:
                raise IcezooError(f"input '{self.name}': {key} must be at least 1, got {value}")
        self.params = dict(
            target=target, size=int(size), tau=float(tau), lambda_=float(lambda_), theta=float(theta),
            nscales=int(nscales), warps=int(warps), epsilon=float(epsilon), inner_iterations=int(inner_iterations),
            outer_iterations=int(outer_iterations), scale_step=float(scale_step), gamma=float(gamma),
            median_filtering=int(median_filtering),
        )  # fmt: skip
        self.target, self.size = target, int(size)
        self.reads = ("onset", target)

    def shape(self, image_size: int) -> tuple[int, ...]:
        return (self.channels, self.size, self.size)

    def frames(self, clips, i: int) -> list[np.ndarray]:
        check_two_frames(clips, i, self.target, self.name)
        if self.target == "apex":
            return [clips.onset[i], clips.apex[i, 0]]
        sequence = clips.clip_frames(i)
        return [clips.onset[i], sequence.frame(sequence.middle)]

    def digests(self, clips, i: int) -> list[str]:
        check_two_frames(clips, i, self.target, self.name)
        if self.target == "apex":
            return [frames_digest([clips.onset[i], clips.apex[i, 0]])]
        sequence = clips.clip_frames(i)
        return [frames_digest([clips.onset[i]]), sequence_digest(sequence, sequence.middle)]

    def flow(self, frames: list[np.ndarray]) -> np.ndarray:
        """u, v at the faces' own size, ``[2, S, S]``."""
        solver = {k: v for k, v in self.params.items() if k not in ("target", "size")}
        return tvl1_flow(frames[0], frames[1], **solver)

    def compute(self, frames: list[np.ndarray]) -> np.ndarray:
        u, v = self.flow(frames)
        return np.stack([resize(u, self.size), resize(v, self.size)])


class FlowStrain(Flow):
    """u, v and optical strain, stacked ``[3, size, size]`` in that order: STSTNet's input (onset -> apex).

    The strain is STSTNet's Eq. 7, ``sqrt(ux^2 + vy^2 + 1/2 (uy + vx)^2)``,
    computed on the full-size flow and resized like u and v (area averaging).
    Values are pixels (u, v) and a dimensionless strain, not the 0..255 images
    STSTNet's authors fed (see :mod:`icezoo.inputs.flow`). The parameters are
    :class:`Flow`'s.

    Args:
        target: the frame the flow goes to from the onset: the apex (STSTNet), or the middle frame of onset..offset.
        size: side of the resized u, v and strain (28: STSTNet's input).
        tau: time step of the numerical scheme.
        lambda_: weight of the data term (smaller: smoother flow).
        theta: tightness of the coupling between the two sub-problems.
        nscales: pyramid levels.
        warps: warpings per pyramid level.
        epsilon: stopping threshold of the inner iterations.
        inner_iterations: inner iterations per warping.
        outer_iterations: outer iterations per warping.
        scale_step: pyramid scale factor between levels.
        gamma: weight of the illumination-variation term (0: none).
        median_filtering: median filter size applied to the flow after each warping (OpenCV's default 5).
    """

    name: ClassVar[str] = "flow_strain"
    channels: ClassVar[int] = 3

    def compute(self, frames: list[np.ndarray]) -> np.ndarray:
        u, v = self.flow(frames)
        return np.stack([resize(u, self.size), resize(v, self.size), resize(optical_strain(u, v), self.size)])


__all__ = ["INSTALL", "Flow", "FlowStrain", "optical_strain", "resize", "tvl1_flow"]
