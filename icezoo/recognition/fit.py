"""Training a baseline on one fold: what :func:`icezoo.eval.fold.fit_and_score` runs for a recipe with a recogniser.

Features come from the recipe's input (computed once per clip and cached, :mod:`icezoo.inputs`); the recogniser
is fitted on the fold's training subjects only. A network trains with Adam (``train.lr``, ``betas``,
``weight_decay``), ``train.batch_size`` and ``train.epochs`` (``train.max_steps`` caps the steps), the
schedule ``constant``, ``cosine`` (per step, to 0), ``exponential`` (``train.lr_gamma`` after every epoch) or
``step`` (``train.lr_gamma`` every ``train.lr_step`` epochs),
on ``loss.classification`` (cross-entropy for logits, the margin loss for capsule lengths; summed over a
recogniser's auxiliary outputs) with class weights where ``loss.class_balance`` asks, gradients clipped to
``train.grad_clip`` (each of the network's top-level modules on its own). Its candidates (every
``eval.select_every`` epochs and the last step) are
scored and chosen exactly as a GAN fold's (:mod:`icezoo.eval.selection`): same rules, same record. An estimator
(the ``svm``) has one candidate, itself fitted on the training features.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..config.schema import Recipe
from ..data import ClipSet
from ..devices import resolve_device
from ..errors import IcezooError
from ..eval.metrics import uar, uf1
from ..eval.predictions import prediction_rows
from ..eval.protocols import Fold
from ..registry import registry
from .model import Baseline, build_baseline


def _scores(labels: np.ndarray, preds: np.ndarray) -> dict[str, float]:
    return {"uf1": uf1(labels, preds), "uar": uar(labels, preds)} if len(labels) else {}


class _Candidates:
    """Scores each candidate on the validation and test subjects and keeps the one ``eval.select`` chooses
    (the record :class:`icezoo.eval.selection.Selector` writes for a GAN fold)."""

    def __init__(self, recipe: Recipe, val: tuple[np.ndarray, np.ndarray] | None, test: tuple[np.ndarray, np.ndarray]):
        self.cfg, self.val, self.test, self.precision = recipe.eval, val, test, recipe.train.precision
        self.candidates: list[dict[str, Any]] = []
        self.best_key: float | None = None
        self.best_step, self.best_state = 0, None

    def __call__(self, step: int, model: Baseline) -> None:
        entry: dict[str, Any] = {"step": step}
        if self.val is not None:
            entry["validation"] = _scores(self.val[1], model.scores(self.val[0], self.cfg.batch_size,
                                                                   self.precision).argmax(1))  # fmt: skip
        test_pred = model.scores(self.test[0], self.cfg.batch_size, self.precision).argmax(1)
        entry["test"], entry["test_pred"] = _scores(self.test[1], test_pred), test_pred.tolist()
        self.candidates.append(entry)
        rule = self.cfg.select
        key = step if rule == "last" else entry["validation" if rule == "best_validation" else "test"][
            self.cfg.select_metric]  # fmt: skip
        if self.best_key is None or key > self.best_key or rule == "last":
            self.best_key, self.best_step = key, step
            if not model.is_estimator:
                self.best_state = {k: v.detach().clone() for k, v in model.recogniser.state_dict().items()}

    def restore(self, model: Baseline) -> None:
        if self.best_state is not None:
            model.recogniser.load_state_dict(self.best_state)

    def record(self) -> dict[str, Any]:
        return {"select": self.cfg.select, "metric": self.cfg.select_metric, "chosen_step": self.best_step,
                "candidates": self.candidates}  # fmt: skip


def fit_and_score_baseline(recipe: Recipe, clips: ClipSet, fold: Fold, *, device: str | None = None,
                           progress: bool = False):  # fmt: skip
    """Fit ``recipe``'s baseline on ``fold``'s training subjects, choose it, predict its test subjects:
    a :class:`icezoo.eval.result.FoldResult` (nothing written)."""
    from ..eval.result import FoldResult, ran_on

    train = clips.subset(clips.indices_of(fold.train))
    test = clips.subset(clips.indices_of(fold.test))
    if len(test) == 0:
        raise IcezooError(f"fold {fold.name}: no clips of its test subjects")
    if len(train) == 0:
        raise IcezooError(f"fold {fold.name}: no clips of its training subjects")
    val = clips.subset(clips.indices_of(fold.validation)) if fold.validation else None
    dev = resolve_device(device or recipe.train.device, "train.device")
    torch.manual_seed(recipe.train.seed)
    model = build_baseline(recipe)
    if not model.is_estimator:
        model.recogniser.to(dev)
    x_train = model.features(train, progress, stored=not model.is_estimator)  # a network's views are cut from these
    y_train = train.label.astype(np.int64)
    held = (model.features(val, progress), val.label) if val is not None else None
    selector = _Candidates(recipe, held, (model.features(test, progress), test.label))
    if model.is_estimator:
        model.recogniser.fit(x_train.reshape(len(x_train), -1), y_train)
        selector(0, model)
        step = 0
    else:
        last = recipe.eval.select == "last"  # no candidates to score: the model at the end (as a GAN fold)
        step = _train_network(recipe, model, x_train, y_train, dev, None if last else selector)
    selector.restore(model)
    scores = model.scores(selector.test[0], recipe.eval.batch_size, recipe.train.precision)
    info: dict[str, Any] = {"train": list(fold.train), "validation": list(fold.validation), "test": list(fold.test),
                            "ran_on": ran_on(dev)}  # fmt: skip
    if held is not None:
        info["validation_labels"] = val.label.tolist()
        val_scores = model.scores(held[0], recipe.eval.batch_size, recipe.train.precision)
        info["validation_pred"] = val_scores.argmax(1).tolist()
    info["selection"] = selector.record() if recipe.eval.select != "last" else {"select": "last", "chosen_step": step}
    info["test_labels"] = test.label.tolist()
    if not model.is_estimator:
        model.recogniser.cpu()
    return FoldResult(prediction_rows(fold.name, test, scores), info, model, info["selection"]["chosen_step"])


def _train_network(recipe: Recipe, model: Baseline, x: np.ndarray, y: np.ndarray, device, on_candidate=None) -> int:
    """Adam on mini-batches of the stored training features ``x``, each batch seen through its step's training
    view (``train.augment_*`` and the input's crop, :class:`.augment.TrainingViews`), under ``train.precision``'s
    autocast; ``on_candidate(step, model)`` (unless None) every ``eval.select_every`` epochs and at the last step.
    Returns the last step."""
    from ..devices import autocast
    from ..train.objective import class_weights
    from .augment import TrainingViews

    cfg = recipe.train
    net = model.recogniser
    views = TrainingViews.of(cfg, model.input, model.image_size, model.in_shape)
    layout = torch.channels_last if cfg.channels_last and x.ndim == 4 else torch.contiguous_format
    net.to(memory_format=layout)
    loss_fn = registry.build("loss", recipe.loss.classification)
    features, labels = torch.from_numpy(x), torch.from_numpy(y)
    weights = class_weights(labels, recipe.model.num_classes).to(device) if recipe.loss.class_balance else None
    optimizer = adam_for(net, cfg)
    per_epoch = math.ceil(len(features) / cfg.batch_size)
    budget = per_epoch * cfg.epochs if cfg.max_steps is None else min(per_epoch * cfg.epochs, cfg.max_steps)
    every = per_epoch * recipe.eval.select_every
    order = torch.Generator().manual_seed(cfg.seed)
    step = epoch = 0
    net.train()
    while step < budget:
        for batch in torch.randperm(len(features), generator=order).split(cfg.batch_size):
            if cfg.schedule == "cosine":
                _scale_lr(optimizer, 0.5 * (1 + math.cos(math.pi * step / budget)))
            xb, yb = features[batch].to(device), labels[batch].to(device)
            if views is not None:
                xb = views(xb, step)
            with autocast(device, cfg.precision):
                out = net(xb.contiguous(memory_format=layout))
            loss = training_loss(out, yb, loss_fn, weights[yb] if weights is not None else None)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:  # each top-level part on its own, as ME-Recognizer clipped its parts
                for part in net.children():
                    if next(part.parameters(), None) is not None:
                        torch.nn.utils.clip_grad_norm_(part.parameters(), cfg.grad_clip)
            optimizer.step()
            step += 1
            if on_candidate is not None and (step % every == 0 or step == budget):
                on_candidate(step, model)
                net.train()
            if step == budget:
                break
        epoch += 1
        if cfg.schedule == "exponential":
            _scale_lr(optimizer, cfg.lr_gamma**epoch)
        elif cfg.schedule == "step":
            _scale_lr(optimizer, cfg.lr_gamma ** (epoch // cfg.lr_step))
    return step


def adam_for(net: torch.nn.Module, cfg) -> torch.optim.Adam:
    """Adam on a recogniser (``train.lr``, ``betas``, ``weight_decay``), with the parameter groups it asks for
    (``net.param_groups(lr)``: a backbone at its own rate, say; a group marked ``scheduled: False`` keeps its
    rate whatever ``train.schedule`` does)."""
    groups = net.param_groups(cfg.lr) if hasattr(net, "param_groups") else [{"params": list(net.parameters())}]
    optimizer = torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    for group in optimizer.param_groups:
        group.setdefault("scheduled", True)
        group["base_lr"] = group["lr"]
    return optimizer


def _scale_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Every scheduled group's learning rate at ``factor`` times its starting one."""
    for group in optimizer.param_groups:
        if group["scheduled"]:
            group["lr"] = group["base_lr"] * factor


def training_loss(out, labels: torch.Tensor, loss_fn, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The recipe's loss of a recogniser's training output: its scores, or a tuple whose first element is the
    prediction and the rest auxiliary scores (ME-Recognizer's halves of the face), each with the same loss, added."""
    outputs = out if isinstance(out, tuple) else (out,)
    return sum(loss_fn(o.float(), labels, weight=weight) for o in outputs)


def train_baseline(recipe: Recipe, out, *, device: str | None = None, progress: bool = False):
    """``icezoo train`` of a baseline: fit it on every clip of the recipe's data (no test subjects, the last
    model) and write ``OUT/checkpoint.pt`` as a kept fold model is written (:func:`.model.baseline_state`), which
    ``predict``, ``export`` and ``icezoo.load_checkpoint`` read. Returns (the checkpoint, the step)."""
    from pathlib import Path

    from ..data import load_clips
    from ..train.checkpoint import save_checkpoint
    from .model import baseline_state

    clips = load_clips(recipe)
    dev = resolve_device(device or recipe.train.device, "train.device")
    torch.manual_seed(recipe.train.seed)
    model = build_baseline(recipe)
    x, y = model.features(clips, progress, stored=not model.is_estimator), clips.label.astype(np.int64)
    if model.is_estimator:
        model.recogniser.fit(x.reshape(len(x), -1), y)
        step = 0
    else:
        model.recogniser.to(dev)
        step = _train_network(recipe, model, x, y, dev)
        model.recogniser.cpu()
    path = Path(out) / "checkpoint.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..eval.provenance import describe_data

    state = {"step": step, "recipe": recipe.to_dict(), "data": describe_data(recipe, clips),
             **baseline_state(model, path)}  # fmt: skip
    return save_checkpoint(path, state), step
