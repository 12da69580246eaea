"""The Python API, timm-style: recipes by path or as data, and the model they describe.

>>> import icezoo
>>> recipe = icezoo.load_recipe("recipes/icegan_small.yaml", ["train.max_steps=10"])
>>> model = icezoo.build_model(recipe)

This is the layer above the recipe loader (:mod:`icezoo.config`) and the model
builder (:mod:`icezoo.models`): loading a recipe here also checks it against
what only a build can tell, on PyTorch's ``meta`` device (no memory, no compute).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config.loader import load_recipe as _read_recipe
from .config.schema import Recipe


def check_recipe(recipe: Recipe) -> None:
    """Build the model on the ``meta`` device and check the loss section against its head.

    Surfaces constructor errors (six reasoning specs for six encoder levels,
    a head that cannot fit the trunk's features) and the memory training would need
    (:mod:`icezoo.memory`) before anything real is built.
    """
    from .memory import check_memory
    from .models import check_buildable
    from .train.objective import check_objective

    model = check_buildable(recipe)
    m = recipe.model
    check_memory(model, recipe.train.batch_size, m.image_size, m.in_channels, m.noise_dim)
    check_objective(recipe.loss, model.discriminator.head, recipe.model.in_channels)


def load_recipe(source: str | Path | dict[str, Any], overrides: Iterable[str] = ()) -> Recipe:
    """Read (a file) or take (a dict) a recipe, apply ``--set``-style overrides, validate and check it.

    Errors are one line naming the file and key path (:class:`icezoo.RecipeError`).
    """
    return _read_recipe(source, overrides, check=check_recipe)
