"""Synthesis metrics of a run folder: per fold during ``icezoo eval`` or afterwards from the saved fold models.

Files, beside the eval outputs::

    synthesis/FOLD.pt   each fold's records, face by face (tensors only; read with weights_only)
    synthesis.json      each fold's metrics and all folds pooled
    table.md            gains a "Synthesis metrics" section (pooled)

Afterwards (``icezoo synth-metrics RUN``) the fold models are read from
``folds/FOLD.pt`` (the layout ``icezoo eval --keep-models`` writes), so the
same function measures the same model on the same clips with the same noise.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import IcezooError
from ...files import atomic_write, atomic_write_text
from .fold import fold_records, fold_seed
from .summary import SECTION, markdown, pool, summarise


def records_path(out_dir: Path, fold_name: str) -> Path:
    return Path(out_dir) / "synthesis" / f"{fold_name}.pt"


def regions_for(recipe) -> str:
    """Region source: the face model's known positions on the synthetic data, 68 landmarks on real faces."""
    return "face model" if recipe.data.get("type") == "synthetic" else "landmarks"


def _to_torch(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    return {k: _to_torch(v) for k, v in x.items()} if isinstance(x, dict) else x


def _to_numpy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.numpy()
    return {k: _to_numpy(v) for k, v in x.items()} if isinstance(x, dict) else x


def measurement_setup(recipe, network=None):
    """What measuring needs, checked before any fold trains: the landmark extra on real faces, and the KID/FID
    network (returned: ``network`` where given, else the recipe's ``eval.synthesis_network``).

    A missing extra or a bad ``eval.synthesis_network`` is then one error at once, not after a fold has trained.
    """
    from .distribution import feature_network

    if regions_for(recipe) == "landmarks":
        from .identity import check_extra

        check_extra()
    if network is not None:
        return network
    return feature_network(recipe.eval.synthesis_network, recipe.eval.synthesis_network_weights)


def measure_fold(model, recipe, clips, fold, out_dir: str | Path, network, run) -> dict[str, Any]:
    """Measure one fold's trained model on its clips with the KID/FID ``network`` (:func:`measurement_setup`'s)
    and save the records, stamped with ``run``'s fingerprint (the ``eval.synthesis_metrics`` hook).

    The independent classifier and the identity gallery read the fold's whole training side (its training and
    validation subjects): never its test subjects."""
    train = clips.subset(clips.indices_of(fold.training_side))
    test = clips.subset(clips.indices_of(fold.test))
    rec = fold_records(
        model, train, test, seed=fold_seed(recipe.train.seed, fold.name), regions=regions_for(recipe),
        batch_size=recipe.eval.batch_size, network=network,
        precision=recipe.train.precision,
    )  # fmt: skip
    write_records(out_dir, fold.name, rec, run)
    return rec


def write_records(out_dir: str | Path, fold_name: str, records: dict[str, Any], run) -> None:
    """One fold's synthesis records, stamped with ``run``'s identity (:meth:`~..identity.RunIdentity.stamp`)."""
    buffer = io.BytesIO()
    torch.save({**_to_torch(records), "run": run.stamp()}, buffer)
    atomic_write(records_path(out_dir, fold_name), lambda h: h.write(buffer.getvalue()))


def read_records(out_dir: Path, fold_name: str, run) -> dict[str, Any]:
    """One fold's synthesis records, refused (naming the first differing key) when they are not ``run``'s."""
    path = records_path(out_dir, fold_name)
    if not path.is_file():
        raise IcezooError(f"{path}: no synthesis records of fold {fold_name}; run icezoo synth-metrics {out_dir}")
    records = torch.load(path, weights_only=True)
    stamp = records.pop("run", None) if isinstance(records, dict) else None
    if stamp != run.fingerprint:  # records of the previous release carry the fingerprint alone: this run's pass
        run.require(stamp, path, "synthesis records")
    return _to_numpy(records)


def write_synthesis(recipe, out_dir: str | Path, folds: list, run) -> dict[str, Any]:
    """Per-fold and pooled metrics into ``synthesis.json`` and the section of ``table.md``; returns them.

    KID and FID need many faces: a fold with fewer than :data:`~.summary.MIN_DISTRIBUTION_FACES` synthesised
    faces gets none of its own (they are given pooled over the folds).
    """
    out_dir = Path(out_dir)
    records = {f.name: read_records(out_dir, f.name, run) for f in folds}
    seed = recipe.train.seed
    result = {
        "recipe": recipe.name,
        "run": run.fingerprint,
        "pooled": summarise(pool(list(records.values())), seed=seed),
        "folds": {name: summarise(r, seed=seed, per_fold=True) for name, r in records.items()},
    }
    atomic_write_text(out_dir / "synthesis.json", json.dumps(result, indent=2) + "\n")
    table = out_dir / "table.md"
    text = table.read_text().split(SECTION)[0].rstrip() + "\n\n" if table.is_file() else ""
    atomic_write_text(table, text + markdown(result["pooled"]))
    return result


def synth_metrics(
    recipe, run_dir: str | Path, device: str = "cpu", clips=None, allow_plugins: Iterable[str] = (), network=None
) -> dict[str, Any]:
    """Recompute every fold's synthesis metrics of an eval run folder from its saved fold models.

    ``clips`` stands for the recipe's data where the run was given its clips (as ``evaluate(clips=...)``);
    ``network`` for the KID/FID feature network (None: the recipe's ``eval.synthesis_network``).
    """
    from ...data import load_clips
    from ..fold_models import load_fold_model, model_path
    from ..identity import run_of_folder
    from ..protocols import protocol_folds

    run_dir = Path(run_dir)
    proto = run_dir / "protocol.txt"
    if not proto.is_file():
        raise IcezooError(f"{run_dir}: not an icezoo eval run folder (no protocol.txt)")
    clips = clips if clips is not None else load_clips(recipe)
    protocol = proto.read_text().strip()
    folds = protocol_folds(recipe, protocol, clips)
    run = run_of_folder(run_dir, recipe, protocol, clips)
    network = measurement_setup(recipe, network)
    for fold in folds:
        path = model_path(run_dir, fold)
        if not path.is_file():
            raise IcezooError(f"{path}: fold model not found; run icezoo eval with --keep-models to keep them")
        model = load_fold_model(path, run, device, allow_plugins)
        measure_fold(model, recipe, clips, fold, run_dir, network, run)
    return write_synthesis(recipe, run_dir, folds, run)
