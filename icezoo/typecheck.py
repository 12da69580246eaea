"""Check (and gently coerce) plain YAML values against Python type annotations.

Used twice: for the recipe's own sections (dataclasses in
:mod:`icezoo.config.schema`) and for the parameters of every component spec
(the annotations of the registered class or factory). Nested component specs
are marked with :class:`Component` inside ``typing.Annotated`` and handed back
to the caller, which knows the registry.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Callable, Literal, Union

from .errors import IcezooError


class ValidationError(IcezooError):
    """A value that does not fit its annotation, located by a dotted key path."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}" if path else message)


@dataclasses.dataclass(frozen=True)
class Component:
    """Annotation marker: the value is a ``{type: NAME, ...}`` spec of ``kind``.

    ``many=True`` also accepts a list of specs (one per encoder level, say);
    ``optional=True`` accepts ``null`` for "no component here".
    """

    kind: str
    many: bool = False
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class ExistingFile:
    """Annotation marker: the value (when not null) names a file that must exist now."""


# A float written as 1e-3 is a *string* to YAML 1.1 (it wants 1.0e-3).
_FLOAT_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

ComponentChecker = Callable[[Any, Component, str], Any]


def describe_type(annotation: Any) -> str:
    """A short human name for an annotation (``int``, ``list[int]``, ``'a' | 'b'``)."""
    origin = typing.get_origin(annotation)
    if annotation is Any or annotation is dataclasses.MISSING:
        return "any"
    if origin is typing.Annotated:
        meta = [m for m in annotation.__metadata__ if isinstance(m, Component)]
        if meta:
            return f"{meta[0].kind} spec" + (" or list of specs" if meta[0].many else "")
        return describe_type(typing.get_args(annotation)[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(describe_type(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, typing.Sequence) or origin is getattr(typing, "Sequence", None):
        args = typing.get_args(annotation)
        return f"list[{describe_type(args[0]) if args else 'any'}]"
    if origin is dict:
        return "mapping"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def check_value(value: Any, annotation: Any, path: str, on_component: ComponentChecker | None = None) -> Any:
    """Return ``value`` checked against ``annotation`` (ints widen to floats, '1e-3' to 0.001).

    Raises :class:`ValidationError` naming ``path`` when it does not fit.
    """
    origin = typing.get_origin(annotation)
    if annotation is Any or annotation is dataclasses.MISSING or annotation is typing.Any:
        return value
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        marker = next((m for m in meta if isinstance(m, Component)), None)
        if marker is None:
            value = check_value(value, base, path, on_component)
            if any(isinstance(m, ExistingFile) for m in meta) and value is not None:
                import os

                if not os.path.isfile(os.path.expanduser(str(value))):
                    raise ValidationError(path, f"file not found: {value}")
            return value
        if value is None and marker.optional:
            return None
        if on_component is None:
            return value
        return on_component(value, marker, path)
    if origin in (Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_value(value, arg, path, on_component)
            except ValidationError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise _mismatch(path, annotation, value)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise ValidationError(path, f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    if origin in (list, tuple) or origin is typing.Sequence or _is_abc_sequence(origin):
        if not isinstance(value, (list, tuple)):
            raise _mismatch(path, annotation, value)
        args = typing.get_args(annotation)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ValidationError(path, f"expected {len(args)} items, got {len(value)}")
            return [check_value(v, a, f"{path}[{i}]", on_component) for i, (v, a) in enumerate(zip(value, args))]
        item = args[0] if args else Any
        return [check_value(v, item, f"{path}[{i}]", on_component) for i, v in enumerate(value)]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise _mismatch(path, annotation, value)
        return value
    if annotation is type(None):
        if value is None:
            return None
        raise _mismatch(path, annotation, value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _mismatch(path, annotation, value)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _mismatch(path, annotation, value)
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
            return float(value)
        raise _mismatch(path, annotation, value)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _mismatch(path, annotation, value)
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        raise _mismatch(path, annotation, value)
    return value  # an annotation we do not understand is not enforced


def _is_abc_sequence(origin: Any) -> bool:
    import collections.abc as abc

    return origin in (abc.Sequence, abc.MutableSequence)


def _mismatch(path: str, annotation: Any, value: Any) -> ValidationError:
    return ValidationError(path, f"expected {describe_type(annotation)}, got {value!r}")
