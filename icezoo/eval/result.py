"""What a fold computed (:class:`FoldResult`), whoever fitted it: :func:`.fold.fit_and_score` for ICE-GAN,
:func:`icezoo.recognition.fit.fit_and_score_baseline` for a Table I baseline; :mod:`.job` writes it."""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any


@dataclasses.dataclass
class FoldResult:
    """What a fold computed: its prediction rows, its record (``info``: subjects, selection, validation
    predictions, where it ran), its chosen model with the averaged generator, and its synthesis records."""

    rows: list[dict[str, Any]]
    info: dict[str, Any]
    model: Any
    step: int
    averaged: dict[str, Any] | None = None
    records: dict[str, Any] | None = None


def ran_on(device) -> dict[str, Any]:
    """Where a fold ran (the fold's .json keeps it): the host, the device, and the GPUs the process was given."""
    return {"host": socket.gethostname(), "device": str(device),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}  # fmt: skip
