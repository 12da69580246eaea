"""Comparing recipes (and other plain data): the part that matters, and the first place two differ.

Used wherever icezoo must refuse to mix two things that look alike: a resumed run and its checkpoint
(:mod:`icezoo.train.checkpoint`), a run folder and the folds or models found in it (:mod:`icezoo.eval.identity`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def without(data: dict[str, Any], keys: Iterable[str], prefix: str = "") -> dict[str, Any]:
    """``data`` (nested dicts) without the dotted key paths in ``keys``."""
    keys = set(keys)
    out = {}
    for key, value in data.items():
        path = prefix + key
        if path in keys:
            continue
        out[key] = without(value, keys, path + ".") if isinstance(value, dict) else value
    return out


def first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """(key path, a's value, b's value) of the first place where two plain structures differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else (path, a, b)
