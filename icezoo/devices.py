"""Where to run and in what precision: device names turned into a ``torch.device`` or a clear error, and autocast."""

from __future__ import annotations

import contextlib

import torch

from .errors import IcezooError


def resolve_device(spec: str, where: str = "device") -> torch.device:
    """``auto`` -> CUDA when there is one, else the CPU; anything else as torch reads it, checked."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as err:
        raise IcezooError(f"{where}: {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise IcezooError(f"{where}: '{spec}' asked for, but CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise IcezooError(f"{where}: '{spec}' asked for, but there are {torch.cuda.device_count()} CUDA devices")
    return device


def autocast(device: torch.device, precision: str):
    """bf16 autocast on the device when ``precision == "bf16"``, else a no-op context."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
