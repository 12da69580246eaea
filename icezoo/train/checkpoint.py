"""Checkpoints and other run files, written atomically and read safely.

A checkpoint holds everything a run needs to continue exactly: model weights
(and buffers: batch-norm statistics, spectral-norm vectors), optimiser and
scheduler states, RNG states, the step, and the resolved recipe. It is written
to a temporary file in the same folder and renamed over the old one, so a kill
at any moment leaves the previous checkpoint whole. It is read with
``torch.load(weights_only=True)``: no pickled code runs.

A run resumes only under the recipe it was trained with, except the fields the
schema flags ``metadata={"resume": "may_change"}`` (budget, device, logging
intervals, names, the eval and bench sections): they do not change what is
computed. A checkpoint's stored recipe also rebuilds its model on its own
(:func:`load_trained_model`), with the averaged generator (``generator_ema``,
see :mod:`.ema`) where the run kept one.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config.compare import first_difference, without
from ..config.loader import recipe_from_dict
from ..config.schema import Recipe
from ..devices import resolve_device
from ..errors import IcezooError, RecipeError
from ..files import atomic_write
from ..models import GAN, build_model
from ..registry import registry

FORMAT = "icezoo-checkpoint/1"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save ``state`` (plain data and tensors) atomically, tagged with the format version."""
    payload = {"format": FORMAT, **state}
    try:
        return atomic_write(path, lambda h: torch.save(payload, h))
    except (OSError, RuntimeError) as err:  # disk full, file-size limit (torch wraps the OSError in a RuntimeError)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: cannot write the checkpoint ({reason[:160]}); the previous one is kept") from None


def clear_partial_writes(path: str | Path) -> list[Path]:
    """Delete the temporary siblings a killed :func:`save_checkpoint` left beside ``path``; return them."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely; a missing, corrupt or foreign file is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise IcezooError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled code...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IcezooError(f"{path}: not a readable checkpoint ({reason[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise IcezooError(f"{path}: not an icezoo checkpoint (format {found!r}, expected {FORMAT!r})")
    return state


def load_module_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: str | Path) -> None:
    """``module.load_state_dict(state)`` with a one-line error naming the first mismatch."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise IcezooError(f"{path}: the checkpoint's {what} is not a mapping of tensors")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        detail = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise IcezooError(
            f"{path}: the checkpoint's {what} does not match the recipe's model ({detail}, {len(missing)} missing, {len(unexpected)} unexpected keys)"
        )
    # an older icezoo stored GIN's fixed eps as PyG's [1]-shaped buffer; the GRM holds it 0-dim now. The GRM's
    # _load_from_state_dict upgrades it too, but only inside load_state_dict, after the shape check below
    state = {k: v.reshape(()) if own[k].dim() == 0 and v.shape == (1,) else v for k, v in state.items()}
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise IcezooError(
                f"{path}: the checkpoint's {what} does not match the recipe's model ({key}: {tuple(state[key].shape)} in the checkpoint, {tuple(value.shape)} in the model)"
            )
    module.load_state_dict(state)


# -- resumption ---------------------------------------------------------------
PARTS = ("step", "recipe", "generator", "discriminator", "opt_g", "opt_d", "schedulers", "rng")


def may_change_on_resume(cls: type = Recipe, prefix: str = "") -> list[str]:
    """Key paths of the recipe fields flagged ``metadata={"resume": "may_change"}``, in schema order."""
    hints = typing.get_type_hints(cls)
    keys: list[str] = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("resume") == "may_change":
            keys.append(prefix + f.name)
        elif dataclasses.is_dataclass(hints[f.name]):
            keys += may_change_on_resume(hints[f.name], f"{prefix}{f.name}.")
    return keys


def check_resumable(state: dict[str, Any], recipe: Recipe, path: str | Path) -> None:
    """Refuse a checkpoint that lacks a part, was trained under another recipe, or does not fit the model."""
    _require(state, PARTS, path)
    free = may_change_on_resume()
    stored = _with_defaults(state["recipe"], path)
    difference = first_difference(without(stored, free), without(recipe.to_dict(), free))
    if difference:
        key, then, now = difference
        raise IcezooError(
            f"{path}: the run was trained with {key} = {then!r}, this recipe says {now!r}; "
            f"on --resume only {', '.join(free)} may change"
        )
    _check_generator(state, recipe.model.generator is not None, path)


