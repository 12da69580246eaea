"""What a training run records: loss terms averaged over each window of ``log_every`` steps, as rows.

The step function returns its loss terms as device tensors; they are summed
on the device and brought to the host once per window (one transfer per
log, no sync per step). Every row is kept in ``history`` (saved in the
checkpoint, so a resumed run continues it) and written as ``metrics.csv``.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from ..errors import IcezooError
from ..files import atomic_write_text


class MetricsLog:
    """Sums loss terms over a window of steps and turns each window into one row of ``history``.

    Args:
        csv_path: where ``metrics.csv`` is rewritten after every row (None: nothing is written).
        batch_size: images per step, for images/s.
        steps_per_epoch: steps in one epoch, for the epoch column.
        reduce: averages a tensor over processes (identity outside torchrun).
    """

    def __init__(
        self, csv_path: Path | None, batch_size: int, steps_per_epoch: int, reduce: Callable[[Tensor], Tensor]
    ):
        self.csv_path, self.batch_size, self.steps_per_epoch, self.reduce = (
            csv_path,
            batch_size,
            steps_per_epoch,
            reduce,
        )
        self.history: list[dict[str, float]] = []
        self._reset()

    def _reset(self) -> None:
        self.window: dict[str, Tensor] = {}
        self.steps, self.tick = 0, time.perf_counter()

    def add(self, terms: dict[str, Tensor]) -> None:
        """Add one step's loss terms to the window (on the device: no host sync)."""
        for key, value in terms.items():
            self.window[key] = self.window[key] + value if key in self.window else value.clone()
        self.steps += 1

    def row(self, step: int, lr: float) -> dict[str, float]:
        """Close the window into a row (step, epoch, lr, each term's mean, images/s); refuse a non-finite loss."""
        seconds = time.perf_counter() - self.tick
        means = self.reduce(torch.stack([v.float() for v in self.window.values()]).div(self.steps)).tolist()
        values = dict(zip(self.window, means))
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            last = self.history[-1]["step"] if self.history else 0
            raise IcezooError(
                f"training diverged: loss {bad[0]} is {values[bad[0]]} at step {step} "
                f"(last finite log at step {last}); lower train.lr or check the data"
            )
        row = {"step": step, "epoch": step / self.steps_per_epoch, "lr": lr, **values}
        row["img_per_s"] = self.steps * self.batch_size / max(seconds, 1e-9)
        self.history.append(row)
        if self.csv_path is not None:
            self.write_csv()
        self._reset()
        return row

    def write_csv(self) -> None:
        """``metrics.csv``: one row per log, every column any row has."""
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_text(self.csv_path, buffer.getvalue())
