"""A run's identity: what decides an evaluation's results, so two experiments are never pooled into one table.

The identity of a run is the protocol, the resolved recipe without the fields
that do not decide results (flagged ``NOT_RUN_IDENTITY`` in the schema: where
and how fast a fold runs, what is logged, which folds this call runs) and the
data's identity (:func:`.provenance.data_identity`: the dataset's parameters
and a digest of the clips as read). The training seed is in the recipe. Its
fingerprint is a short SHA-256 of that content.

Beside it, every stamp names the code that computed it (:func:`code_versions`:
icezoo's version and git commit, torch and each library that computes
results). Folds of one run must have been computed by the same code: a fold
or a resume under other versions is refused naming the library and both
versions, unless the run allows mixed versions (``--allow-mixed-versions``),
whose report then names every version that computed a fold.

It is written into ``run.json`` and into every fold file (the first line of
``folds/NAME.csv``, ``NAME.json``, the kept model ``NAME.pt`` and the
synthesis records), and checked by the run folder (:mod:`.folder`) before a
fold is skipped, when folds are pooled (``--merge``, also over copied shard
folders), by ``icezoo test`` and ``synth-metrics`` and when a fold model is
loaded for a run. A mismatch is one line naming the first differing key and
both values; nothing is written.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import subprocess
import typing
from pathlib import Path
from typing import Any

from ..config.compare import first_difference, without
from ..config.schema import Recipe
from ..data import ClipSet
from ..errors import IcezooError
from .provenance import data_identity

RESULT_LIBRARIES = ("torch", "torch-geometric", "timm", "numpy")
"""The libraries whose versions decide a fold's numbers (besides icezoo itself): every run records them."""


def code_versions(libraries: typing.Iterable[str] = ()) -> dict[str, str | None]:
    """The code computing in this process: icezoo's version and git commit (None outside a checkout), torch and
    the other :data:`RESULT_LIBRARIES`, and ``libraries`` a recipe's components add (None: not installed).

    torch is read from ``torch.__version__`` (what runs), the others from their installed metadata."""
    from importlib import metadata

    import torch

    from .. import __version__

    versions: dict[str, str | None] = {"icezoo": __version__, "icezoo-source": _source_digest(),
                                       "icezoo-commit": _checkout_commit()}  # fmt: skip
    for name in dict.fromkeys([*RESULT_LIBRARIES, *libraries]):
        if name == "torch":
            versions[name] = str(torch.__version__)
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


INFORMATION_ONLY = ("icezoo-commit",)
"""Recorded, never compared: a docs-only commit changes no result; ``icezoo-source`` catches a code change, and an
uncommitted edit, which the commit cannot."""


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """A short SHA-256 of icezoo's own Python files (paths and contents): the code that runs, wherever installed."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _checkout_commit() -> str | None:
    """The git commit icezoo runs from, where it runs from a checkout (an installed wheel has none)."""
    top = Path(__file__).resolve().parents[2]
    if not (top / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(top), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def version_difference(a: dict[str, Any] | None, b: dict[str, Any] | None) -> tuple[str, Any, Any] | None:
    """(library, a's version, b's version) of the first library whose versions differ, or None."""
    a, b = a or {}, b or {}
    for name in list(a) + [k for k in b if k not in a]:
        if name not in INFORMATION_ONLY and a.get(name) != b.get(name):
            return name, a.get(name), b.get(name)
    return None


def describe_versions(versions: dict[str, Any]) -> str:
    """``icezoo 0.1.0 (source 1a2b..., commit abc1234), torch 2.14.1, ...``: the code of a stamp in one line."""
    if not versions:
        return "versions not recorded (an icezoo older than versions in the run identity)"
    parts = []
    for name, version in versions.items():
        if name.startswith("icezoo-"):
            continue
        about = [f"{k[7:]} {str(versions[k])[:12]}" for k in ("icezoo-source", "icezoo-commit") if versions.get(k)]
        about = f" ({', '.join(about)})" if name == "icezoo" and about else ""
        parts.append(f"{name} {version or 'absent'}{about}")
    return ", ".join(parts)


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
    versions: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    """The code of this process (:func:`code_versions`): beside the fingerprint, not in it."""
    allow_mixed_versions: bool = dataclasses.field(default=False, compare=False)
    """Whether files computed by other versions are accepted (their versions are then reported)."""

    @classmethod
    def of(cls, recipe: Recipe, protocol: str, clips: ClipSet, *, allow_mixed_versions: bool = False) -> RunIdentity:
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
        content = {"protocol": protocol, "recipe": content, "data": data_identity(recipe, clips)}
        return cls(content, code_versions(recipe_libraries(recipe)), allow_mixed_versions)

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.content, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def stamp(self, versions: dict[str, Any] | None = None) -> dict[str, Any]:
        """What ``run.json`` and a fold's ``.json`` and ``.pt`` files carry: the fingerprint, the content and the
        versions of the code that computed them (this process's unless ``versions`` says otherwise)."""
        return {"fingerprint": self.fingerprint, "identity": self.content,
                "versions": self.versions if versions is None else versions}  # fmt: skip

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

    def require_versions(self, stored: Any, where: str | Path, what: str = "results", reference: Any = ...) -> None:
        """Refuse ``stored`` versions unless they equal ``reference`` (default: this process's), naming the library
        and both versions; a stamp of an icezoo older than versions in the identity has none and is refused beside
        one that has them. Nothing is refused where the run allows mixed versions."""
        reference = self.versions if reference is ... else reference
        if self.allow_mixed_versions or stored == reference:
            return
        if not isinstance(stored, dict):
            raise IcezooError(
                f"{where}: {what} without the versions that computed them (an icezoo older than versions in the run "
                "identity); evaluate again into a new --out, or pass --allow-mixed-versions"
            )
        diff = version_difference(stored, reference)
        if diff is None:  # they differ only in what is recorded for information (the commit)
            return
        name, theirs, ours = diff
        raise IcezooError(
            f"{where}: {what} computed with {name} {theirs or 'absent'} where this run has {name} {ours or 'absent'}; "
            "pass --allow-mixed-versions to pool them anyway (the report then names every version)"
        )


def recipe_libraries(recipe: Recipe) -> list[str]:
    """Libraries beyond :data:`RESULT_LIBRARIES` that the recipe's components compute with (a component names
    them in its ``computes_with`` attribute, as OpenCV for optical flow), so their versions join the run's."""
    from ..registry import registry

    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("type"), str):
                names.append(node["type"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(recipe.to_dict())
    found = [lib for name in dict.fromkeys(names) for entry in registry.entries(None, name)
             for lib in getattr(entry.obj, "computes_with", ())]  # fmt: skip
    return list(dict.fromkeys(found))


def unused_eval_keys(cfg, protocol: str) -> list[str]:
    """``eval`` settings a run under ``protocol`` never reads: the split's size and seed outside ``split`` (the
    seed still draws validation subjects where there are any), the databases outside ``sde``, the selection
    metric and period when the last model is reported, the synthesis network when nothing is measured."""
    unused = [] if cfg.synthesis_metrics else ["synthesis_network", "synthesis_network_weights"]
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
