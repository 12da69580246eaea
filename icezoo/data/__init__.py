"""Data: the clip format, a recipe's clips, the synthetic default dataset, MEGC2019 manifests and ``prepare``."""

from .clips import CLASSES, DATASETS, ClipFrames, ClipSet, check_fits, neighbour_offsets, to_unit_range
from .loading import load_clips

__all__ = [
    "CLASSES",
    "DATASETS",
    "ClipFrames",
    "ClipSet",
    "check_fits",
    "load_clips",
    "neighbour_offsets",
    "to_unit_range",
]
