"""Check (and gently coerce) plain YAML values against Python type annotations.

One validation path serves both the recipe's own sections (dataclasses in
:mod:`icezoo.config.schema`, through :func:`check_dataclass`) and the
parameters of every component spec (the signature of the registered class or
factory, through :func:`check_fields` in :meth:`icezoo.registry.Registry.validate`):
unknown keys with a "did you mean", values set by icezoo, missing values,
defaults, types. Nested component specs are marked with :class:`Component`
inside ``typing.Annotated`` and handed back to the caller, which knows the
registry.
"""

from __future__ import annotations

import collections.abc as abc
import contextlib
import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, Union

from .errors import IcezooError


class ValidationError(IcezooError):
    """A value that does not fit its annotation, located by a dotted key path."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}" if path else message)

    def under(self, prefix: str) -> ValidationError:
        """The same error, its path now below ``prefix``."""
        return ValidationError(join_path(prefix, self.path), self.message)


@contextlib.contextmanager
def located(prefix: str) -> Iterator[None]:
    """Re-raise a :class:`ValidationError` from the block with its path below ``prefix``."""
    try:
        yield
    except ValidationError as err:
        raise err.under(prefix) from None


def join_path(path: str, key: str) -> str:
    """``a.b`` + ``c`` -> ``a.b.c``; either side may be empty."""
    return f"{path}.{key}" if path and key else path or key


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


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a field that has none: a value must be given."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One key a mapping may hold: a recipe section's field or a component's parameter."""

    name: str
    annotation: Any = Any
    default: Any = REQUIRED
    settable: bool = True  # False: icezoo supplies it (a builder argument); a recipe may not

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# A float written as 1e-3 is a *string* to YAML 1.1 (it wants 1.0e-3).
_FLOAT_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

ComponentChecker = Callable[[Any, Component, str], Any]


