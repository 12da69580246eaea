"""Model folders (``icezoo export``) and Hub names, read as a checkpoint is read: data, never code.

A model folder holds ``model.safetensors`` (the weights, keys ``discriminator.*``, ``generator.*`` and, where the
run kept one, ``generator_ema.*``; a baseline's ``recogniser.*``; safetensors stores tensors only, so nothing in
it can run), ``recipe.yaml``
(the resolved recipe, read with the limits of :mod:`icezoo.config.safeyaml`; an ``extends:`` is refused, since
a resolved recipe has none), ``model.json`` (the format, the step, the data the model was trained on and, for a
fold model, the run's identity) and ``README.md``, the model card. :func:`read_model_state` turns such a folder
into the same dictionary a checkpoint holds, so :func:`icezoo.train.checkpoint.load_trained_model` applies one
set of rules to both: the recipe's ``plugins:`` are imported only when installed or allowed.

``hf-hub:ORG/NAME`` names a model folder in huggingface_hub's local cache (``HF_HUB_CACHE``, else
``HF_HOME/hub``, else ``~/.cache/huggingface/hub``); it is looked up there only, never downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import IcezooError

FOLDER_FORMAT = "icezoo-model/1"
WEIGHTS, RECIPE, META, CARD = "model.safetensors", "recipe.yaml", "model.json", "README.md"
HUB_PREFIX = "hf-hub:"
PARTS = ("discriminator", "generator", "generator_ema", "recogniser")  # recogniser: a baseline (icezoo.recognition)


def resolve_model_path(path: str | Path) -> Path:
    """A checkpoint file or model folder; ``hf-hub:ORG/NAME[@REVISION]`` from the local Hub cache only."""
    text = str(path)
    if not text.startswith(HUB_PREFIX):
        return Path(path)
    name, _, revision = text[len(HUB_PREFIX) :].partition("@")
    if name.count("/") != 1 or not all(name.split("/")):
        raise IcezooError(f"{text}: a Hub name is hf-hub:ORG/NAME")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise IcezooError(f"{text}: Hub names need huggingface_hub (pip install huggingface_hub)") from None
    cache = os.environ.get("HF_HUB_CACHE") or None  # read now, not when huggingface_hub was imported
    try:
        folder = snapshot_download(name, revision=revision or None, cache_dir=cache, local_files_only=True)
    except Exception as err:  # LocalEntryNotFoundError, a malformed name, an unreadable cache
        where = cache or "huggingface_hub's default cache"
        raise IcezooError(
            f"{text}: not in the local Hub cache ({where}; icezoo never downloads: fetch it first with "
            f"`huggingface-cli download {name}`) [{type(err).__name__}]"
        ) from None
    return Path(folder)


def read_model_state(path: str | Path) -> dict[str, Any]:
    """A model folder as a checkpoint's dictionary: ``recipe``, ``discriminator``, ``generator``,
    ``generator_ema``, ``step``, ``run``, ``data``; a missing or malformed part is one line naming it."""
    folder = Path(path)
    for name in (WEIGHTS, RECIPE, META):
        if not (folder / name).is_file():
            raise IcezooError(f"{folder}: not an icezoo model folder (no {name}; icezoo export writes one)")
    meta = _read_meta(folder / META)
    state: dict[str, Any] = {
        "recipe": _read_recipe(folder / RECIPE),
        "step": meta.get("step"),
        "run": meta.get("run"),
        "data": meta.get("data"),
        **_read_weights(folder / WEIGHTS),  # only this file: a .pt or pickle beside it is never opened
    }
    return state


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IcezooError(f"{path}: not readable JSON ({str(err).splitlines()[0][:160]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FOLDER_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise IcezooError(f"{path}: not an icezoo model folder (format {found!r}, expected {FOLDER_FORMAT!r})")
    return meta


def _read_recipe(path: Path) -> dict[str, Any]:
    from ..config.loader import read_yaml

    data = read_yaml(path)
    if not isinstance(data, dict):
        raise IcezooError(f"{path}: the recipe is not a mapping")
    if "extends" in data:
        raise IcezooError(
            f"{path}: a model folder's recipe is resolved and may not extend another ({data['extends']!r})"
        )
    return data


def _read_weights(path: Path) -> dict[str, Any]:
    """The parts' state dicts from the safetensors file (tensors only: nothing is unpickled)."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise IcezooError("model folders need safetensors (pip install safetensors)") from None
    try:
        flat = load_file(str(path), device="cpu")
    except Exception as err:  # a truncated or foreign file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: not a readable safetensors file ({reason[:160]})") from None
    parts: dict[str, Any] = {name: None for name in PARTS}
    for key, tensor in flat.items():
        part, _, name = key.partition(".")
        if part not in PARTS or not name:
            raise IcezooError(f"{path}: unexpected tensor {key!r} (keys are {', '.join(p + '.*' for p in PARTS)})")
        parts[part] = parts[part] or {}
        parts[part][name] = tensor
    if parts["discriminator"] is None and parts["recogniser"] is None:
        raise IcezooError(f"{path}: no discriminator weights")
    return parts


def flat_weights(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's parts as one flat mapping for safetensors (contiguous copies: no shared storage)."""
    flat = {}
    for part in PARTS:
        for key, tensor in (state.get(part) or {}).items():
            flat[f"{part}.{key}"] = tensor.detach().cpu().contiguous().clone()
    return flat


def trained_on(state: dict[str, Any]) -> dict[str, Any]:
    """The data a checkpoint's (or model folder's) model was trained on, as reports describe it.

    A model folder carries it (``data``); a fold model carries its run's identity (the dataset's parameters,
    clip and subject counts); a training checkpoint has only its recipe's ``data`` section.
    """
    if isinstance(state.get("data"), dict):
        data = dict(state["data"])
    else:
        run = state.get("run") if isinstance(state.get("run"), dict) else {}
        identity = run.get("identity") if isinstance(run.get("identity"), dict) else {}
        recipe = state.get("recipe") if isinstance(state.get("recipe"), dict) else {}
        data = dict(identity.get("data") or recipe.get("data") or {})
    data.setdefault("type", "synthetic")
    if data["type"] == "synthetic":
        data["seed"] = int(data.get("seed") or 0)
    data.pop("cache_dir", None)
    return data