def _with_defaults(data: Any, path: str | Path) -> Any:
    """A stored recipe with the defaults of fields added since it was written (as the run computed them)."""
    try:
        return recipe_from_dict(data, f"{path} (stored recipe)", load_plugins=False).to_dict()
    except (IcezooError, TypeError, ValueError):
        return data  # compared as stored: the difference names the key


def _require(state: dict[str, Any], parts: tuple[str, ...], path: str | Path) -> None:
    missing = [k for k in parts if k not in state]
    if missing:
        raise IcezooError(f"{path}: incomplete or mismatched checkpoint (no {', '.join(repr(k) for k in missing)})")


def _check_generator(state: dict[str, Any], has_generator: bool, path: str | Path) -> None:
    """A checkpoint and a model agree on having a generator (model A has none)."""
    stored = state.get("generator") is not None
    if stored != has_generator:
        raise IcezooError(
            f"{path}: the checkpoint {'has a' if stored else 'has no'} generator, "
            f"the recipe's model {'has one' if has_generator else 'has none'}"
        )


# -- a trained model ----------------------------------------------------------
def allow_stored_plugins(data: dict[str, Any], allow: list[str], path: str | Path) -> None:
    """Load the plugins the user allows; refuse a stored ``plugins:`` entry that is neither loaded nor allowed.

    A checkpoint is data that people share: its recipe may name a module or a
    ``.py`` file, and importing that would run it. Only installed plugins (entry
    points, loaded already) and the ones the user names run.
    """
    stored = data.get("plugins") or []
    if not (isinstance(stored, list) and all(isinstance(p, str) for p in stored)):
        raise IcezooError(f"{path}: the stored recipe's plugins is not a list of module names ({stored!r})")
    registry.plugins.load()
    loaded = set(registry.plugins.loaded)
    allowed = set(registry.plugins.load_modules(list(allow))) | set(allow) if allow else set()
    for entry in stored:
        if entry in loaded or entry in allowed or (entry.endswith(".py") and str(Path(entry).resolve()) in allowed):
            continue
        raise IcezooError(
            f"{path}: the stored recipe needs plugin {entry!r}, which is not loaded; a checkpoint or run folder runs "
            f"no code of its own: if you trust it, allow it with --plugins {entry} (Python: allow_plugins=[{entry!r}])"
        )


def read_trained_state(path: str | Path) -> dict[str, Any]:
    """The state of a checkpoint file, a model folder (``icezoo export``) or ``hf-hub:ORG/NAME`` (local cache)."""
    from .model_folder import read_model_state, resolve_model_path

    where = resolve_model_path(path)
    return read_model_state(where) if where.is_dir() else load_checkpoint(where)


