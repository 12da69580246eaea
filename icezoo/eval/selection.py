"""Choosing a fold's model without its test subjects: validation subjects and the selection rules.

``eval.validation_subjects: K`` holds K of a fold's training subjects out,
balanced over the databases in proportion to their share of the training
subjects, drawn from ``eval.split_seed`` and the fold's name only: they never
depend on the test subjects' results. ``eval.select`` then picks the model a
fold reports among the candidates (every ``eval.select_every`` epochs, and the
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

import zlib
from typing import Any

import numpy as np
import torch

from ..config.schema import Recipe
from ..data import ClipSet
from ..errors import IcezooError
from .metrics import uar, uf1
from .predict import predict
from .protocols import Fold

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


def validation_subjects(fold: Fold, datasets: dict[str, str], k: int, seed: int) -> tuple[str, ...]:
    """K of the fold's training subjects, balanced over databases; a function of the fold's training side only.

    ``datasets`` maps each subject to its database.
    """
    if k == 0:
        return ()
    if k >= len(fold.train):
        raise IcezooError(
            f"eval.validation_subjects: {k} is not fewer than the {len(fold.train)} training subjects of fold {fold.name}"
        )
    rng = np.random.default_rng([seed, zlib.crc32(fold.name.encode())])
    groups: dict[str, list[str]] = {}
    for s in sorted(fold.train):
        groups.setdefault(datasets[s], []).append(s)
    names = sorted(groups)
    share = np.array([len(groups[d]) for d in names], dtype=float) * k / len(fold.train)
    take = np.floor(share).astype(int)
    for i in np.argsort(-(share - take), kind="stable")[: k - int(take.sum())]:  # largest remainders
        take[i] += 1
    picked = [s for d, n in zip(names, take) for s in rng.permutation(groups[d])[:n].tolist()]
    return tuple(sorted(picked))


def split_fold(fold: Fold, clips: ClipSet, recipe: Recipe) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training subjects, validation subjects) of ``fold`` under the recipe's eval section."""
    datasets = dict(zip(clips.subject, clips.dataset))
    cfg = recipe.eval
    val = validation_subjects(fold, datasets, cfg.validation_subjects, cfg.split_seed)
    return tuple(s for s in fold.train if s not in val), val


def _scores(labels: np.ndarray, preds: np.ndarray) -> dict[str, float]:
    return {"uf1": uf1(labels, preds), "uar": uar(labels, preds)} if len(labels) else {}


class Selector:
    """A trainer's epoch callback: scores each candidate on the validation and test subjects, keeps the chosen one."""

    def __init__(self, recipe: Recipe, validation: ClipSet | None, test: ClipSet, budget: int, steps_per_epoch: int):
        self.cfg, self.precision = recipe.eval, recipe.train.precision
        self.validation, self.test, self.budget = validation, test, budget
        self.every = steps_per_epoch * self.cfg.select_every
        self.candidates: list[dict[str, Any]] = []
        self.best_key: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
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

    def restore(self, model) -> None:
        """Load the chosen candidate's weights (and buffers) into ``model``."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)

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
