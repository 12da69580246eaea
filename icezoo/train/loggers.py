"""What a training run records: loss terms averaged over each window of ``log_every`` steps, as rows.

The step function returns its loss terms as device tensors; they are summed
on the device and brought to the host once per window (one transfer per
log, no sync per step). Every row is kept in ``history`` (saved in the
checkpoint, so a resumed run continues it) and goes to the loggers of
``train.loggers``: ``metrics.csv`` and TensorBoard event files (rows and
sample grids). Where standard output is not a terminal (a SLURM log), the
trainer prints :func:`progress_line` per row instead of a progress bar.
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
        tensorboard_dir: where TensorBoard event files go (None: no TensorBoard).
    """

    def __init__(
        self,
        csv_path: Path | None,
        batch_size: int,
        steps_per_epoch: int,
        reduce: Callable[[Tensor], Tensor],
        tensorboard_dir: Path | None = None,
    ):
        self.csv_path, self.batch_size, self.steps_per_epoch, self.reduce = (
            csv_path,
            batch_size,
            steps_per_epoch,
            reduce,
        )
        self.tensorboard = TensorBoardLog(tensorboard_dir) if tensorboard_dir is not None else None
        self.history: list[dict[str, float]] = []
        self._reset()

    @classmethod
    def for_run(
        cls, run_dir: Path | None, loggers: list[str] | None, batch_size: int, steps_per_epoch: int, reduce: Callable
    ) -> MetricsLog:
        """The log of a run folder (None: history only) with the loggers of ``train.loggers``."""
        names = chosen_loggers(loggers) if run_dir is not None else []
        csv_path = run_dir / "metrics.csv" if "csv" in names else None
        tb_dir = run_dir / "tensorboard" if "tensorboard" in names else None
        return cls(csv_path, batch_size, steps_per_epoch, reduce, tb_dir)

    def _reset(self) -> None:
        self.window: dict[str, Tensor] = {}
        self.steps, self.tick = 0, time.perf_counter()

    def add(self, terms: dict[str, Tensor]) -> None:
        """Add one step's loss terms to the window (on the device: no host sync)."""
        for key, value in terms.items():
            self.window[key] = self.window[key] + value if key in self.window else value.clone()
        self.steps += 1

    def row(self, step: int, lrs: dict[str, float]) -> dict[str, float]:
        """Close the window into a row (step, epoch, learning rates, each term's mean, images/s); refuse a
        non-finite loss."""
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
        row = {"step": step, "epoch": step / self.steps_per_epoch, **lrs, **values}
        row["img_per_s"] = self.steps * self.batch_size / max(seconds, 1e-9)
        self.history.append(row)
        if self.csv_path is not None:
            self.write_csv()
        if self.tensorboard is not None:
            self.tensorboard.row(row)
        self._reset()
        return row

    def window_state(self, gather: Callable[[Tensor], Tensor] | None = None) -> dict:
        """The open window (each term's sum and the step count) for a checkpoint, so a run resumed from a
        checkpoint taken mid-window logs the rows an uninterrupted run logs. ``gather`` stacks every process's
        sums (torchrun: every process calls it at the same step); without it, this process's alone."""
        gather = gather or (lambda t: t.unsqueeze(0))
        return {"steps": self.steps, "sums": {k: gather(v.detach()).clone() for k, v in self.window.items()}}

    def load_window_state(self, state: dict | None, rank: int = 0) -> None:
        """Reopen the window :meth:`window_state` saved, this process's own sums (``rank``); None: an empty one."""
        self._reset()
        if state:
            self.window = {k: v[rank].clone() for k, v in state["sums"].items()}
            self.steps = int(state["steps"])

    def image(self, tag: str, path: Path | None, step: int) -> None:
        """A picture the run wrote (a sample grid) to the loggers that take pictures."""
        if path is not None and self.tensorboard is not None:
            self.tensorboard.image(tag, path, step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()

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


def learning_rates(schedulers: list) -> dict[str, float]:
    """The current learning rates: ``lr`` (D's, the first scheduler), and ``lr_g`` where G has one."""
    lrs = {"lr": float(schedulers[0].get_last_lr()[0])}
    if len(schedulers) > 1:
        lrs["lr_g"] = float(schedulers[1].get_last_lr()[0])
    return lrs


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (the optional extra) is installed; found without importing it."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def chosen_loggers(names: list[str] | None) -> list[str]:
    """``train.loggers``, or the default: csv, plus tensorboard when it is installed."""
    if names is not None:
        return list(names)
    return ["csv", "tensorboard"] if tensorboard_available() else ["csv"]


class TensorBoardLog:
    """Every logged row (loss terms, images/s, learning rates) and every sample grid, through TensorBoard's own
    ``SummaryWriter``, into ``DIR/tensorboard``.

    The writer opens at the first row or image, so a run refused before its first step leaves no event file.

    Args:
        log_dir: folder of the event files.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self._writer = None

    @property
    def writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        return self._writer

    def row(self, row: dict[str, float]) -> None:
        step = int(row["step"])
        for key, value in row.items():
            if key == "step":
                continue
            group = "lr" if key.startswith("lr") else "speed" if key == "img_per_s" else "loss"
            self.writer.add_scalar(f"{group}/{key}", value, step)
        self.writer.flush()

    def image(self, tag: str, path: Path, step: int) -> None:
        """A PNG written by the run (a sample grid), as an image at ``step``."""
        import numpy as np
        from PIL import Image

        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"))
        self.writer.add_image(tag, pixels, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def progress_line(row: dict[str, float], total: int, batch_size: int) -> str:
    """One plain line for a log that is not a terminal: step, each loss total, images/s and the time left."""
    step = int(row["step"])
    skip = ("step", "epoch", "img_per_s")
    losses = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in skip and not k.startswith("lr"))
    speed = row.get("img_per_s", 0.0)
    left = (total - step) * batch_size / speed if speed > 0 else float("nan")
    eta = "?" if not math.isfinite(left) else f"{int(left) // 3600}:{int(left) // 60 % 60:02d}:{int(left) % 60:02d}"
    return f"step {step}/{total} ({100 * step / max(total, 1):.0f}%)  {losses}  {speed:.1f} img/s  ETA {eta}"
