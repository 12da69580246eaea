"""The hooks a plugin implements, and their markers (as ``llm``'s ``hookspecs.py``).

A plugin is a module with a function marked ``@icezoo.hookimpl`` named
``icezoo_register(registry)``; :mod:`icezoo.plugins` finds and calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .registry import Registry

PROJECT = "icezoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpecs:
    """The hooks a plugin may implement."""

    @hookspec
    def icezoo_register(self, registry: Registry) -> None:
        """Register components: ``registry.register(kind, name, obj)``."""
