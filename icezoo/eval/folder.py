"""A run folder: the one place that lays out an evaluation's files and decides "same run".

Layout::

    run.json           the run's stamp (:mod:`.identity`): fingerprint, identity and the versions that computed it
    recipe.yaml        the resolved recipe
    protocol.txt       the protocol
    data.json          what the data is (:mod:`.provenance`)
    folds/NAME.json    a fold's subjects, selection record and validation predictions, with the run's stamp
    folds/NAME.pt      its chosen model (``--keep-models``), with the run's stamp
    folds/NAME.skops   a baseline's fitted scikit-learn estimator (skops, never pickle), named with its SHA-256 in NAME.pt
    synthesis/NAME.pt  its synthesis records (``eval.synthesis_metrics``), with the run's stamp and the network's
    folds/NAME.csv     its predictions, stamped with the fingerprint; written last, so it marks the fold finished
    predictions.csv, metrics.json, table.md, confusion.png, synthesis.json: the report (:mod:`.report`)

A fold is done when every file the call asks for exists and each carries this
run's stamp, computed by the folder's versions (those of ``run.json``; a run
that allows mixed versions takes any, and its report names them). ``eval``,
``--merge``, ``icezoo test``, ``synth-metrics`` and ``export`` read and write
runs through :class:`RunFolder` and nothing else.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ..errors import IcezooError
from ..files import atomic_write, atomic_write_text
from .identity import RunIdentity, describe_versions, version_difference
from .predictions import CSV_STAMP, read_rows, read_stamp, rows_to_csv
from .protocols import Fold


class RunFolder:
    """The files of one evaluation run under ``path``; :meth:`claim` makes it a run's (or refuses)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.run: RunIdentity | None = None
        self.versions: dict[str, Any] | None = None  # the folder's: what its folds must have been computed by

    # -- layout ---------------------------------------------------------------------------------------------------
    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    def predictions(self, fold: Fold | str) -> Path:
        return self.path / "folds" / f"{_name(fold)}.csv"

    def info(self, fold: Fold | str) -> Path:
        return self.path / "folds" / f"{_name(fold)}.json"

    def model(self, fold: Fold | str) -> Path:
        return self.path / "folds" / f"{_name(fold)}.pt"

    def records(self, fold: Fold | str) -> Path:
        return self.path / "synthesis" / f"{_name(fold)}.pt"

    def outputs(self, fold: Fold, keep_model: bool = False, synthesis: bool = False) -> list[Path]:
        """Every file a fold writes when asked for ``keep_model`` and ``synthesis`` records; its predictions last."""
        return [self.info(fold)] + [self.model(fold)] * keep_model + [self.records(fold)] * synthesis + [
            self.predictions(fold)]  # fmt: skip

    # -- claiming -------------------------------------------------------------------------------------------------
    def claim(self, run: RunIdentity, *, computing: bool = True) -> RunFolder:
        """Make this folder ``run``'s, or refuse it when it holds another run's files.

        A folder with ``run.json`` must be this run's, and where this call computes folds, computed by this code's
        versions. A folder of copied ``folds/`` without ``run.json`` (shards gathered for ``--merge``) is adopted
        when every fold file carries this run's identity; a folder of an icezoo older than run identities is refused.
        """
        stored = self._read_run_json()
        if stored is None:
            infos = sorted((self.path / "folds").glob("*.json")) if (self.path / "folds").is_dir() else []
            if not infos and ((self.path / "folds").is_dir() or (self.path / "recipe.yaml").is_file()):
                raise IcezooError(
                    f"{self.path}: holds results of an icezoo older than run identities (no run.json); choose another --out"
                )
            stamps = [(path, _read_json(path).get("run")) for path in infos]
            for path, stamp in stamps:
                run.require(stamp, path, "fold results")
            first = stamps[0][1].get("versions") if stamps else None
            for path, stamp in stamps[1:]:  # refused before anything is written, unless mixed versions are allowed
                run.require_versions(stamp.get("versions"), path, "fold results", reference=first)
            stored = run.stamp(first)
            self.path.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_json, json.dumps(stored, indent=2) + "\n")
        else:
            run.require(stored, self.run_json, "a folder")
        if computing:
            run.require_versions(stored.get("versions"), self.run_json, "a folder")
        self.run, self.versions = run, stored.get("versions")
        return self

    def describe(self, recipe, protocol: str, clips) -> None:
        """Write what describes the run beside its folds: the resolved recipe, the protocol and the data."""
        from ..config.loader import recipe_to_yaml
        from .provenance import describe_data

        atomic_write_text(self.path / "recipe.yaml", recipe_to_yaml(recipe))
        atomic_write_text(self.path / "protocol.txt", protocol + "\n")
        atomic_write_text(self.path / "data.json", json.dumps(describe_data(recipe, clips), indent=2) + "\n")

    @classmethod
    def open(
        cls, path: str | Path, allow_plugins: Iterable[str] = (), clips=None, *, computing: bool = False,
        allow_mixed_versions: bool = False,
    ):  # fmt: skip
        """An existing run folder read back (``icezoo test``, ``synth-metrics``): ``(folder, recipe, protocol,
        clips, folds)``, its ``recipe.yaml`` checked against its ``run.json`` (one edited since is refused), and
        where the caller writes results into it (``computing``), this code's versions against the folder's.

        The folder is data: its recipe's plugins run only when loaded already or named in ``allow_plugins``."""
        from ..data import load_clips
        from ..train.checkpoint import load_run_recipe
        from .protocols import protocol_folds

        folder = cls(path)
        if not (folder.path / "recipe.yaml").is_file() or not (folder.path / "protocol.txt").is_file():
            raise IcezooError(f"{folder.path}: not an icezoo eval run folder (no recipe.yaml and protocol.txt)")
        recipe = load_run_recipe(folder.path, allow_plugins)  # data: a plugin it names must be allowed first
        if not folder.run_json.is_file():
            raise IcezooError(
                f"{folder.path}: no run.json: an eval run of an icezoo older than run identities; evaluate again into a new --out"
            )
        protocol = (folder.path / "protocol.txt").read_text().strip()
        clips = clips if clips is not None else load_clips(recipe)
        run = RunIdentity.of(recipe, protocol, clips, allow_mixed_versions=allow_mixed_versions)
        folder.run, folder.versions = run, None
        stored = folder._read_run_json()
        run.require(stored, folder.run_json, "the folder's run")
        if computing:  # before anything is measured: records of this code would not pool with the run's
            run.require_versions(stored.get("versions"), folder.run_json, "a folder")
        folder.versions = stored.get("versions")
        return folder, recipe, protocol, clips, protocol_folds(recipe, protocol, clips)

    @classmethod
    def of_model(cls, path: str | Path) -> RunFolder | None:
        """The run folder a fold model ``RUN/folds/NAME.pt`` lies in, or None for another file."""
        path = Path(path)
        return cls(path.parent.parent) if path.parent.name == "folds" and path.suffix == ".pt" else None

    def report_of(self, stamp: dict[str, Any] | None) -> dict[str, Any] | None:
        """The folder's ``metrics.json`` where its run is the one of ``stamp`` (a fold model's), else None."""
        try:
            same = isinstance(stamp, dict) and (self._read_run_json() or {}).get("fingerprint") == stamp.get(
                "fingerprint"
            )
        except IcezooError:
            return None
        return (_read_json(self.path / "metrics.json") or None) if same else None

    def _read_run_json(self) -> dict[str, Any] | None:
        if not self.run_json.is_file():
            return None
        try:
            stored = json.loads(self.run_json.read_text())
        except (OSError, ValueError) as err:
            raise IcezooError(f"{self.run_json}: not a readable run identity ({err})") from None
        if not isinstance(stored, dict):
            raise IcezooError(f"{self.run_json}: not a run identity")
        return stored

    # -- whether a fold is done -----------------------------------------------------------------------------------
    def done(self, fold: Fold, keep_model: bool = False, synthesis: dict[str, Any] | None = None) -> bool:
        """Whether every output the call asks for exists with this run's stamp (``synthesis``: the network identity
        the records must have been measured with; None: no records asked for). A file of another run, or of other
        versions, is refused, never skipped or overwritten."""
        csv_path = self.predictions(fold)
        if not csv_path.is_file():
            return False
        self._require_predictions(csv_path)
        if not all(p.is_file() for p in self.outputs(fold, keep_model, synthesis is not None)):
            return False
        self._require_stamp(_read_json(self.info(fold)).get("run"), self.info(fold), "fold results")
        if keep_model:
            self._require_stamp(_read_pt(self.model(fold)).get("run"), self.model(fold), "a fold model")
        if synthesis is not None:
            self._require_records(_read_pt(self.records(fold)), self.records(fold), synthesis)
        return True

    def _require_stamp(self, stamp: Any, where: Path, what: str) -> None:
        self.run.require(stamp, where, what)
        self.run.require_versions(stamp.get("versions"), where, what, reference=self.versions)

    def _require_predictions(self, path: Path) -> None:
        """A predictions file of this run: refused naming the first differing key (from its .json) otherwise."""
        found = read_stamp(path)
        if found == self.run.fingerprint:
            return
        stored = _read_json(path.with_suffix(".json")).get("run")
        if found is not None and isinstance(stored, dict) and stored.get("fingerprint") == found:
            self.run.require(stored, path, "fold results")
        if found is None:
            self.run.require(None, path, "fold results")
        raise IcezooError(
            f"{path}: fold results of another run (fingerprint {found} there, {self.run.fingerprint} in this run)"
        )

    def _require_records(self, records: dict[str, Any], path: Path, network: dict[str, Any] | None) -> None:
        stamp = records.get("run")
        if stamp == self.run.fingerprint:  # records of the previous release carry the fingerprint alone
            if network is not None and records.get("network") is None:
                raise IcezooError(
                    f"{path}: synthesis records without the network that measured them (an older icezoo); "
                    f"measure them again (icezoo synth-metrics {self.path})"
                )
            return
        self._require_stamp(stamp, path, "synthesis records")
        if network is not None and records.get("network") != network:
            raise IcezooError(
                f"{path}: synthesis records measured with another network ({_network(records.get('network'))} there, "
                f"{_network(network)} here); measure them again (icezoo synth-metrics {self.path})"
            )

    # -- fold results ---------------------------------------------------------------------------------------------
    def write_fold(self, fold: Fold, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
        """A fold's ``.json`` (``info`` and the run's stamp), then its predictions: the file that marks it done."""
        atomic_write_text(self.info(fold), json.dumps({"run": self.run.stamp(), **info}) + "\n")
        atomic_write_text(self.predictions(fold), CSV_STAMP + self.run.fingerprint + "\n" + rows_to_csv(rows))

    def read_predictions(self, folds: list[Fold]) -> list[dict[str, str]]:
        """Every fold's prediction rows, in fold order; each file must be this run's and name known classes."""
        rows = []
        for fold in folds:
            self._require_predictions(self.predictions(fold))
            rows += read_rows(self.predictions(fold))
        return rows

    def read_info(self, fold: Fold) -> dict[str, Any] | None:
        """A fold's ``.json`` (subjects, selection, validation predictions), or None where it has none."""
        return _read_json(self.info(fold)) or None

    def computed_by(self, folds: list[Fold]) -> list[dict[str, Any]]:
        """The versions that computed the folds, each with its folds (one entry unless mixed versions were allowed),
        every fold's stamp checked as :meth:`done` checks it."""
        groups: list[dict[str, Any]] = []
        for fold in folds:
            stamp = _read_json(self.info(fold)).get("run")
            self._require_stamp(stamp, self.info(fold), "fold results")
            versions = stamp.get("versions") or {}
            group = next((g for g in groups if version_difference(g["versions"], versions) is None), None)
            if group is None:
                groups.append(group := {"versions": versions, "describe": describe_versions(versions), "folds": []})
            group["folds"].append(fold.name)
        return groups

    # -- fold models ----------------------------------------------------------------------------------------------
    def save_model(self, fold: Fold, recipe, model, step: int, averaged=None) -> Path:
        """The fold's chosen model (and its averaged generator ``averaged``), the run's recipe and stamp."""
        from ..train.checkpoint import save_checkpoint

        if recipe.model.is_baseline:  # a recogniser's state dict, or the .skops file of an estimator
            from ..recognition.model import baseline_state

            return save_checkpoint(self.model(fold), {"step": step, "recipe": recipe.to_dict(), "run": self.run.stamp(),
                                                      **baseline_state(model, self.model(fold))})  # fmt: skip
        return save_checkpoint(self.model(fold), {
            "step": step,
            "recipe": recipe.to_dict(),
            "run": self.run.stamp(),
            "generator": model.generator.state_dict() if model.generator is not None else None,
            "generator_ema": averaged,
            "discriminator": model.discriminator.state_dict(),
        })  # fmt: skip

    def load_model(self, fold: Fold, device: str = "cpu", allow_plugins: Iterable[str] = ()):
        """A fold model of this run, refused when it was made in another run (read once: stamp, then model)."""
        from ..train.checkpoint import load_checkpoint, load_trained_model

        path = self.model(fold)
        if not path.is_file():
            raise IcezooError(f"{path}: fold model not found; run icezoo eval with --keep-models to keep them")
        state = load_checkpoint(path)
        self._require_stamp(state.get("run"), path, "a fold model")
        model, _ = load_trained_model(path, device, allow_plugins=allow_plugins, state=state)
        return model

    # -- synthesis records ----------------------------------------------------------------------------------------
    def write_records(self, fold: Fold | str, records: dict[str, Any], network: dict[str, Any] | None) -> None:
        """One fold's synthesis records, stamped with the run and the KID/FID network's identity."""
        buffer = io.BytesIO()
        torch.save({**_to_torch(records), "run": self.run.stamp(), "network": network}, buffer)
        atomic_write(self.records(fold), lambda h: h.write(buffer.getvalue()))

    def read_records(self, fold: Fold | str, network: dict[str, Any] | None = None) -> dict[str, Any]:
        """One fold's synthesis records, refused when not this run's or measured with another ``network``."""
        path = self.records(fold)
        if not path.is_file():
            raise IcezooError(
                f"{path}: no synthesis records of fold {_name(fold)}; run icezoo synth-metrics {self.path}"
            )
        try:
            records = torch.load(path, weights_only=True)
        except Exception as err:  # noqa: BLE001  (truncated, foreign, or pickled code)
            raise IcezooError(f"{path}: not readable synthesis records ({str(err).strip()[:120]})") from None
        if not isinstance(records, dict):
            raise IcezooError(f"{path}: not synthesis records")
        self._require_records(records, path, network)
        records.pop("run", None)
        records.pop("network", None)
        return _to_numpy(records)


def _name(fold: Fold | str) -> str:
    return fold if isinstance(fold, str) else fold.name


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} where it is missing or unreadable (the stamp check then names the file)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_pt(path: Path) -> dict[str, Any]:
    """A stamped torch file's top level, mapped rather than read (a kept model's weights are not needed here)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001  (truncated or foreign: the stamp check names the file)
        return {}
    return data if isinstance(data, dict) else {}


def _network(identity: Any) -> str:
    if not isinstance(identity, dict):
        return "an unrecorded network"
    weights = identity.get("weights")
    return f"{identity.get('network')}" + (f" ({str(weights)[:19]})" if weights else "")


def _to_torch(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    return {k: _to_torch(v) for k, v in x.items()} if isinstance(x, dict) else x


def _to_numpy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.numpy()
    return {k: _to_numpy(v) for k, v in x.items()} if isinstance(x, dict) else x