def load_trained_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    allow_plugins: Iterable[str] = (),
    ema: bool = True,
    state: dict[str, Any] | None = None,
) -> tuple[GAN, Recipe]:
    """The GAN of a training checkpoint, rebuilt from its stored recipe, with the trained weights, in eval mode;
    the generator is the averaged one (``train.ema_decay``) where the checkpoint holds one and ``ema`` is true.

    The one safe loader of a checkpoint's model (``synth``, ``test``, ``predict``, ``icezoo.load_checkpoint``):
    nothing in the checkpoint runs. Its recipe's ``plugins:`` are not imported; each must be installed
    already or named in ``allow_plugins`` (module names or ``.py`` files, which are then imported).
    ``path`` may also be a model folder of ``icezoo export`` or ``hf-hub:ORG/NAME`` in the local Hub cache
    (:mod:`.model_folder`), read under the same rules. ``state``: the file's state when the caller has read
    it already (to check its run identity, say), so that it is not read twice.
    """
    from .model_folder import trained_on

    device = resolve_device(str(device), "--device")  # checked before the file is read
    state = read_trained_state(path) if state is None else state
    data = state.get("recipe")
    if not isinstance(data, dict):
        raise IcezooError(f"{path}: the checkpoint holds no recipe")
    allow_stored_plugins(data, list(allow_plugins), path)
    try:
        recipe = recipe_from_dict(data, f"{path} (stored recipe)", load_plugins=False)
    except RecipeError as err:
        raise IcezooError(f"the stored recipe no longer validates: {err}") from None
    if recipe.model.is_baseline:  # a recogniser on an input (icezoo.recognition)
        from ..recognition import load_baseline

        model = load_baseline(recipe, state, path, load_module_state)
        model.trained_on = trained_on(state)
        return model.to(device).eval(), recipe
    model = build_model(recipe)
    _require(state, ("generator", "discriminator"), path)
    _check_generator(state, model.generator is not None, path)
    if model.generator is not None:
        averaged = ema and state.get("generator_ema") is not None
        key = "generator_ema" if averaged else "generator"
        load_module_state(model.generator, state[key], key.replace("_", " "), path)
    load_module_state(model.discriminator, state["discriminator"], "discriminator", path)
    model.trained_on = trained_on(state)  # what its answers are worth (icezoo.inference.about)
    return model.to(device).eval(), recipe


def training_state(
    step: int,
    recipe: Recipe,
    model: GAN,
    optimizers: dict,
    schedulers: list,
    history: list,
    ema: Any = None,
    log_window: dict | None = None,
) -> dict[str, Any]:
    """A run's whole state at ``step``: weights and buffers, optimisers (``opt_g`` None for model A), schedulers,
    RNG states, the logged rows and the open log window, the resolved recipe and the averaged generator (``ema``,
    None when off)."""
    return {
        "log_window": log_window,
        "generator_ema": ema.state_dict() if ema is not None else None,
        "step": step,
        "recipe": recipe.to_dict(),
        "generator": model.generator.state_dict() if model.generator is not None else None,
        "discriminator": model.discriminator.state_dict(),
        **{name: opt.state_dict() if opt is not None else None for name, opt in optimizers.items()},
        "schedulers": [s.state_dict() for s in schedulers],
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "history": [list(r.items()) for r in history],
    }


def restore_training_state(
    state: dict[str, Any], path: str | Path, model: GAN, optimizers: dict, schedulers: list, ema: Any = None
) -> tuple[int, list[dict[str, float]]]:
    """Load :func:`training_state`'s output into a freshly built run; returns (step, history).

    A checkpoint that does not fit (other keys, shapes, optimiser layout) is one line naming ``path``.
    """
    try:
        if model.generator is not None:
            load_module_state(model.generator, state["generator"], "generator", path)
            optimizers["opt_g"].load_state_dict(state["opt_g"])
        if ema is not None:
            if state.get("generator_ema") is None:
                raise IcezooError(f"{path}: the checkpoint holds no averaged generator (generator_ema)")
            load_module_state(ema.module, state["generator_ema"], "averaged generator", path)
        load_module_state(model.discriminator, state["discriminator"], "discriminator", path)
        optimizers["opt_d"].load_state_dict(state["opt_d"])
        for sched, s in zip(schedulers, state["schedulers"]):
            sched.load_state_dict(s)
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        return int(state["step"]), [dict(r) for r in state.get("history", [])]
    except IcezooError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
        raise IcezooError(
            f"{path}: incomplete or mismatched checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:160]})"
        ) from None


def load_run_recipe(run_dir: str | Path, allow_plugins: Iterable[str] = ()) -> Recipe:
    """The resolved ``recipe.yaml`` of a run folder, read as a checkpoint's recipe is: data, never code.

    Its ``plugins:`` are not imported unless loaded already or named in ``allow_plugins``.
    """
    from ..config.loader import read_recipe_data
    from ..models import check_recipe

    path = Path(run_dir) / "recipe.yaml"
    data, origins = read_recipe_data(path)
    allow_stored_plugins(data, list(allow_plugins), path)
    return recipe_from_dict(data, str(path), origins=origins, check=check_recipe, load_plugins=False)