def to_plain(value: Any) -> Any:
    """``value`` as YAML would write it: dataclasses to mappings, tuples to lists, recursively.

    Dataclass fields marked ``metadata={"internal": True}`` are left out.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.metadata.get("internal")
        }
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def is_plain(value: Any) -> bool:
    """Whether ``value`` is made of YAML scalars, lists and string-keyed mappings only."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    return False


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
    if _is_sequence(origin):
        args = typing.get_args(annotation)
        return f"list[{describe_type(args[0]) if args else 'any'}]"
    if origin is dict:
        return "mapping"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def check_fields(
    fields: Sequence[Field], data: Any, path: str, on_component: ComponentChecker | None = None,
    *, owner: str = "", open_keys: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """``data`` (a mapping) checked against ``fields``: every field resolved, defaults filled in.

    ``owner`` names what the keys belong to (``reasoning 'se'``) in messages;
    ``open_keys`` lets unknown keys through unchecked (a component taking
    ``**kwargs``). Plain defaults are filled in so that a resolved recipe is
    complete; a default that is not plain data (an object) is left to the callee.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError(path, f"expected a mapping, got {data!r}")
    by_name = {f.name: f for f in fields}
    resolved: dict[str, Any] = {}
    for key in data:
        field = by_name.get(key)
        if field is None and open_keys:
            resolved[key] = data[key]
        elif field is None:
            raise ValidationError(join_path(path, str(key)), _unknown_key(str(key), fields, owner))
        elif not field.settable:
            raise ValidationError(
                join_path(path, key), f"'{key}' is set by icezoo when it builds the {owner}; remove it from the spec"
            )
    for field in fields:
        if not field.settable:
            continue
        where = join_path(path, field.name)
        if field.name in data:
            resolved[field.name] = check_value(data[field.name], field.annotation, where, on_component)
        elif field.required:
            what = f"parameter of {owner} ({describe_type(field.annotation)})" if owner else "key"
            raise ValidationError(where, f"missing required {what}")
        elif dataclasses.is_dataclass(field.annotation):  # a nested section: its own defaults
            resolved[field.name] = check_value({}, field.annotation, where, on_component)
        elif isinstance(field.default, dict):  # a default component spec: its parameters' defaults too
            resolved[field.name] = check_value(field.default, field.annotation, where, on_component)
        elif is_plain(field.default):
            resolved[field.name] = to_plain(field.default)
    return resolved


def _unknown_key(key: str, fields: Sequence[Field], owner: str) -> str:
    accepted = [f.name for f in fields if f.settable]
    close = difflib.get_close_matches(key, accepted, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    if owner:
        return f"unknown parameter '{key}' for {owner}{hint} (accepted: {', '.join(accepted) or 'none'})"
    return f"unknown key{hint} (allowed here: {', '.join(accepted)})"


def dataclass_fields(cls: type) -> list[Field]:
    """The user-settable fields of dataclass ``cls``, with resolved annotations and defaults."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = REQUIRED
        out.append(Field(f.name, hints[f.name], default))
    return out


def check_dataclass(cls: type, data: Any, path: str, on_component: ComponentChecker | None = None) -> Any:
    """Build dataclass ``cls`` from YAML data through :func:`check_fields`, then its ``check()``.

    Fields annotated as tuples become tuples; a ``check()`` method validates
    what a single annotation cannot (ranges, relations between fields).
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    values = check_fields(dataclass_fields(cls), data, path, on_component)
    for name, value in values.items():
        if typing.get_origin(hints[name]) is tuple and isinstance(value, list):
            values[name] = tuple(value)
    obj = cls(**values)
    if hasattr(obj, "check"):
        with located(path):
            obj.check()
    return obj


def check_value(value: Any, annotation: Any, path: str, on_component: ComponentChecker | None = None) -> Any:
    """Return ``value`` checked against ``annotation`` (ints widen to floats, '1e-3' to 0.001).

    Raises :class:`ValidationError` naming ``path`` when it does not fit.
    """
    origin = typing.get_origin(annotation)
    if annotation is Any or annotation is dataclasses.MISSING:
        return value
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return check_dataclass(annotation, value, path, on_component)
    if origin is typing.Annotated:
        return _check_annotated(value, annotation, path, on_component)
    if origin in (Union, types.UnionType):
        return _check_union(value, annotation, path, on_component)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise ValidationError(path, f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    if _is_sequence(origin):
        return _check_sequence(value, annotation, path, on_component)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise _mismatch(path, annotation, value)
        return value
    return _check_scalar(value, annotation, path)


def _check_annotated(value: Any, annotation: Any, path: str, on_component: ComponentChecker | None) -> Any:
    base, *meta = typing.get_args(annotation)
    marker = next((m for m in meta if isinstance(m, Component)), None)
    if marker is None:
        value = check_value(value, base, path, on_component)
        wants_file = value is not None and any(isinstance(m, ExistingFile) for m in meta)
        if wants_file and not os.path.isfile(os.path.expanduser(str(value))):
            raise ValidationError(path, f"file not found: {value}")
        return value
    if value is None and marker.optional:
        return None
    if on_component is None:
        return value
    return on_component(value, marker, path)


def _check_union(value: Any, annotation: Any, path: str, on_component: ComponentChecker | None) -> Any:
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


def _check_sequence(value: Any, annotation: Any, path: str, on_component: ComponentChecker | None) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise _mismatch(path, annotation, value)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise ValidationError(path, f"expected {len(args)} items, got {len(value)}")
        return [check_value(v, a, f"{path}[{i}]", on_component) for i, (v, a) in enumerate(zip(value, args))]
    item = args[0] if args else Any
    return [check_value(v, item, f"{path}[{i}]", on_component) for i, v in enumerate(value)]


def _check_scalar(value: Any, annotation: Any, path: str) -> Any:
    if annotation is type(None):
        if value is None:
            return None
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
    else:
        return value  # an annotation we do not understand is not enforced
    raise _mismatch(path, annotation, value)


def _is_sequence(origin: Any) -> bool:
    return origin in (list, tuple, typing.Sequence, abc.Sequence, abc.MutableSequence)


def _mismatch(path: str, annotation: Any, value: Any) -> ValidationError:
    return ValidationError(path, f"expected {describe_type(annotation)}, got {value!r}")
