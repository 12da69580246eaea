"""The component registry: one object, every kind, names unique within a kind.

Components are classes or factory functions registered under ``(kind, name)``
and built from a recipe spec ``{type: NAME, **params}``. The registry checks a
spec against the callable's signature (unknown or missing parameters, wrong
types, nested specs) *before* anything is built, fills in defaults, and adds
the arguments the builder owns (``channels`` for a reasoning block, the image
size for a generator...), which a recipe may not set.

The registry is the lowest layer: it knows nothing of how it gets filled. A
loader (for the process-wide :data:`registry`, the plugin host of
:mod:`icezoo.plugins`, which installs itself) is attached with
:meth:`Registry.attach_loader` and runs lazily, once, the first time a name is
looked up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fnmatch
import inspect
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .errors import IcezooError, UnknownComponentError
from .typecheck import REQUIRED, Component, Field, ValidationError, check_fields, describe_type, join_path

KINDS: dict[str, str] = {
    "generator": "synthesises a face from (onset face or None, noise, one-hot class)",
    "reasoning": "bridges an encoder level to the decoder: [B,C,H,W] -> [B,C,H,W]",
    "trunk": "discriminator feature extractor: [B,1,S,S] -> [B,C,h,w]",
    "head": "discriminator head: adversarial score, class scores, reconstruction",
    "loss": "a term of the training objective: forward(prediction, target, weight=None) -> scalar (weight: per sample)",
    "perceptual": "cost network of the perceptual loss",
    "dataset": "a source of labelled onset / apex clips",
    "input": "what a recogniser reads of a clip: input(clips) -> float32 [N, *input.shape(image_size)]",
    "recogniser": "inputs -> class scores [B, Nc], or a scikit-learn estimator",
}

# Arguments the builder passes itself (from the recipe's model section or the
# enclosing component); a recipe spec may not set them.
BUILDER_ARGS: dict[str, tuple[str, ...]] = {
    "generator": ("image_size", "in_channels", "noise_dim", "num_classes"),
    "reasoning": ("channels",),
    "trunk": ("in_channels", "image_size"),
    "head": ("in_channels", "feature_size", "num_classes", "image_size"),
    "loss": (),
    "perceptual": ("in_channels",),
    "dataset": ("image_size",),
    "input": (),
    "recogniser": ("in_shape", "num_classes"),
}


class Loader(Protocol):
    """What fills a registry (the plugin host): ``load()`` once, and a status line for error messages."""

    def load(self) -> None: ...

    def status_line(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class Param(Field):
    """One constructor parameter of a registered component, with its documented meaning."""

    doc: str = ""

    @property
    def builder(self) -> bool:
        """Passed by icezoo when it builds the component, not set in a recipe."""
        return not self.settable

    def describe(self) -> str:
        default = "required" if self.required else f"default {self.default!r}"
        who = ", set by icezoo" if self.builder else ""
        text = f"{self.name}: {describe_type(self.annotation)} ({default}{who})"
        return f"{text}\n      {self.doc}" if self.doc else text


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered component: what it is, under which name, from where."""

    kind: str
    name: str
    obj: Callable[..., Any]
    source: str  # "core", a plugin's name, or "module NAME"

    @property
    def qualname(self) -> str:
        return f"{self.obj.__module__}.{getattr(self.obj, '__qualname__', self.obj)}"

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.obj) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @property
    def accepts_any_kwargs(self) -> bool:
        return any(p.kind is p.VAR_KEYWORD for p in _signature(self.obj).parameters.values())

    def params(self) -> list[Param]:
        """The keyword parameters a spec may (or must) give, plus those icezoo gives (``BUILDER_ARGS``)."""
        builder_args = BUILDER_ARGS.get(self.kind, ())
        hints = _type_hints(self.obj)
        docs = parameter_docs(self.obj)
        out = []
        for p in _signature(self.obj).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
                continue
            default = REQUIRED if p.default is inspect.Parameter.empty else p.default
            out.append(Param(p.name, hints.get(p.name, Any), default, p.name not in builder_args, docs.get(p.name, "")))
        return out


def _signature(obj: Callable[..., Any]) -> inspect.Signature:
    if inspect.isclass(obj):
        owner = next((c for c in obj.__mro__ if "__init__" in vars(c)), object)
        if (owner.__module__, owner.__qualname__) == ("torch.nn.modules.module", "Module"):
            # torch's Module(*args, **kwargs): the component takes no parameters. Found by the class that defines
            # __init__, not by the function: torch.compile wraps Module.__init__ once it has run in a process.
            return inspect.Signature()
    return inspect.signature(obj)


