"""A run's identity: what decides an evaluation's results, so two experiments are never pooled into one table.

The identity of a run is the protocol, the resolved recipe without the fields
that do not decide results (flagged ``NOT_RUN_IDENTITY`` in the schema: where
and how fast a fold runs, what is logged, which folds this call runs) and the
data's identity (:func:`.provenance.data_identity`: the dataset's parameters
and a digest of the clips as read). The training seed is in the recipe. Its
fingerprint is a short SHA-256 of that content.

It is written into ``run.json`` and into every fold file (the first line of
``folds/NAME.csv``, ``NAME.json``, the kept model ``NAME.pt`` and the
synthesis records), and checked before a fold is skipped, when folds are
pooled (``--merge`` over copied shard folders), by ``icezoo test`` and
``synth-metrics`` and when a fold model is loaded for a run. A mismatch is one
line naming the first differing key and both values; nothing is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from typing import Any

from ..config.compare import first_difference, without
from ..config.schema import Recipe
from ..data import ClipSet
from ..errors import IcezooError
from ..files import atomic_write_text
from .provenance import data_identity

CSV_STAMP = "# icezoo run "
"""The first line of a fold's predictions file: this prefix and the run's fingerprint."""


def outside_identity(cls: type = Recipe, prefix: str = "") -> list[str]:
    """Key paths of the recipe fields flagged ``NOT_RUN_IDENTITY``, in schema order."""
    hints = typing.get_type_hints(cls, include_extras=False)
    keys: list[str] = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("run_identity") is False or f.metadata.get("internal"):
            keys.append(prefix + f.name)
        elif dataclasses.is_dataclass(hints[f.name]):
            keys += outside_identity(hints[f.name], f"{prefix}{f.name}.")
    return keys


@dataclasses.dataclass(frozen=True)
class RunIdentity:
    """The identity of one evaluation run (``content``, plain data) and its ``fingerprint``."""

    content: dict[str, Any]

    @classmethod
    def of(cls, recipe: Recipe, protocol: str, clips: ClipSet) -> RunIdentity:
        """The identity of evaluating ``recipe`` under ``protocol`` on ``clips``; a weights file the recipe
        names counts by its content (SHA-256), not its path, which differs from machine to machine."""
        content = without(recipe.to_dict(), outside_identity())
        perceptual = (content.get("loss") or {}).get("perceptual")
        if isinstance(perceptual, dict) and isinstance(perceptual.get("weights"), str):
            content["loss"]["perceptual"] = {**perceptual, "weights": file_digest(perceptual["weights"])}
        if recipe.eval.synthesis_network_weights:
            content["eval"]["synthesis_network_weights"] = file_digest(recipe.eval.synthesis_network_weights)
        for key in unused_eval_keys(recipe.eval, protocol):  # settings this run never reads cannot part two runs
            content["eval"].pop(key, None)
        return cls({"protocol": protocol, "recipe": content, "data": data_identity(recipe, clips)})

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.content, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def stamp(self) -> dict[str, Any]:
        """What a fold's ``.json`` and ``.pt`` files carry: the fingerprint and the content."""
        return {"fingerprint": self.fingerprint, "identity": self.content}

    def require(self, stored: Any, where: str | Path, what: str = "results") -> None:
        """Refuse ``stored`` (a :meth:`stamp`, or None where a file carries none) unless it is this run's."""
        if not (isinstance(stored, dict) and isinstance(stored.get("identity"), dict)):
            raise IcezooError(
                f"{where}: {what} without a run identity (written by an older icezoo, or not a fold file); "
                "evaluate again into a new --out"
            )
        if stored.get("fingerprint") == self.fingerprint:
            return
        diff = first_difference(stored["identity"], self.content) or ("fingerprint", stored.get("fingerprint"),
                                                                      self.fingerprint)  # fmt: skip
        key, theirs, ours = diff
        raise IcezooError(
            f"{where}: {what} of another run ({key} = {_short(theirs)} there, {_short(ours)} in this run)"
        )


def unused_eval_keys(cfg, protocol: str) -> list[str]:
    """``eval`` settings a run under ``protocol`` never reads: the split's size and seed outside ``split`` (the
    seed still draws validation subjects where there are any), the databases outside ``sde``, the selection
    metric and period when the last model is reported."""
    unused = []
    if protocol != "split":
        unused += ["test_subjects"] + (["split_seed"] if cfg.validation_subjects == 0 else [])
    if protocol != "sde":
        unused.append("sde_datasets")
    if cfg.select == "last":
        unused += ["select_metric", "select_every"]
    return unused


def file_digest(path: str) -> str:
    """``sha256:HEX`` of a file's bytes (a missing file keeps its path: the recipe check names it first)."""
    try:
        return "sha256:" + hashlib.sha256(Path(path).expanduser().read_bytes()).hexdigest()
    except OSError:
        return path


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def claim_folder(out_dir: Path, run: RunIdentity) -> None:
    """Make ``out_dir`` this run's folder (``run.json``), or refuse it when it holds another run's."""
    path = out_dir / "run.json"
    if not path.is_file() and ((out_dir / "folds").is_dir() or (out_dir / "recipe.yaml").is_file()):
        raise IcezooError(
            f"{out_dir}: holds results of an icezoo older than run identities (no run.json); choose another --out"
        )
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise IcezooError(f"{path}: not a readable run identity ({err})") from None
        run.require(stored, path, "a folder")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(run.stamp(), indent=2) + "\n")


def read_stamp(csv_path: Path) -> str | None:
    """The fingerprint on a fold predictions file's first line, or None."""
    with csv_path.open() as handle:
        first = handle.readline()
    return first[len(CSV_STAMP) :].strip() if first.startswith(CSV_STAMP) else None


def require_fold_file(run: RunIdentity, csv_path: Path) -> None:
    """Refuse a fold's predictions file that is not this run's, naming the first differing key (from its .json)."""
    found = read_stamp(csv_path)
    if found == run.fingerprint:
        return
    side = csv_path.with_suffix(".json")
    try:
        data = json.loads(side.read_text()) if side.is_file() else None
    except (OSError, ValueError):
        data = None
    stored = data.get("run") if isinstance(data, dict) else None
    if found is not None and isinstance(stored, dict) and stored.get("fingerprint") == found:
        run.require(stored, csv_path, "fold results")
    if found is None:
        run.require(None, csv_path, "fold results")
    raise IcezooError(
        f"{csv_path}: fold results of another run (fingerprint {found} there, {run.fingerprint} in this run)"
    )


def run_of_folder(run_dir: Path, recipe: Recipe, protocol: str, clips: ClipSet) -> RunIdentity:
    """The run of a run folder as its ``recipe.yaml``, protocol and data give it, checked against its ``run.json``
    (a recipe.yaml edited since the folds ran is refused)."""
    run = RunIdentity.of(recipe, protocol, clips)
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise IcezooError(
            f"{run_dir}: no run.json: an eval run of an icezoo older than run identities; evaluate again into a new --out"
        )
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise IcezooError(f"{path}: not a readable run identity ({err})") from None
    run.require(stored, path, "the folder's run")
    return run
