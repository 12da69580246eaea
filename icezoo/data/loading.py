"""A recipe's clips: its ``data`` spec built by the registry, at the model's image size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import IcezooError
from ..registry import registry
from .clips import ClipSet

if TYPE_CHECKING:
    from ..config.schema import Recipe


def load_clips(recipe: Recipe) -> ClipSet:
    """The recipe's dataset, at the model's image size."""
    try:
        return registry.build("dataset", recipe.data, image_size=recipe.model.image_size)
    except (ValueError, OSError) as err:
        raise IcezooError(f"{recipe.source}: data: {err}") from None
