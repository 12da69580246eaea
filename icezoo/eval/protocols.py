"""Evaluation protocols: which subjects train, which choose the model and which test, fold by fold.

* ``loso``: leave one subject out over the MEGC2019 composite (68 folds).
* ``sde``: single-database evaluation, LOSO within each of ``eval.sde_datasets``
  (CASME II and SAMM), training on that database's other subjects only.
* ``split``: the ablation split of Section IV-D, ``eval.test_subjects`` (20)
  subjects drawn at random (``eval.split_seed``) for testing, the rest (48)
  for training; one fold.

As scikit-learn's ``LeaveOneGroupOut`` and ``GroupShuffleSplit``, the splitters
are pure generators over subject ids. A :class:`Fold` carries its training,
validation and test subjects explicitly: ``eval.validation_subjects`` of the
training side are held out for model selection (:func:`validation_subjects`),
drawn from the fold's name and the training side only. A fold never trains or
selects on a subject it tests (checked when the fold is made), and two
subjects whose fold names would collide are refused.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator

import numpy as np

from ..config.schema import EvalConfig, Recipe
from ..data import ClipSet
from ..errors import IcezooError


@dataclasses.dataclass(frozen=True)
class Fold:
    """One fold: its name (safe as a file name) and its subjects; ``train`` excludes ``validation``."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    validation: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for side in ("train", "validation"):
            overlap = set(getattr(self, side)) & set(self.test)
            if overlap:
                raise AssertionError(f"fold {self.name}: {side} subjects {sorted(overlap)} are test subjects")
        if set(self.train) & set(self.validation):
            raise AssertionError(
                f"fold {self.name}: {sorted(set(self.train) & set(self.validation))} train and validate"
            )

    @property
    def training_side(self) -> tuple[str, ...]:
        """Every subject that is not tested: the training and validation subjects, sorted."""
        return tuple(sorted(self.train + self.validation))


def fold_name(subject: str) -> str:
    """A subject id as a file name (``casme2/sub 01`` -> ``casme2_sub_01``)."""
    return subject.replace("/", "_").replace(" ", "_")


Split = tuple[str, tuple[str, ...], tuple[str, ...]]
"""(fold name, training side, test subjects): what a splitter yields."""


def leave_one_subject_out(subjects: list[str]) -> Iterator[Split]:
    """One fold per subject: it tests, every other subject trains."""
    for s in subjects:
        yield fold_name(s), tuple(x for x in subjects if x != s), (s,)


def single_database(clips: ClipSet, datasets: list[str]) -> Iterator[Split]:
    """LOSO within each of ``datasets``: a fold trains on its own database's other subjects only."""
    for dataset in datasets:
        own = sorted({s for s, d in zip(clips.subject, clips.dataset) if d == dataset})
        if not own:
            raise IcezooError(
                f"eval.sde_datasets: the data has no clips of '{dataset}' (it has {', '.join(sorted(set(clips.dataset)))})"
            )
        yield from leave_one_subject_out(own)


def subject_split(subjects: list[str], test_subjects: int, seed: int) -> Iterator[Split]:
    """One fold: ``test_subjects`` subjects drawn with ``seed`` test, the others train."""
    if not 0 < test_subjects < len(subjects):
        raise IcezooError(f"eval.test_subjects: must be between 1 and {len(subjects) - 1}, got {test_subjects}")
    order = np.random.default_rng(seed).permutation(len(subjects))
    test = tuple(sorted(subjects[i] for i in order[:test_subjects]))
    yield "split", tuple(s for s in subjects if s not in test), test


def splits(protocol: str, clips: ClipSet, cfg: EvalConfig) -> Iterator[Split]:
    """The protocol's (name, training side, test) triples, in a fixed order."""
    if protocol == "loso":
        return leave_one_subject_out(clips.subjects())
    if protocol == "sde":
        return single_database(clips, cfg.sde_datasets)
    if protocol == "split":
        return subject_split(clips.subjects(), cfg.test_subjects, cfg.split_seed)
    raise IcezooError(f"unknown protocol '{protocol}' (loso, sde, split)")


def validation_subjects(
    name: str, training_side: tuple[str, ...], datasets: dict[str, str], k: int, seed: int
) -> tuple[str, ...]:
    """K of a fold's training subjects, balanced over databases; a function of the fold's training side only.

    ``datasets`` maps each subject to its database; the draw is seeded by ``seed`` and the fold's name.
    """
    if k == 0:
        return ()
    if k >= len(training_side):
        raise IcezooError(
            f"eval.validation_subjects: {k} is not fewer than the {len(training_side)} training subjects of fold {name}"
        )
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    groups: dict[str, list[str]] = {}
    for s in sorted(training_side):
        groups.setdefault(datasets[s], []).append(s)
    names = sorted(groups)
    share = np.array([len(groups[d]) for d in names], dtype=float) * k / len(training_side)
    take = np.floor(share).astype(int)
    for i in np.argsort(-(share - take), kind="stable")[: k - int(take.sum())]:  # largest remainders
        take[i] += 1
    picked = [s for d, n in zip(names, take) for s in rng.permutation(groups[d])[:n].tolist()]
    return tuple(sorted(picked))


def make_folds(protocol: str, clips: ClipSet, cfg: EvalConfig) -> list[Fold]:
    """The folds of ``protocol`` over ``clips``, in a fixed order, each with its validation subjects."""
    datasets = dict(zip(clips.subject, clips.dataset))
    folds, owner = [], {}
    for name, side, test in splits(protocol, clips, cfg):
        if name in owner:
            raise IcezooError(
                f"subjects '{owner[name]}' and '{test[0]}' both give the fold name '{name}'; rename one in the data"
            )
        owner[name] = test[0]
        val = validation_subjects(name, side, datasets, cfg.validation_subjects, cfg.split_seed)
        folds.append(Fold(name, tuple(s for s in side if s not in val), test, val))
    return folds


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
