"""Evaluation protocols: which subjects train and which test, fold by fold.

* ``loso``: leave one subject out over the MEGC2019 composite (68 folds).
* ``sde``: single-database evaluation, LOSO within each of ``eval.sde_datasets``
  (CASME II and SAMM), training on that database's other subjects only.
* ``split``: the ablation split of Section IV-D, ``eval.test_subjects`` (20)
  subjects drawn at random (``eval.split_seed``) for testing, the rest (48)
  for training; one fold.

A fold never trains on a subject it tests (checked when the fold is made).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config.schema import EvalConfig, Recipe
from ..data import ClipSet
from ..errors import IcezooError


@dataclasses.dataclass(frozen=True)
class Fold:
    name: str  # safe as a file name
    train: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        overlap = set(self.train) & set(self.test)
        if overlap:
            raise AssertionError(f"fold {self.name} trains on its test subjects {sorted(overlap)}")


def _safe(name: str) -> str:
    return name.replace("/", "_").replace(" ", "_")


def make_folds(protocol: str, clips: ClipSet, cfg: EvalConfig) -> list[Fold]:
    """The folds of ``protocol`` over ``clips``, in a fixed order."""
    subjects = clips.subjects()
    if protocol == "loso":
        return [Fold(_safe(s), tuple(x for x in subjects if x != s), (s,)) for s in subjects]
    if protocol == "sde":
        folds = []
        for dataset in cfg.sde_datasets:
            own = sorted({s for s, d in zip(clips.subject, clips.dataset) if d == dataset})
            if not own:
                raise IcezooError(
                    f"eval.sde_datasets: the data has no clips of '{dataset}' (it has {', '.join(sorted(set(clips.dataset)))})"
                )
            folds += [Fold(_safe(s), tuple(x for x in own if x != s), (s,)) for s in own]
        return folds
    if protocol == "split":
        if not 0 < cfg.test_subjects < len(subjects):
            raise IcezooError(f"eval.test_subjects: must be between 1 and {len(subjects) - 1}, got {cfg.test_subjects}")
        order = np.random.default_rng(cfg.split_seed).permutation(len(subjects))
        test = tuple(sorted(subjects[i] for i in order[: cfg.test_subjects]))
        return [Fold("split", tuple(s for s in subjects if s not in test), test)]
    raise IcezooError(f"unknown protocol '{protocol}' (loso, sde, split)")


def protocol_folds(recipe: Recipe, protocol: str, clips: ClipSet) -> list[Fold]:
    """The folds a recipe evaluates: the protocol's, the first ``eval.max_folds`` of them where set.

    Every command that walks a run's folds (eval, test, synth-metrics) takes them from here, so they agree.
    """
    folds = make_folds(protocol, clips, recipe.eval)
    return folds[: recipe.eval.max_folds] if recipe.eval.max_folds is not None else folds


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"I/N"`` (1-based) -> (I, N); None -> (1, 1)."""
    if text is None:
        return 1, 1
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise IcezooError(f"--shard {text}: expected I/N, e.g. 2/4") from None
    if not 1 <= i <= n:
        raise IcezooError(f"--shard {text}: I must be between 1 and N")
    return i, n


def shard(folds: list[Fold], index: int, count: int) -> list[Fold]:
    """The folds of shard ``index`` of ``count`` (round-robin, 1-based)."""
    return folds[index - 1 :: count]
