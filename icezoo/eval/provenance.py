"""What data a report's numbers come from, so a reader can tell a synthetic run from a MEGC2019 one.

Synthetic data is named with its seed; a manifest with its path, clip and
subject counts and the SHA-256 of the manifest file. Every set also carries
``content_sha256``, a digest of the clips exactly as the run read them (the
frames' pixels after cropping and resizing, labels, subjects, clip ids): a
manifest whose frames were replaced, or a synthetic set drawn with other
parameters, has another one. Only a MEGC2019 manifest run may be set beside
the paper's published numbers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..config.schema import Recipe
from ..data import ClipSet

PATH_KEYS = ("manifest", "cache_dir")
"""Dataset parameters that say where the data is, not what it is: left out of the data's identity."""


def content_digest(clips: ClipSet) -> str:
    """SHA-256 of the clips as read: every frame's pixels, the labels, subjects, datasets and clip ids, in order."""
    digest = hashlib.sha256()
    for array in (clips.onset, clips.apex, clips.label):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps([clips.subject, clips.dataset, clips.clip]).encode())
    return digest.hexdigest()


def describe_data(recipe: Recipe, clips: ClipSet) -> dict[str, Any]:
    """``{"type", "clips", "subjects", "content_sha256", ...}`` plus ``seed`` (synthetic) or ``manifest`` and
    ``sha256`` (the manifest file's)."""
    spec = dict(recipe.data)
    kind = spec.get("type", "?")
    out: dict[str, Any] = {"type": kind, "clips": len(clips), "subjects": len(clips.subjects())}
    if kind == "synthetic":
        out["seed"] = int(spec.get("seed", 0))
    manifest = spec.get("manifest")
    if manifest:
        path = Path(manifest).expanduser()
        out["manifest"] = str(path)
        out["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    out["content_sha256"] = content_digest(clips)
    out["comparable_to_published"] = kind == "megc2019"
    return out


def data_identity(recipe: Recipe, clips: ClipSet) -> dict[str, Any]:
    """What makes two runs' data the same: the dataset's parameters (not its paths) and the clips' content."""
    spec = {k: v for k, v in recipe.data.items() if k not in PATH_KEYS}
    return {**spec, "clips": len(clips), "subjects": len(clips.subjects()), "content_sha256": content_digest(clips)}


def data_line(data: dict[str, Any]) -> str:
    """One sentence naming the data, for table.md and the command line."""
    if data["type"] == "synthetic":
        return (
            f"Data: icezoo's built-in SYNTHETIC faces (seed {data['seed']}, {data['clips']} clips, "
            f"{data['subjects']} subjects), not MEGC2019; not comparable to published MEGC2019 results."
        )
    if data.get("manifest"):
        return (
            f"Data: {data['type']} manifest {data['manifest']} ({data['clips']} clips, {data['subjects']} subjects, "
            f"sha256 {str(data.get('sha256'))[:16]})."
        )
    return f"Data: dataset '{data['type']}' ({data['clips']} clips, {data['subjects']} subjects)."
