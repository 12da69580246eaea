"""Synthesis metrics of a run folder: per fold during ``icezoo eval`` or afterwards from the saved fold models.

Files, beside the eval outputs::

    synthesis/FOLD.pt   each fold's records, face by face (tensors only; read with weights_only)
    synthesis.json      each fold's metrics and all folds pooled
    table.md            gains a "Synthesis metrics" section (pooled)

Afterwards (``icezoo synth-metrics RUN``) the fold models are read from
``folds/FOLD.pt`` (the layout ``icezoo eval --keep-models`` writes), so the
same function measures the same model on the same clips with the same noise.
The run folder (:class:`~..folder.RunFolder`) reads and writes the records,
each stamped with the run and the KID/FID network's identity.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...files import atomic_write_text
from .fold import fold_records, fold_seed
from .summary import SECTION, markdown, pool, summarise


def regions_for(recipe) -> str:
    """Region source: the face model's known positions on the synthetic data, 68 landmarks on real faces."""
    return "face model" if recipe.data.get("type") == "synthetic" else "landmarks"


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


def measure(model, recipe, clips, fold, network) -> dict[str, Any]:
    """One fold's synthesis records: its trained model measured on its clips with the KID/FID ``network``
    (:func:`measurement_setup`'s); computes, writes nothing.

    The independent classifier and the identity gallery read the fold's whole training side (its training and
    validation subjects): never its test subjects."""
    train = clips.subset(clips.indices_of(fold.training_side))
    test = clips.subset(clips.indices_of(fold.test))
    return fold_records(
        model, train, test, seed=fold_seed(recipe.train.seed, fold.name), regions=regions_for(recipe),
        batch_size=recipe.eval.batch_size, network=network,
        precision=recipe.train.precision,
    )  # fmt: skip


def recipe_network(recipe) -> dict[str, Any]:
    """The identity of the recipe's KID/FID network (``eval.synthesis_network`` and its weights file)."""
    from .distribution import network_identity

    return network_identity(recipe.eval.synthesis_network, recipe.eval.synthesis_network_weights)


def write_synthesis(recipe, folder, folds: list, network: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per-fold and pooled metrics into ``synthesis.json`` and the section of ``table.md``; returns them.

    Every fold's records must be this run's and measured with one ``network`` (default: the recipe's), so two
    feature spaces are never pooled. KID and FID need many faces: a fold with fewer than
    :data:`~.summary.MIN_DISTRIBUTION_FACES` synthesised faces gets none of its own (they are given pooled).
    """
    network = recipe_network(recipe) if network is None else network
    records = {f.name: folder.read_records(f, network) for f in folds}
    seed = recipe.train.seed
    result = {
        "recipe": recipe.name,
        "run": folder.run.fingerprint,
        "network": network,
        "pooled": summarise(pool(list(records.values())), seed=seed),
        "folds": {name: summarise(r, seed=seed, per_fold=True) for name, r in records.items()},
    }
    atomic_write_text(folder.path / "synthesis.json", json.dumps(result, indent=2) + "\n")
    table = folder.path / "table.md"
    text = table.read_text().split(SECTION)[0].rstrip() + "\n\n" if table.is_file() else ""
    atomic_write_text(table, text + markdown(result["pooled"]))
    return result


def synth_metrics(
    run_dir: str | Path,
    device: str = "cpu",
    clips=None,
    allow_plugins: Iterable[str] = (),
    network=None,
    network_name: str | None = None,
    network_weights: str | None = None,
    allow_mixed_versions: bool = False,
) -> dict[str, Any]:
    """Recompute every fold's synthesis metrics of an eval run folder from its saved fold models.

    ``clips`` stands for the recipe's data where the run was given its clips (as ``evaluate(clips=...)``);
    ``network_name`` / ``network_weights`` replace the recipe's KID/FID network (``network``: that network
    already built). The records name the network, so a later ``eval --merge`` pools only one feature space.
    """
    from ..folder import RunFolder
    from .distribution import feature_network, network_identity

    folder, recipe, _, clips, folds = RunFolder.open(run_dir, allow_plugins, clips, computing=True,
                                                     allow_mixed_versions=allow_mixed_versions)  # fmt: skip
    name = network_name or recipe.eval.synthesis_network
    weights = network_weights if network_name or network_weights else recipe.eval.synthesis_network_weights
    if network is None and (network_name or network_weights):
        network = feature_network(name, weights)
    network = measurement_setup(recipe, network)
    identity = network_identity(name, weights)
    for fold in folds:
        model = folder.load_model(fold, device, allow_plugins)
        folder.write_records(fold, measure(model, recipe, clips, fold, network), identity)
    return write_synthesis(recipe, folder, folds, identity)
