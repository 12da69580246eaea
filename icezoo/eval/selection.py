"""Choosing a fold's model without its test subjects: validation subjects and the selection rules.

``eval.validation_subjects: K`` holds K of a fold's training subjects out
(:func:`icezoo.eval.protocols.validation_subjects`: balanced over the
databases, drawn from ``eval.split_seed`` and the fold's name only, so they
never depend on the test subjects' results). ``eval.select`` then picks the
model a fold reports among the candidates (every ``eval.select_every`` epochs, and the
last step):

* ``last``: the model at the end of training (the recipe fixes the epoch);
* ``best_validation``: the candidate with the best ``eval.select_metric`` on
  the validation subjects (ties: the earlier one);
* ``oracle_test``: the candidate with the best metric on the fold's *test*
  subjects, the common practice of released MER code; it inflates the score
  and exists only to show by how much, labelled as such in every output.

The :class:`Selector` records every candidate's validation metrics and test
predictions, so one run gives the figure of each rule side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..config.schema import Recipe
from ..data import ClipSet
from ..inference.scores import predict
from .metrics import uar, uf1

ORACLE_WARNING = (
    "ORACLE SELECTION (eval.select: oracle_test): each fold's model was chosen on its own test subjects; "
    "these scores are inflated and are not an estimate of recognition on unseen subjects"
)

RULES = {
    "last": "the model at the end of training (the epoch fixed by the recipe)",
    "best_validation": "the candidate with the best {metric} on {k} validation subjects held out of each fold's "
    "training subjects (every {every} epoch(s) and the last step)",
    "oracle_test": "the candidate with the best {metric} on each fold's test subjects (ORACLE: inflated)",
}


def rule_statement(cfg) -> str:
    """One sentence stating how each fold's model was chosen."""
    return RULES[cfg.select].format(metric=cfg.select_metric.upper(), k=cfg.validation_subjects, every=cfg.select_every)


def _scores(labels: np.ndarray, preds: np.ndarray) -> dict[str, float]:
    return {"uf1": uf1(labels, preds), "uar": uar(labels, preds)} if len(labels) else {}


class Selector:
    """A trainer's epoch callback: scores each candidate on the validation and test subjects, keeps the chosen one."""

    def __init__(
        self,
        recipe: Recipe,
        validation: ClipSet | None,
        test: ClipSet,
        budget: int,
        steps_per_epoch: int,
        ema=None,
    ):
        self.cfg, self.precision, self.ema = recipe.eval, recipe.train.precision, ema
        self.validation, self.test, self.budget = validation, test, budget
        self.every = steps_per_epoch * self.cfg.select_every
        self.candidates: list[dict[str, Any]] = []
        self.best_key: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_ema: dict[str, torch.Tensor] | None = None  # the averaged generator (train.ema_decay) then
        self.best_step = 0

    def _predict(self, model, clips: ClipSet) -> np.ndarray:
        return predict(model.discriminator, clips, batch_size=self.cfg.batch_size, precision=self.precision).argmax(1)

    def __call__(self, step: int, model) -> None:
        if step % self.every and step != self.budget:
            return
        entry: dict[str, Any] = {"step": step}
        if self.validation is not None:
            entry["validation"] = _scores(self.validation.label, self._predict(model, self.validation))
        test_pred = self._predict(model, self.test)
        entry["test"] = _scores(self.test.label, test_pred)
        entry["test_pred"] = test_pred.tolist()
        self.candidates.append(entry)
        rule = self.cfg.select
        key = None if rule == "last" else entry["validation" if rule == "best_validation" else "test"]
        key = step if key is None else key[self.cfg.select_metric]
        if self.best_key is None or key > self.best_key or rule == "last":
            self.best_key, self.best_step = key, step
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if self.ema is not None:
                self.best_ema = {k: v.detach().clone() for k, v in self.ema.state_dict().items()}

    def restore(self, model) -> dict[str, torch.Tensor] | None:
        """Load the chosen candidate's weights (and buffers) into ``model``; return its averaged generator's
        state (None where ``train.ema_decay`` is off)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
            return self.best_ema
        return self.ema.state_dict() if self.ema is not None else None

    def record(self) -> dict[str, Any]:
        """What the fold's ``NAME.json`` keeps: the rule, the chosen step and every candidate."""
        return {"select": self.cfg.select, "metric": self.cfg.select_metric, "chosen_step": self.best_step,
                "candidates": self.candidates}  # fmt: skip


def same_run_figures(records: dict[str, dict[str, Any]], labels: dict[str, list[int]], metric: str) -> dict:
    """Pooled UF1 / UAR of each rule on the same run, from the folds' recorded candidates.

    ``records`` maps a fold to its selection record, ``labels`` to its test labels (in prediction order).
    """
    out: dict[str, dict[str, float]] = {}
    rules = {"last": lambda c: c[-1], "oracle_test": lambda c: max(c, key=lambda e: e["test"][metric])}
    if all("validation" in r["candidates"][0] for r in records.values()):
        rules["best_validation"] = lambda c: max(c, key=lambda e: e["validation"][metric])
    for name, choose in rules.items():
        y, p = [], []
        for fold, rec in records.items():
            y += labels[fold]
            p += choose(rec["candidates"])["test_pred"]
        out[name] = _scores(np.array(y), np.array(p))
    return out
