"""What data a report's numbers come from, so a reader can tell a synthetic run from a MEGC2019 one.

Synthetic data is named with its seed; a manifest with its path, clip and
subject counts and the SHA-256 of the manifest file (the same clips, labels
and frames give the same checksum). Only a MEGC2019 manifest run may be set
beside the paper's published numbers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..config.schema import Recipe
from ..data import ClipSet


def describe_data(recipe: Recipe, clips: ClipSet) -> dict[str, Any]:
    """``{"type", "clips", "subjects", ...}`` plus ``seed`` (synthetic) or ``manifest`` and ``sha256``."""
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
    out["comparable_to_published"] = kind == "megc2019"
    return out


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
