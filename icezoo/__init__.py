"""icezoo: a plugin-based zoo of PyTorch components for ICE-GAN and its ablations.

>>> import icezoo
>>> recipe = icezoo.load_recipe("recipes/icegan.yaml")
>>> model = icezoo.build_model(recipe)

Register your own block with ``@icezoo.register("reasoning", "my_block")``,
or from a package through the ``icezoo.plugins`` entry point and a function
marked ``@icezoo.hookimpl`` named ``icezoo_register(registry)``.
"""

from .api import load_recipe
from .config.schema import Recipe
from .errors import IcezooError, RecipeError
from .models import GAN, build_model
from .hookspecs import hookimpl, hookspec
from . import plugins as _plugins  # installs the plugin host on the default registry
from .registry import Registry, register, registry

__version__ = "0.1.0"

__all__ = [
    "GAN", "IcezooError", "Recipe", "RecipeError", "Registry", "build_model", "hookimpl", "hookspec",
    "load_recipe", "register", "registry", "__version__",
]