def _type_hints(obj: Callable[..., Any]) -> dict[str, Any]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable string annotations: do not enforce them
        return {}


def _source_of(obj: Any) -> str:
    module = getattr(obj, "__module__", "") or ""
    return "core" if module == "icezoo" or module.startswith("icezoo.") else f"module {module}"


class Registry:
    """Holds every component kind; see the module docstring."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._source: str | None = None
        self._recording: list[tuple[str, str]] | None = None
        self._loader: Loader | None = None

    # -- filling --------------------------------------------------------------
    def attach_loader(self, loader: Loader) -> None:
        """Let ``loader`` fill this registry, lazily, the first time a name is looked up."""
        self._loader = loader

    @property
    def plugins(self) -> Loader | None:
        """The loader that fills this registry (for the default one, an :class:`icezoo.plugins.PluginHost`)."""
        return self._loader

    def ensure_loaded(self) -> None:
        """Run the loader, if any (it loads once; a no-op afterwards)."""
        if self._loader is not None:
            self._loader.load()

    @contextlib.contextmanager
    def registering_as(self, source: str) -> Iterator[list[tuple[str, str]]]:
        """Attribute registrations to ``source``; roll them back if the block fails."""
        outer_source, outer_rec = self._source, self._recording
        self._source, self._recording = source, []
        added = self._recording
        try:
            yield added
        except BaseException:
            for kind, name in added:
                self._entries[kind].pop(name, None)
            raise
        finally:
            self._source, self._recording = outer_source, outer_rec
            if outer_rec is not None:
                outer_rec.extend(added)

    # -- registration ---------------------------------------------------------
    def register(
        self, kind: str, name: str | None = None, obj: Callable[..., Any] | None = None, *, source: str | None = None
    ):
        """Register ``obj`` as ``(kind, name)``; without ``obj``, return a decorator.

        >>> @registry.register("reasoning", "my_block")
        ... class MyBlock(nn.Module): ...
        """
        if obj is None:
            return lambda target: self.register(kind, name, target, source=source)
        if kind not in self._entries:
            raise IcezooError(
                f"cannot register '{name}': unknown component kind '{kind}' (kinds: {', '.join(self._entries)})"
            )
        name = name or getattr(obj, "__name__", "").lower()
        if not name:
            raise IcezooError(f"cannot register {obj!r} as a {kind}: give it a name")
        entry = Entry(kind, name, obj, source or self._source or _source_of(obj))
        old = self._entries[kind].get(name)
        if old is not None:
            if old.obj is obj:  # the same object re-registered (a module imported twice)
                return obj
            raise IcezooError(
                f"{kind} '{name}' is registered twice: by {old.source} ({old.qualname}) and by {entry.source} ({entry.qualname})"
            )
        self._entries[kind][name] = entry
        if self._recording is not None:
            self._recording.append((kind, name))
        return obj

    # -- look-up --------------------------------------------------------------
    @property
    def kinds(self) -> dict[str, str]:
        return dict(KINDS)

    def _check_kind(self, kind: str) -> None:
        if kind not in self._entries:
            close = difflib.get_close_matches(kind, self._entries, n=3)
            hint = f"; did you mean {_quoted(close)}?" if close else ""
            raise UnknownComponentError(f"unknown component kind '{kind}'{hint} (kinds: {', '.join(self._entries)})")

    def get(self, kind: str, name: str) -> Entry:
        """The entry for ``(kind, name)``, or an error with the nearest names."""
        self.ensure_loaded()
        self._check_kind(kind)
        try:
            return self._entries[kind][name]
        except (KeyError, TypeError):
            pass
        known = sorted(self._entries[kind])
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        hint = f"; did you mean {_quoted(close)}?" if close else f" (known: {', '.join(known) or 'none'})"
        status = self._loader.status_line() if self._loader is not None else "(plugins loaded: none)"
        raise UnknownComponentError(f"unknown {kind} '{name}'{hint} {status}")

    def __contains__(self, key: tuple[str, str]) -> bool:
        self.ensure_loaded()
        kind, name = key
        return name in self._entries.get(kind, {})

    def entries(self, kind: str | None = None, pattern: str = "*") -> list[Entry]:
        """Registered entries of ``kind`` (all kinds if None) whose name matches the glob ``pattern``."""
        self.ensure_loaded()
        if kind is not None:
            self._check_kind(kind)
        kinds = [kind] if kind else list(self._entries)
        return [e for k in kinds for n, e in sorted(self._entries[k].items()) if fnmatch.fnmatchcase(n, pattern)]

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        return [e.name for e in self.entries(kind, pattern)]

    # -- specs ----------------------------------------------------------------
    def validate(self, kind: str, spec: Any, path: str = "") -> dict[str, Any]:
        """Check a spec and return it resolved: ``type`` first, then every parameter.

        Accepts ``"name"`` as shorthand for ``{type: name}``. Raises
        :class:`ValidationError` naming the key path of the first problem.
        """
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict):
            raise ValidationError(path, f"expected a {kind} spec ({{type: NAME, ...}}), got {spec!r}")
        if "type" not in spec:
            raise ValidationError(path, f"a {kind} spec needs 'type' (one of: {', '.join(self.names(kind))})")
        name = spec["type"]
        if not isinstance(name, str):
            raise ValidationError(join_path(path, "type"), f"expected a {kind} name, got {name!r}")
        try:
            entry = self.get(kind, name)
        except UnknownComponentError as err:
            raise ValidationError(join_path(path, "type"), str(err)) from None
        params = {k: v for k, v in spec.items() if k != "type"}
        resolved = check_fields(
            entry.params(),
            params,
            path,
            self.check_nested,
            owner=f"{kind} '{name}'",
            open_keys=entry.accepts_any_kwargs,
        )
        return {"type": name, **resolved}

    def check_nested(self, value: Any, marker: Component, path: str) -> Any:
        """Validate a component spec nested in a recipe section or in another spec."""
        if marker.many and isinstance(value, list):
            return [self.validate(marker.kind, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return self.validate(marker.kind, value, path)

    def build(self, kind: str, spec: Any, /, **builder_args: Any) -> Any:
        """Build a component from a spec (``{type: NAME, **params}`` or ``"NAME"``).

        ``builder_args`` are the arguments icezoo supplies (see ``BUILDER_ARGS``);
        those the component does not accept are left out.
        """
        resolved = self.validate(kind, spec)
        entry = self.get(kind, resolved.pop("type"))
        accepted = {p.name for p in entry.params()}
        extra = {k: v for k, v in builder_args.items() if k in accepted or entry.accepts_any_kwargs}
        return entry.obj(**extra, **resolved)

    def describe(self, kind: str, name: str) -> str:
        """A multi-line description: name, source, summary, parameters with their meaning."""
        entry = self.get(kind, name)
        lines = [f"{kind} '{name}' from {entry.source} ({entry.qualname})"]
        doc = _without_args_section(inspect.getdoc(entry.obj) or "")
        if doc:
            lines += ["", doc, ""]
        lines.append("parameters:")
        for p in entry.params():
            lines.append(f"  {p.describe()}")
        if entry.accepts_any_kwargs:
            lines.append("  **kwargs: accepted")
        return "\n".join(lines)


_ARGS_HEADER = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^(\s*)(\**\w+)(\s*\([^)]*\))?:\s*(.*)$")


def _args_block(doc: str) -> tuple[int, int, list[str]]:
    """(first line, end line, lines) of the Google-style ``Args:`` section of ``doc``; (0, 0, lines) if none."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        header = _ARGS_HEADER.match(line)
        if header:
            indent, end = len(header.group(1)), i + 1
            while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
                end += 1
            return i, end, lines
    return 0, 0, lines


def parameter_docs(obj: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> meaning, from the ``Args:`` section of the docstring of ``obj`` (or its ``__init__``)."""
    docs: dict[str, str] = {}
    for source in (obj, getattr(obj, "__init__", None) if inspect.isclass(obj) else None):
        start, end, lines = _args_block(inspect.getdoc(source) or "") if source is not None else (0, 0, [])
        name, first_indent = None, None
        for line in lines[start + 1 : end]:
            match = _ARG_LINE.match(line)
            indent = len(line) - len(line.lstrip())
            if match and (first_indent is None or indent <= first_indent):
                first_indent, name = indent, match.group(2).lstrip("*")
                docs.setdefault(name, match.group(4).strip())
            elif name is not None and line.strip() and docs.get(name) is not None:
                docs[name] = f"{docs[name]} {line.strip()}".strip()
    return docs


def _without_args_section(doc: str) -> str:
    start, end, lines = _args_block(doc)
    if not end:
        return doc
    return "\n".join(lines[:start] + lines[end:]).strip()


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


registry = Registry()
"""The process-wide registry that recipes, the CLI and plugins use (filled by :mod:`icezoo.plugins`)."""

register = registry.register
