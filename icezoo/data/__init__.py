"""Data: the in-memory clip format, the synthetic default dataset, MEGC2019 manifests and ``prepare``."""

from .clips import CLASSES, DATASETS, ClipSet, neighbour_offsets, to_unit_range

__all__ = ["CLASSES", "DATASETS", "ClipSet", "neighbour_offsets", "to_unit_range"]
