"""The on-disk cache: a generated set kept as an ``.npz``, keyed by the generator's version and arguments.

The folder is ``cache_dir`` or the ``ICEZOO_CACHE`` environment variable; a
missing, unreadable, truncated or foreign file is regenerated and rewritten
atomically, and a folder that cannot be written only costs a regeneration.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable

import numpy as np

from ...files import atomic_write
from ..clips import ClipSet

FORMAT_VERSION = "icezoo-synthetic-4"
"""Part of the cache key: bump it with every change to the generator's output, or stale caches are served."""


def cache_folder(cache_dir: str | None) -> str | None:
    """The cache folder: ``cache_dir``, else ``ICEZOO_CACHE``, else None (no caching)."""
    return cache_dir if cache_dir is not None else os.environ.get("ICEZOO_CACHE") or None


def cached(where: str, params: dict, shape: tuple[int, int, int], make: Callable[[], ClipSet]) -> ClipSet:
    """The set of ``params`` from the cache in ``where``, else ``make()``'s, saved there for the next call.

    ``shape`` is (clips, frames after the onset, image size): a file of another shape is not served.
    """
    path, key = _cache_path(os.path.expanduser(where), params)
    clips = _load(path, key, shape)
    if clips is None:
        clips = make()
        _save(path, key, clips)
    return clips


def _cache_path(folder: str, params: dict) -> tuple[str, str]:
    """The file for ``params`` (named by a digest of its key) and the key itself, stored inside to be checked."""
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
    arrays = {
        "key": np.array(key),
        "onset": clips.onset,
        "apex": clips.apex,
        "label": clips.label,
        "subject": np.array(clips.subject),
        "dataset": np.array(clips.dataset),
        "clip": np.array(clips.clip),
    }
    with contextlib.suppress(OSError):  # a read-only or full cache folder only costs the next call a regeneration
        atomic_write(path, lambda handle: np.savez(handle, **arrays), fsync=False)
