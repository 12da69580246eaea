"""Plugins through pluggy, as pytest and ``llm`` use it.

A plugin is a module with a function marked ``@icezoo.hookimpl`` named
``icezoo_register(registry)``. Plugins come from three places, in this order:

1. core: :mod:`icezoo.builtin` registers the built-in components through the
   very same hook;
2. installed packages advertising an entry point in the group
   ``icezoo.plugins`` (``ICEZOO_PLUGINS=name,other`` limits which of these
   load; ``ICEZOO_PLUGINS=`` loads none);
3. modules a recipe names under ``plugins:`` (a local module on ``sys.path``,
   or a ``.py`` file relative to the recipe); a module there may also simply
   use the ``@icezoo.register`` decorator at import time.

Each plugin is registered, validated with ``check_pending()`` (a misspelt hook
is caught at once) and called on its own: a plugin that fails to import, to
validate, or to register is reported by name, its partial registrations are
rolled back, and the other plugins are unaffected.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import builtin
from .errors import IcezooError
from .hookspecs import PROJECT, HookSpecs, hookimpl, hookspec
from .registry import Registry, registry

__all__ = ["ENTRY_POINT_GROUP", "ENV_VAR", "PluginHost", "create_registry", "hookimpl", "hookspec"]

ENTRY_POINT_GROUP = "icezoo.plugins"
ENV_VAR = "ICEZOO_PLUGINS"

log = logging.getLogger("icezoo")


class PluginHost:
    """Discovers, validates and calls plugins for one registry, lazily and once.

    It installs itself as the registry's loader (:meth:`Registry.attach_loader`).
    """

    def __init__(self, registry: Registry):
        self.registry = registry
        registry.attach_loader(self)
        self.manager = pluggy.PluginManager(PROJECT)
        self.manager.add_hookspecs(HookSpecs)
        self.loaded: dict[str, str] = {}  # name -> where it came from
        self.failed: dict[str, str] = {}  # name -> one-line reason
        self.skipped: list[str] = []  # installed but excluded by ICEZOO_PLUGINS
        self._started = False

    # -- discovery ----------------------------------------------------------
    def load(self) -> None:
        """Load core and the installed plugins (once)."""
        if self._started:
            return
        self._started = True
        self.add("core", builtin, origin="icezoo", strict=True)
        allowed = _allowed_from_env()
        installed = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        unknown = sorted((allowed or set()) - {ep.name for ep in installed})
        if unknown:
            log.warning(
                "%s names plugins that are not installed: %s (installed: %s)",
                ENV_VAR,
                ", ".join(unknown),
                ", ".join(ep.name for ep in installed) or "none",
            )
        for ep in installed:
            if ep.name in self.loaded or ep.name in self.failed:
                continue
            if allowed is not None and ep.name not in allowed:
                self.skipped.append(ep.name)
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
            try:
                with self.registry.registering_as(ep.name):  # decorators run at import count as this plugin's
                    module = ep.load()
            except (Exception, SystemExit) as err:  # a broken plugin must not take the others down
                self._fail(ep.name, f"could not be imported ({type(err).__name__}: {err})")
                continue
            self.add(ep.name, module, origin=dist)

    def load_modules(self, modules: list[str], base_dir: str | Path | None = None) -> list[str]:
        """Import modules named by a recipe and register those with hooks; return their names.

        A name ending in ``.py`` is a file, relative to ``base_dir`` (the recipe's
        folder); anything else is a module importable from ``sys.path`` or the
        current directory. A module that cannot be found is an error.
        """
        self.load()
        names = []
        for spec in modules:
            name, module = self._import(spec, base_dir)
            names.append(name)
            if name in self.loaded:
                continue
            if self._hook_impls(module):
                self.add(name, module, origin=getattr(module, "__file__", name), strict=True)
            else:
                self.loaded[name] = getattr(module, "__file__", name) or name
        return names

    def _import(self, spec: str, base_dir: str | Path | None) -> tuple[str, ModuleType]:
        if spec.endswith(".py"):
            path = Path(spec)
            if not path.is_absolute() and base_dir is not None:
                path = Path(base_dir) / path
            if not path.is_file():
                raise IcezooError(f"plugin file '{spec}' not found (looked for {path})")
            resolved = path.resolve()
            # a private module name per file: a plugin called utils.py must not replace another utils
            name = f"icezoo_local_{path.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:8]}"
            if name in sys.modules:
                return str(resolved), sys.modules[name]
            module_spec = importlib.util.spec_from_file_location(name, resolved)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            with self.registry.registering_as(f"module {path.stem}"):
                try:
                    module_spec.loader.exec_module(module)
                except IcezooError:
                    sys.modules.pop(name, None)
                    raise
                except (Exception, SystemExit) as err:  # sys.exit() at import is a failure, not an exit
                    sys.modules.pop(name, None)
                    raise IcezooError(f"plugin file '{spec}' failed to import: {type(err).__name__}: {err}") from err
            return str(resolved), module
        cwd = os.getcwd()
        added = cwd not in sys.path
        if added:
            sys.path.insert(0, cwd)
        try:
            with self.registry.registering_as(f"module {spec}"):
                return spec, importlib.import_module(spec)
        except ModuleNotFoundError as err:
            if err.name and spec.startswith(err.name):
                raise IcezooError(
                    f"plugin module '{spec}' not found (not installed, and not importable from {cwd})"
                ) from None
            raise IcezooError(f"plugin module '{spec}' failed to import: {err}") from err
        except IcezooError:
            raise
        except (Exception, SystemExit) as err:
            raise IcezooError(f"plugin module '{spec}' failed to import: {type(err).__name__}: {err}") from err
        finally:
            if added:
                sys.path.remove(cwd)

    # -- registration of one plugin ------------------------------------------
    def _hook_impls(self, module: Any) -> list[str]:
        return [n for n in dir(module) if hasattr(getattr(module, n, None), "icezoo_impl")]

    def add(self, name: str, plugin: Any, *, origin: str = "", strict: bool = False) -> bool:
        """Register one plugin object and call its hook; False (and a report) if it fails.

        ``strict`` raises instead of reporting (for modules a recipe asked for).
        """
        if name in self.loaded:
            return True
        try:
            self.manager.register(plugin, name=name)
        except Exception as err:
            return self._fail(name, f"was rejected by pluggy ({err})", strict)
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as err:
            self.manager.unregister(plugin)
            return self._fail(
                name, f"implements a hook icezoo does not define ({err}); did you mean 'icezoo_register'?", strict
            )
        if not self.manager.get_hookcallers(plugin):
            self.manager.unregister(plugin)
            return self._fail(
                name,
                "implements no icezoo hook (expected a function 'icezoo_register' marked @icezoo.hookimpl)",
                strict,
            )
        others = [p for p in self.manager.get_plugins() if p is not plugin]
        call = self.manager.subset_hook_caller("icezoo_register", remove_plugins=others)
        try:
            with self.registry.registering_as(name):
                call(registry=self.registry)
        except Exception as err:
            self.manager.unregister(plugin)
            return self._fail(name, f"failed while registering: {err}", strict)
        self.loaded[name] = origin or name
        return True

    def _fail(self, name: str, reason: str, strict: bool = False) -> bool:
        message = f"plugin '{name}' {reason}"
        if strict:
            raise IcezooError(message)
        self.failed[name] = reason
        log.warning("%s; the other plugins are unaffected", message)
        return False

    def status_line(self) -> str:
        """``(plugins loaded: core, x; failed: y)`` for error messages."""
        text = f"(plugins loaded: {', '.join(self.loaded) or 'none'}"
        if self.failed:
            text += f"; failed: {', '.join(self.failed)}"
        if self.skipped:
            text += f"; not loaded because of {ENV_VAR}: {', '.join(self.skipped)}"
        return text + ")"


def create_registry() -> Registry:
    """A new, empty registry fed by its own plugin host (core, then installed plugins), as the default one is."""
    fresh = Registry()
    PluginHost(fresh)
    return fresh


def _allowed_from_env() -> set[str] | None:
    """Names allowed by ``ICEZOO_PLUGINS`` (None: all installed plugins)."""
    value = os.environ.get(ENV_VAR)
    if value is None or value.strip() == "*":
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


PluginHost(registry)  # the process-wide registry is filled by plugins, lazily, on first use
