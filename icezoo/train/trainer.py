"""``icezoo train``: the training loop with its logging, the run folder, checkpoints and resumption.

The batches (:mod:`.batches`) are a function of the seed and the step, and a
checkpoint (:mod:`.checkpoint`) holds every state the loop carries, so a run
resumed from a checkpoint continues exactly as an uninterrupted one (on the
CPU, bit for bit).

Run folder::

    recipe.yaml      the resolved recipe (written first)
    metrics.csv      loss terms, learning rates and speed every log_every steps (train.loggers: csv)
    tensorboard/     the same rows and the sample grids as TensorBoard events (train.loggers: tensorboard)
    checkpoint.pt    the latest checkpoint (atomic; --resume continues from it)
    samples/         onset / synthesised / apex grids per class, every sample_every steps
    curves.png       training curves
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..config.loader import recipe_to_yaml
from ..config.schema import Recipe
from ..data import ClipSet, check_fits, load_clips
from ..devices import resolve_device
from ..errors import IcezooError
from ..files import atomic_write_text, check_out, marked_incomplete
from ..models import GAN, build_model
from . import samples
from .batches import Batch, BatchSampler, derived_seed
from .checkpoint import (
    check_resumable,
    clear_partial_writes,
    load_checkpoint,
    restore_training_state,
    save_checkpoint,
    training_state,
)
from .distributed import Distributed, check_batch
from .ema import GeneratorEMA
from .graphs import CudaGraphStep
from .interrupts import deferred_interrupts
from .loggers import MetricsLog, learning_rates, progress_line
from .objective import Objective, class_weights
from .step import GANStep, make_optimizers, norm_statistics


@dataclasses.dataclass
class TrainResult:
    model: GAN
    step: int
    out_dir: Path | None
    history: list[dict[str, float]]


class Trainer:
    """Trains one recipe on one set of clips (all of the dataset, or a fold's training subjects)."""

    def __init__(
        self,
        recipe: Recipe,
        out_dir: str | Path | None = None,
        *,
        clips: ClipSet | None = None,
        resume: bool | str = False,
        progress: bool = True,
        device: str | None = None,
        leave: bool = True,
        distributed: Distributed | None = None,
    ):
        self.recipe, self.cfg = recipe, recipe.train
        self.out_dir = check_out(out_dir) if out_dir is not None else None
        self.dist = distributed or Distributed()
        self.writes = self.out_dir is not None and self.dist.main  # process 0 writes the run folder
        self.progress, self.leave = progress and self.dist.main, leave
        self.device = self._training_device(device)
        clips = clips if clips is not None else load_clips(recipe)
        m = recipe.model
        check_fits(clips, m.image_size, m.in_channels, m.num_classes, recipe.source)
        self.clips = clips
        cfg = self.cfg
        self.steps_per_epoch = len(clips) // cfg.batch_size
        if self.steps_per_epoch < 1:
            raise IcezooError(
                f"{recipe.source}: train.batch_size ({cfg.batch_size}) is larger than the {len(clips)} training clips"
            )
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.budget = min(self.total_steps, cfg.max_steps) if cfg.max_steps is not None else self.total_steps

        torch.manual_seed(derived_seed(cfg.seed, 0x1CE))  # deterministic initial weights
        self.model = build_model(recipe).to(self.device)
        self.dist.broadcast_module(self.model)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.objective = Objective(recipe.loss, self.model.discriminator.head, recipe.model.in_channels).to(self.device)
        self.opt_g, self.opt_d = make_optimizers(self.model, cfg, capturable=cfg.cuda_graphs)
        self.optimizers = [o for o in (self.opt_d, self.opt_g) if o is not None]
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, self._lr_factor) for o in self.optimizers]
        self.step_fn = GANStep(
            self.model,
            self.objective,
            self.opt_g,
            self.opt_d,
            precision=cfg.precision,
            compile=cfg.compile,
            compile_scope=cfg.compile_scope,
            channels_last=cfg.channels_last,
            after_backward=self.dist.average_gradients if self.dist.active else None,
        )
        self.norm_statistics = norm_statistics(self.model)
        self.ema = GeneratorEMA.of(self.model.generator, cfg.ema_decay)  # None when off
        if cfg.cuda_graphs:  # the whole step as one CUDA graph, replayed
            self.step_fn = CudaGraphStep.for_recipe(self.step_fn, recipe)

        self.batches = BatchSampler(
            clips,
            cfg,
            self.device,
            noise_dim=self.model.noise_dim,
            num_classes=self.model.num_classes,
            random_fake_labels=recipe.loss.fake_labels == "random",
        )
        if recipe.loss.class_balance:
            self.objective.set_class_weights(class_weights(self.labels, recipe.model.num_classes))

        self.step = 0
        run_dir = self.out_dir if self.writes else None
        self.log = MetricsLog.for_run(run_dir, cfg.loggers, cfg.batch_size, self.steps_per_epoch, self.dist.mean)
        if resume == "auto":  # the same command line starts a run or continues it (torchrun --max-restarts)
            found = self.out_dir is not None and (self.out_dir / "checkpoint.pt").exists()
            resume = self.dist.broadcast_object(found)  # process 0's folder decides for all
        if resume:
            self._resume()
        elif self.out_dir is not None and (self.out_dir / "checkpoint.pt").exists():
            raise IcezooError(
                f"{self.out_dir}: holds a run already; pass --resume to continue it, or choose another --out"
            )

    def _training_device(self, override: str | None) -> torch.device:
        """The recipe's device (or ``override``); under torchrun, this process's GPU."""
        device = resolve_device(override or self.cfg.device, "train.device")
        if self.dist.active:
            check_batch(self.cfg.batch_size, self.dist.world, self.recipe.source)
            if device.type == "cuda":
                device = torch.device("cuda", self.dist.local_rank)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions
        return device

    @property
    def history(self) -> list[dict[str, float]]:
        """Every logged row so far (continued across --resume)."""
        return self.log.history

    # -- set-up ---------------------------------------------------------------
    def _lr_factor(self, step: int) -> float:
        """Cosine annealing over the whole schedule (train.epochs), stepped per iteration."""
        if self.cfg.schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * min(step, self.total_steps) / self.total_steps))

    # -- data -----------------------------------------------------------------
    @property
    def labels(self) -> Tensor:
        """The class of every training clip, on the device."""
        return self.batches.labels

    def batch(self, step: int) -> Batch:
        """This process's share of the global batch of ``step`` (onset, apex, labels, z, classes G is asked for).

        Every process draws the same global batch; each trains on its share.
        """
        return self.dist.share(self.batches(step))

    # -- the loop -------------------------------------------------------------
    def run(self, on_epoch: Callable[[int, GAN], None] | None = None) -> TrainResult:
        """Train to the budget; ``on_epoch(step, model)`` is called after each epoch's last step and the final one."""
        cfg = self.cfg
        if self.writes:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out_dir / "recipe.yaml", recipe_to_yaml(self.recipe))
        from tqdm.auto import tqdm

        lines = self.progress and self.leave and not sys.stdout.isatty()  # a log file: plain lines, not a bar
        bar = tqdm(total=self.budget, initial=self.step, desc=self.recipe.name or "train", unit="step",
                   disable=not self.progress or lines, dynamic_ncols=True, leave=self.leave)  # fmt: skip
        marker = marked_incomplete(self.out_dir if self.writes else None, lambda: f"at step {self.step}")
        minutes, saved_at = cfg.checkpoint_minutes, time.monotonic()
        with marker, bar, contextlib.closing(self.log), deferred_interrupts() as received:  # log closed on any exit
            while self.step < self.budget:
                terms = self.step_fn(*self.batch(self.step))
                if self.dist.active:
                    self.dist.average_statistics(self.norm_statistics)
                if self.ema is not None:
                    self.ema.update(self.model.generator)
                for sched in self.schedulers:
                    sched.step()
                self.log.add(terms)
                self.step += 1
                bar.update(1)
                last = self.step == self.budget
                if on_epoch is not None and (self.step % self.steps_per_epoch == 0 or last):
                    on_epoch(self.step, self.model)  # evaluation-side selection (icezoo.eval.selection)
                stop = self._stop_requested(received, self.step % cfg.log_every == 0 or last)
                if self.step % cfg.log_every == 0 or last:  # a stop logs no row: its window goes on in the checkpoint
                    row = self.log.row(self.step, learning_rates(self.schedulers))
                    if lines:
                        print(progress_line(row, self.budget, cfg.batch_size), flush=True)
                    bar.set_postfix({k: f"{row[k]:.3g}" for k in ("d_total", "g_total", "img_per_s") if k in row})
                due = minutes is not None and time.monotonic() - saved_at >= 60 * minutes
                if self.dist.active and minutes is not None:  # all save at the same steps (they gather the window)
                    due = self.step % cfg.log_every == 0 and self.dist.any(due, self.device)
                if self.out_dir is not None and (self.step % cfg.checkpoint_every == 0 or last or stop or due):
                    window = self.log.window_state(self.dist.gather)  # every process's sums, one gather per term
                    if self.writes:
                        self.save(window=window)
                    saved_at = time.monotonic()
                if self.writes and (self.step % cfg.sample_every == 0 or last):
                    self.sample_grid()
                if stop:  # Ctrl-C or a kill: stop between steps, with the checkpoint of a whole step
                    if self.writes:
                        bar.write(
                            f"interrupted: checkpoint of step {self.step} saved in {self.out_dir}; continue with --resume"
                        )
                    signum = received[0] if received else signal.SIGTERM  # another process was signalled
                    raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)
        if self.writes:
            from ..plots import training_curves

            training_curves(self.history, self.out_dir / "curves.png", title=self.recipe.name)
        return TrainResult(self.model, self.step, self.out_dir, self.history)

    def _stop_requested(self, received: list[int], logging_step: bool) -> bool:
        """Whether to stop after this step: at once in one process; under torchrun only at logging steps.

        Several processes must stop after the same step, so they agree by an
        all-reduce, and only at logging steps (every process knows which they
        are), so that the loop does not wait on the host every step.
        """
        if not self.dist.active:
            return bool(received)
        return logging_step and self.dist.any(bool(received), self.device)

    # -- checkpoints ----------------------------------------------------------
    def state(self, window: dict | None = None) -> dict[str, Any]:
        """Everything a checkpoint holds to continue this run exactly; ``window``: the open log window (default:
        this process's alone; under torchrun every process's, gathered by :meth:`MetricsLog.window_state`)."""
        opts = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        window = window if window is not None else self.log.window_state()
        return training_state(self.step, self.recipe, self.model, opts, self.schedulers, self.history, self.ema,
                              window)  # fmt: skip

    def save(self, path: str | Path | None = None, window: dict | None = None) -> Path:
        return save_checkpoint(path or self.out_dir / "checkpoint.pt", self.state(window))

    def _resume(self) -> None:
        if self.out_dir is None:
            raise IcezooError("--resume needs --out DIR, the run folder to continue")
        path = self.out_dir / "checkpoint.pt"
        if not path.exists():
            raise IcezooError(f"{self.out_dir}: no checkpoint.pt to resume from")
        clear_partial_writes(path)  # a kill -9 inside a checkpoint write leaves its temporary file
        state = load_checkpoint(path, map_location=self.device)
        self.load_state(state, path)

    def load_state(self, state: dict[str, Any], path: str | Path) -> None:
        """Continue from ``state`` (a checkpoint read from ``path``), refused unless it fits this recipe and budget."""
        check_resumable(state, self.recipe, path)
        opts = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        self.step, history = restore_training_state(state, path, self.model, opts, self.schedulers, self.ema)
        self.log.history[:] = history
        self.log.load_window_state(state.get("log_window"), self.dist.rank)
        if self.step > self.budget:
            raise IcezooError(
                f"{path}: the checkpoint is at step {self.step}, past this run's budget of {self.budget} steps"
            )

    # -- pictures -------------------------------------------------------------
    def sample_grid(self) -> Path | None:
        """The grid of onset / synthesised / apex faces at this step, in ``samples/`` (None for model A)."""
        cfg, path = self.cfg, self.out_dir / "samples" / f"step_{self.step:07d}.png"
        title, averaged = f"{self.recipe.name} step {self.step}", self.ema and self.ema.module  # EMA draws, if kept
        written = samples.sample_grid(
            self.model, self.batches, path, seed=cfg.seed, precision=cfg.precision, title=title, generator=averaged
        )
        self.log.image("samples", written, self.step)
        return written
