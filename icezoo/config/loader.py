"""Read recipes: YAML (``safe_load`` only), ``extends:``, ``--set`` overrides, validation.

Merging rules (child wins):

* mappings merge key by key, recursively;
* a child spec whose ``type`` differs from the parent's replaces the parent's
  spec whole, so that swapping a block never inherits the old block's
  parameters (``--set model.generator.reasoning.type=se`` does the same);
* lists and scalars are replaced.

Every key remembers the file (or ``--set``) it came from, so an error names
the file that actually holds the bad value.

This module reads and validates; it builds nothing. A check that needs the
built model (six reasoning specs for six encoder levels, say) is passed in as
``check`` by :func:`icezoo.api.load_recipe`, the function users call.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from ..errors import IcezooError, RecipeError
from ..registry import registry
from ..typecheck import ValidationError, check_dataclass
from .safeyaml import safe_load
from .schema import Recipe

KeyPath = tuple[str, ...]


class Origins(dict):
    """Maps a key path to the file (or override) it came from."""

    def set_subtree(self, path: KeyPath, value: Any, source: str) -> None:
        for key in [k for k in self if k[: len(path)] == path]:
            del self[key]
        self._mark(path, value, source)

    def _mark(self, path: KeyPath, value: Any, source: str) -> None:
        self[path] = source
        if isinstance(value, dict):
            for k, v in value.items():
                self._mark(path + (str(k),), v, source)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._mark(path + (str(i),), v, source)

    def source_of(self, dotted: str, fallback: str) -> str:
        parts = tuple(dotted.replace("[", ".").replace("]", "").split(".")) if dotted else ()
        for n in range(len(parts), 0, -1):
            if parts[:n] in self:
                return self[parts[:n]]
        return fallback


def read_yaml(path: Path) -> Any:
    """``yaml.safe_load`` a file; a missing file or bad YAML is one clear line."""
    if not path.is_file():
        raise RecipeError(str(path), "", "recipe file not found" if not path.exists() else "not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RecipeError(str(path), "", f"cannot read: {err}") from None
    try:
        return safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise RecipeError(str(path), "", f"invalid YAML: {where}{problem}") from None


def _merge(base: Any, child: Any, origins: Origins, path: KeyPath, source: str) -> Any:
    if isinstance(base, dict) and isinstance(child, dict):
        if "type" in base and "type" in child and base["type"] != child["type"]:
            origins.set_subtree(path, child, source)
            return copy.deepcopy(child)
        merged = dict(base)
        for key, value in child.items():
            sub = path + (str(key),)
            if key in base:
                merged[key] = _merge(base[key], value, origins, sub, source)
            else:
                merged[key] = copy.deepcopy(value)
                origins.set_subtree(sub, value, source)
        return merged
    origins.set_subtree(path, child, source)
    return copy.deepcopy(child)


def read_recipe_data(path: str | Path, _stack: tuple[Path, ...] = ()) -> tuple[dict[str, Any], Origins]:
    """The recipe at ``path`` with its ``extends:`` chain merged in, and the origin of each key."""
    path = Path(path)
    resolved = path.resolve()
    data = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(str(path), "", f"a recipe must be a mapping of sections, got {type(data).__name__}")
    parents = data.pop("extends", None)
    if parents is None:
        parents = []
    elif isinstance(parents, str):
        parents = [parents]
    elif not (isinstance(parents, list) and all(isinstance(p, str) for p in parents)):
        raise RecipeError(str(path), "extends", f"expected a recipe path or a list of them, got {parents!r}")
    merged: dict[str, Any] = {}
    origins = Origins()
    for parent in parents:
        parent_path = path.parent / parent
        if parent_path.resolve() in _stack + (resolved,):
            chain = " -> ".join(p.name for p in _stack + (resolved, parent_path.resolve()))
            raise RecipeError(str(path), "extends", f"circular extends: {chain}")
        if not parent_path.exists():
            raise RecipeError(str(path), "extends", f"parent recipe '{parent}' not found (looked for {parent_path})")
        parent_data, parent_origins = read_recipe_data(parent_path, _stack + (resolved,))
        merged = _merge(merged, parent_data, origins, (), str(parent_path))
        origins.update(parent_origins)
    merged = _merge(merged, data, origins, (), str(path))
    return merged, origins


def apply_override(data: dict[str, Any], origins: Origins, item: str, source: str) -> None:
    """Apply one ``a.b.c=VALUE`` (VALUE read as YAML) to ``data`` in place."""
    where = f"{source} (--set {item if len(item) <= 120 else item[:117] + '...'})"
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise RecipeError(where, "", "expected --set KEY.PATH=VALUE")
    try:
        value = safe_load(text) if text.strip() else None
    except yaml.YAMLError as err:
        raise RecipeError(where, key, f"value is not valid YAML ({str(err).splitlines()[0]})") from None
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        child = _child(node, part, where, ".".join(parts[: depth + 1]))
        if child is None or child is _ABSENT:
            child = {}
            _set(node, part, child, where, ".".join(parts[: depth + 1]))
        node = child
    last = parts[-1]
    dotted = tuple(parts)
    if last == "type" and isinstance(node, dict) and node.get("type") not in (None, value):
        # a new component type: drop the old one's parameters
        node.clear()
        origins.set_subtree(dotted[:-1], {}, where)
    _set(node, last, value, where, key)
    origins.set_subtree(dotted, value, where)


_ABSENT = object()


def _child(node: Any, part: str, where: str, dotted: str) -> Any:
    if isinstance(node, dict):
        return node.get(part, _ABSENT)
    if isinstance(node, list):
        try:
            return node[int(part)]
        except (ValueError, IndexError):
            raise RecipeError(where, dotted, f"no item {part!r} in a list of {len(node)}") from None
    raise RecipeError(where, dotted, f"cannot set a key inside {node!r}")


def _set(node: Any, part: str, value: Any, where: str, dotted: str) -> None:
    if isinstance(node, dict):
        node[part] = value
    elif isinstance(node, list):
        try:
            node[int(part)] = value
        except (ValueError, IndexError):
            raise RecipeError(where, dotted, f"no item {part!r} in a list of {len(node)}") from None
    else:
        raise RecipeError(where, dotted, f"cannot set a key inside {node!r}")


RecipeCheck = Callable[[Recipe], None]
"""A check of a validated recipe that raises :class:`ValidationError` with a key path."""


def load_recipe(
    source: str | Path | dict[str, Any], overrides: Iterable[str] = (), *, check: RecipeCheck | None = None
) -> Recipe:
    """Read, merge, override and validate a recipe file (or recipe data, a dict); nothing is built.

    ``check`` runs on the validated recipe; its errors name the file holding the key.
    """
    overrides = list(overrides)
    if isinstance(source, dict):
        data, origins, name = copy.deepcopy(source), Origins(), "<dict>"
    else:
        data, origins = read_recipe_data(source)
        name = str(source)
    for item in overrides:
        apply_override(data, origins, item, name)
    return recipe_from_dict(data, name, overrides=overrides, origins=origins, check=check)


def recipe_from_dict(
    data: dict[str, Any], source: str = "<dict>", *, overrides: Iterable[str] = (), origins: Origins | None = None,
    check: RecipeCheck | None = None, load_plugins: bool = True,
) -> Recipe:  # fmt: skip
    """Validate recipe data (a file's, a checkpoint's, a user's dict) into a :class:`Recipe`.

    The modules under ``plugins:`` are loaded first (a ``.py`` path relative to
    the recipe that declared it), unless ``load_plugins`` is False; then every
    key is checked. Errors are :class:`RecipeError` naming the file and key path.
    """
    origins = origins if origins is not None else Origins()
    if not isinstance(data, dict):
        raise RecipeError(source, "", f"a recipe must be a mapping of sections, got {type(data).__name__}")
    data = copy.deepcopy(data)
    if load_plugins:
        _load_plugins(data, origins, source)
    try:
        recipe = check_dataclass(Recipe, data, "", registry.check_nested)
        recipe.source, recipe.overrides = source, list(overrides)
        if check is not None:
            check(recipe)
    except ValidationError as err:
        raise RecipeError(origins.source_of(err.path, source), err.path, err.message) from None
    return recipe


def _load_plugins(data: dict[str, Any], origins: Origins, source: str) -> None:
    """Import the modules a recipe names under ``plugins:``; file paths become absolute in ``data``."""
    plugins = data.get("plugins") or []
    if not (isinstance(plugins, list) and all(isinstance(p, str) for p in plugins)):
        raise RecipeError(
            origins.source_of("plugins", source), "plugins", f"expected a list of module names, got {plugins!r}"
        )
    for i, module in enumerate(plugins):
        declared_in = Path(origins.source_of(f"plugins.{i}", source).split(" (--set")[0])
        try:
            registry.plugins.load_modules([module], base_dir=declared_in.parent)
        except IcezooError as err:
            raise RecipeError(str(declared_in), f"plugins[{i}]", str(err)) from None
        if module.endswith(".py"):  # the resolved recipe names the file wherever it is read again
            plugins[i] = str((declared_in.parent / module).resolve())


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML, with a header saying where it came from."""
    header = f"# resolved from {recipe.source}"
    if recipe.overrides:
        header += " with " + " ".join(f"--set {o}" for o in recipe.overrides)
    body = yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=None, width=100)
    return f"{header}\n{body}"
