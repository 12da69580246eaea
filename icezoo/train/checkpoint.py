"""Checkpoints and other run files, written atomically and read safely.

A checkpoint holds everything a run needs to continue exactly: model weights
(and buffers: batch-norm statistics, spectral-norm vectors), optimiser and
scheduler states, RNG states, the step, and the resolved recipe. It is written
to a temporary file in the same folder and renamed over the old one, so a kill
at any moment leaves the previous checkpoint whole. It is read with
``torch.load(weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import IcezooError
from ..io import atomic_write

FORMAT = "icezoo-checkpoint/1"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save ``state`` (plain data and tensors) atomically, tagged with the format version."""
    payload = {"format": FORMAT, **state}
    return atomic_write(path, lambda h: torch.save(payload, h))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely; a missing, corrupt or foreign file is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise IcezooError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled code...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: not a readable checkpoint ({reason[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise IcezooError(f"{path}: not an icezoo checkpoint (format {found!r}, expected {FORMAT!r})")
    return state


def load_module_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: str | Path) -> None:
    """``module.load_state_dict(state)`` with a one-line error naming the first mismatch."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        detail = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise IcezooError(f"{path}: the checkpoint's {what} does not match the recipe's model ({detail}, {len(missing)} missing, {len(unexpected)} unexpected keys)")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise IcezooError(f"{path}: the checkpoint's {what} does not match the recipe's model ({key}: {tuple(state[key].shape)} in the checkpoint, {tuple(value.shape)} in the model)")
    module.load_state_dict(state)
