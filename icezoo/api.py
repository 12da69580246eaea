"""The Python API, timm-style: shipped recipes by name, recipes by path or as data, models and checkpoints.

>>> import icezoo
>>> "icegan" in icezoo.list_recipes() and "table3/f_grm" in icezoo.list_recipes("table3/*")
True
>>> recipe = icezoo.load_recipe("icegan_small", ["train.max_steps=10"])
>>> model = icezoo.create_model("icegan_small", model__image_size=32)
>>> model.recognise(torch.zeros(2, 1, 32, 32)).shape
torch.Size([2, 3])

This is the layer above the recipe loader (:mod:`icezoo.config`) and the model
builder (:mod:`icezoo.models`): loading a recipe here also checks it against
what only a build can tell, on PyTorch's ``meta`` device (no memory, no compute).
The recipes ship inside the package (``icezoo/recipes``; ``recipes/`` in a
checkout links there), so names work from an installed wheel too.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config.loader import load_recipe as _read_recipe
from .config.schema import Recipe
from .errors import IcezooError
from .models import check_recipe

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"
"""Where the shipped recipes are (package data)."""


def list_recipes(pattern: str = "*") -> list[str]:
    """Names of the shipped recipes matching a wildcard ``pattern``, sorted: ``["icegan", ..., "table3/a_..."]``."""
    names = sorted(p.relative_to(RECIPE_DIR).with_suffix("").as_posix() for p in RECIPE_DIR.rglob("*.yaml"))
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def recipe_path(name: str) -> Path:
    """The file of shipped recipe ``name`` (``"icegan"``, ``"table4/dcnn"``); an unknown name lists the nearest."""
    path = RECIPE_DIR / f"{name}.yaml"
    if path.is_file():
        return path
    near = difflib.get_close_matches(name, list_recipes(), n=3, cutoff=0.4)
    hint = f"; nearest: {', '.join(near)}" if near else f"; shipped: {', '.join(list_recipes())}"
    raise IcezooError(f"no recipe file '{name}' and no shipped recipe of that name{hint}")


def load_recipe(source: str | Path | dict[str, Any], overrides: Iterable[str] = ()) -> Recipe:
    """Read (a file, or a shipped recipe by name) or take (a dict) a recipe, apply ``--set``-style overrides, check it.

    A string that names no file and has no ``.yaml`` suffix is looked up among the shipped recipes
    (:func:`list_recipes`). Errors are one line naming the file and key path (:class:`icezoo.RecipeError`).
    """
    if isinstance(source, str) and not Path(source).exists() and not source.endswith((".yaml", ".yml")):
        source = recipe_path(source)
    return _read_recipe(source, overrides, check=check_recipe)


def create_model(name: str | Path | dict[str, Any], overrides: Iterable[str] = (), **kwargs: Any):
    """The untrained :class:`icezoo.GAN` of a recipe; keyword overrides use ``__`` for dots.

    >>> model = create_model("icegan_small", model__image_size=32, model__generator__width=4)
    >>> model.image_size
    32
    """
    from .models import build_model

    extra = [f"{k.replace('__', '.')}={json.dumps(v)}" for k, v in kwargs.items()]
    return build_model(load_recipe(name, [*overrides, *extra]))


def load_checkpoint(path: str | Path, device: str = "cpu", *, allow_plugins: Iterable[str] = ()):
    """``(model, recipe)`` of a checkpoint of ``icezoo train`` or a fold model of ``icezoo eval --keep-models``.

    The model is rebuilt from the checkpoint's own recipe, in eval mode:
    ``model.recognise(faces)`` gives class scores, ``model.synthesize(onset, labels)`` faces.
    No code in the checkpoint runs: its recipe's ``plugins:`` load only if installed or named in ``allow_plugins``.
    """
    from .train.checkpoint import load_trained_model

    return load_trained_model(path, device, allow_plugins=allow_plugins)
