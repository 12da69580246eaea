"""Inputs (kind ``input``): what a recogniser reads, computed from a clip.

An input is built from its recipe spec (``cls(**params)``), says the shape it
yields (``shape(image_size)``) and, called on a :class:`~icezoo.data.clips.ClipSet`,
returns ``float32 [N, *shape]`` (one clip: ``clips.subset([i])``):

- ``apex`` (:class:`Apex`): the apex face, ``[1, H, W]`` in [-1, 1] as the trainer feeds faces (or [0, 1]),
  optionally read as a centre crop (a random one in training).
- ``flow`` (:class:`Flow`): TV-L1 optical flow u, v from the onset to the apex or the middle frame, ``[2, 28, 28]``.
- ``flow_strain`` (:class:`FlowStrain`): u, v and the optical strain, ``[3, 28, 28]`` (STSTNet's input).
- ``flow_hsv`` (:class:`FlowHSV`): Farneback flow onset -> apex as ME-Recognizer's HSV picture, ``[3, 224, 224]``.
- ``lbp_top`` (:class:`LBPTop`): LBP-TOP histograms of the onset..offset sequence, 11,328 features.

Features that take time (flow, LBP-TOP) are computed once per clip and kept
(:mod:`.cache`): keyed by a digest of the frames read and the input's
parameters and code version, so the folds of a LOSO share them.
"""

from .base import Input, clip_key, frames_digest, sequence_digest
from .flow import Flow, FlowStrain, optical_strain, tvl1_flow
from .flow_image import FlowHSV, farneback_hsv
from .frames import Apex
from .lbp_top import LBPTop, lbp_codes, lbp_top, temporal_interpolation

__all__ = [
    "Apex",
    "Flow",
    "FlowHSV",
    "FlowStrain",
    "Input",
    "LBPTop",
    "clip_key",
    "farneback_hsv",
    "frames_digest",
    "lbp_codes",
    "lbp_top",
    "optical_strain",
    "sequence_digest",
    "temporal_interpolation",
    "tvl1_flow",
]
