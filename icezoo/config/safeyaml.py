"""YAML read with limits: ``safe_load`` that bounds nesting depth and alias expansion.

Recipes and ``--set`` values are user files: a 20,000-deep list would end in
Python's recursion limit, a "billion laughs" alias bomb in minutes of
copying, and a recursive alias forever; all three are refused as ``yaml.YAMLError``, which callers turn into one line.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a recipe (or a ``--set`` value) may have; a real recipe needs five."""
MAX_NODES = 100_000
"""Most values a recipe may hold with every alias expanded: refuses a "billion laughs" alias bomb."""


class _LimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses nesting deeper than :data:`MAX_DEPTH` before Python's recursion limit does."""

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 (PyYAML's signature)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _count_nodes(value: Any, budget: list[int], inside: frozenset[int] = frozenset()) -> None:
    """Count values with aliases expanded; stop (budget below zero) as soon as :data:`MAX_NODES` is passed.

    ``inside`` holds the ids of the lists and mappings on the way down: meeting one again is a value that
    contains itself (``x: &a [*a]``), refused rather than followed into Python's recursion limit.
    """
    budget[0] -= 1
    if budget[0] < 0:
        return
    if not isinstance(value, (dict, list)):
        return
    if id(value) in inside:
        raise yaml.YAMLError("a value contains itself (a recursive alias)")
    inside = inside | {id(value)}
    for child in value.values() if isinstance(value, dict) else value:
        _count_nodes(child, budget, inside)
        if budget[0] < 0:
            return


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with bounded nesting and alias expansion; raises ``yaml.YAMLError``."""
    data = yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 (a SafeLoader subclass)
    budget = [MAX_NODES]
    _count_nodes(data, budget)
    if budget[0] < 0:
        raise yaml.YAMLError(f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)")
    return data
