"""The feature cache: one ``.npy`` per clip and input, under ``ICEZOO_CACHE/features/<input>/``.

A file is named by :func:`~icezoo.inputs.base.clip_key` (a digest of the
frames read and of the input's name, parameters and code version), so a changed
frame, parameter or algorithm gets a new file and a stale one is never served.
Files are written atomically; a folder that cannot be written only costs a
recomputation. A file that is there but unreadable, or not the expected
array, is an error naming it (it was not written by icezoo, or the disk is
failing): delete it to compute it afresh. Without ``ICEZOO_CACHE``, features
are kept in memory only, for the process's life (:data:`MEMORY_ITEMS`).
"""

from __future__ import annotations

import collections
import contextlib
from pathlib import Path

import numpy as np

from ..data.synthetic.cache import cache_folder
from ..errors import IcezooError
from ..files import atomic_write

MEMORY_ITEMS = 20_000
"""Features kept in memory per process (every clip of the composite for several inputs)."""

_memory: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()


def feature_path(name: str, key: str) -> Path | None:
    """Where the features of ``key`` are kept on disk, or None without a cache folder."""
    folder = cache_folder(None)
    return None if folder is None else Path(folder).expanduser() / "features" / name / f"{key}.npy"


def load(name: str, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """The kept features of ``key`` (float32 of ``shape``), or None when not computed yet."""
    if key in _memory:
        _memory.move_to_end(key)
        return _memory[key]
    path = feature_path(name, key)
    if path is None or not path.exists():
        return None
    try:
        value = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 -- truncated, not an .npy, pickled object...
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: corrupt feature cache file ({reason}); delete it to compute it again") from None
    if value.shape != shape or value.dtype != np.float32:
        raise IcezooError(
            f"{path}: corrupt feature cache file ({value.dtype} {list(value.shape)}, expected float32 {list(shape)}); "
            "delete it to compute it again"
        )
    _remember(key, value)
    return value


def save(name: str, key: str, value: np.ndarray) -> None:
    """Keep ``value`` in memory and, with a cache folder, on disk (atomically)."""
    _remember(key, value)
    path = feature_path(name, key)
    if path is None:
        return
    with contextlib.suppress(OSError):  # a read-only or full cache folder only costs a recomputation
        atomic_write(path, lambda handle: np.save(handle, value, allow_pickle=False), fsync=False)


def forget() -> None:
    """Empty the in-memory store (tests; a process that wants the disk to answer)."""
    _memory.clear()


def _remember(key: str, value: np.ndarray) -> None:
    _memory[key] = value
    _memory.move_to_end(key)
    while len(_memory) > MEMORY_ITEMS:
        _memory.popitem(last=False)


__all__ = ["MEMORY_ITEMS", "feature_path", "forget", "load", "save"]
