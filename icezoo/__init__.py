"""icezoo: a plugin-based zoo of PyTorch components for ICE-GAN and its ablations.

>>> import icezoo
>>> recipe = icezoo.load_recipe("icegan")          # a shipped recipe by name, or a path, or a dict
>>> model = icezoo.create_model("icegan_small")     # the model it describes

Register your own block with ``@icezoo.register("reasoning", "my_block")``,
or from a package through the ``icezoo.plugins`` entry point and a function
marked ``@icezoo.hookimpl`` named ``icezoo_register(registry)``.

The public names load on first use (PEP 562), so ``import icezoo.cli`` and
``icezoo --help`` do not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# Eager and light (no torch): ``registry`` is also the name of a submodule, and importing that submodule
# would otherwise bind ``icezoo.registry`` to the module instead of the Registry instance.
from . import plugins as _plugins  # noqa: F401  (installs the plugin host on the default registry)
from .errors import IcezooError, RecipeError
from .hookspecs import hookimpl, hookspec
from .registry import Registry, register, registry

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "GAN": ".models",
    "Recipe": ".config.schema",
    "build_model": ".models",
    "create_model": ".api",
    "list_recipes": ".api",
    "load_checkpoint": ".api",
    "load_recipe": ".api",
}
"""Public name -> the module that defines it, imported when the name is first looked up."""

__all__ = [
    "GAN",
    "IcezooError",
    "Recipe",
    "RecipeError",
    "Registry",
    "build_model",
    "create_model",
    "hookimpl",
    "hookspec",
    "list_recipes",
    "load_checkpoint",
    "load_recipe",
    "register",
    "registry",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'icezoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
