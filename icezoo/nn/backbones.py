"""timm models with weights from a local file, strictly (nothing is downloaded)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ..errors import IcezooError


def create_timm(model: str, weights: str | None = None, **kwargs: Any) -> nn.Module:
    """``timm.create_model(model, **kwargs)``, with ``weights`` read from a local file.

    timm's ``pretrained_cfg_overlay=dict(file=...)`` does the loading (it adapts
    the stem to ``in_chans`` and drops a classifier it does not need) but is
    lenient about missing tensors, so the file is checked to hold every tensor
    of the network: a file for another model is an error, not a random network.
    """
    import timm

    if not timm.is_model(model):
        raise ValueError(f"timm has no model '{model}'")
    if weights is None:
        return timm.create_model(model, pretrained=False, **kwargs)
    path = os.path.expanduser(weights)
    try:
        net = timm.create_model(model, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs)
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise IcezooError(
            f"weights {weights}: cannot be loaded into timm '{model}': {str(err).splitlines()[0]}"
        ) from None
    stored = stored.get("state_dict", stored) if isinstance(stored, dict) else {}
    missing = [k for k in net.state_dict() if k not in stored]
    if missing:
        raise IcezooError(
            f"weights {weights}: cannot be loaded into timm '{model}': {len(missing)} of its tensors are not in the file (first: {missing[0]})"
        )
    return net


def input_normalisation(net: nn.Module, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and std ([1, C, 1, 1]) a timm model's weights expect for ``channels`` input channels: its
    pretrained ones where the counts match, else their averages (a grayscale face read by an RGB network)."""
    cfg = net.pretrained_cfg
    mean, std = torch.tensor(cfg.get("mean", (0.5,))), torch.tensor(cfg.get("std", (0.5,)))
    if channels != len(mean):
        mean, std = mean.mean().repeat(channels), std.mean().repeat(channels)
    return mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
