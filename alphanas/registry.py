"""Plug-ins by name: one registry style for variations, selections,
evaluators and executors, after the op library's ``@register``.

A plug-in is a class. It joins a registry with a decorator that gives its
name and, optionally, the dataclass of its settings::

    from alphanas.variation.base import VARIATIONS

    @dataclass(frozen=True)
    class SwapSettings:
        p_swap: float = 0.5

        def __post_init__(self) -> None:
            if not 0 <= self.p_swap <= 1:
                raise ValueError("p_swap must be in [0, 1]")

    @VARIATIONS.register("swap", settings=SwapSettings)
    class Swap: ...

A search config names a plug-in by its registered name, or by
``module:Class`` for a class the registry has not seen (the module is
imported then, which registers the class if it is decorated). The options a
config gives (``variation_options``, ``selection_options``,
``[evaluator.options]``) are the settings dataclass's fields; the registry
builds the plug-in with :meth:`Entry.build`, which hands it its settings
object. A class registered without settings takes the options as keyword
arguments of its constructor instead.

Each registry lists the modules of its built-in plug-ins; they are imported
the first time a name is looked up, so that a command which needs none of
them (``alphanas check``) does not pay for importing torch or Z3.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from alphanas.lang.errors import AlphanasError

__all__ = ["Entry", "PluginError", "Registry", "resolve_target"]

T = TypeVar("T")


class PluginError(AlphanasError):
    """A plug-in that is unknown, cannot be imported, or refuses its options."""

    kind = "config error"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plug-in: its name, class, settings dataclass (None:
    the options are the constructor's keyword arguments) and whatever else
    its registry records about it (``meta``)."""

    name: str
    cls: type[T]
    settings: type | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def options_class(self) -> Any:
        """What the options are checked against: the settings dataclass, or the class itself."""
        return self.settings or self.cls

    def option_names(self) -> tuple[list[str], bool]:
        """The option names the plug-in takes, and whether it takes any
        keyword at all (a constructor with ``**kwargs``)."""
        names, _, open_ended = parameters(self.options_class)
        return names, open_ended

    def check_names(self, options: Mapping[str, Any]) -> None:
        """Every option is one the plug-in takes; a :class:`PluginError`
        naming the first that is not, with the closest known name."""
        names, open_ended = self.option_names()
        for key in options:
            if key not in names and not open_ended:
                close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
                guess = f"did you mean {close[0]!r}? " if close else ""
                raise PluginError(f"{self.name} takes no option {key!r}",
                                  hint=f"{guess}its options: {', '.join(names) or '(none)'}")

    def build(self, options: Mapping[str, Any], *args: Any) -> T:
        """The plug-in, given a config's options: ``cls(*args, settings)``
        when it has a settings dataclass (built from the options, which it
        validates), else ``cls(*args, **options)``. Nested tables become
        the dataclasses their fields are annotated with. What the plug-in
        refuses comes back as a :class:`PluginError`."""
        self.check_names(options)
        try:
            if self.settings is not None:
                return self.cls(*args, instantiate(self.settings, options))
            return instantiate(self.cls, options, *args)
        except AlphanasError as err:
            raise PluginError(f"{self.name}: {err.message}", hint=err.hint) from None
        except (TypeError, ValueError) as err:
            raise PluginError(f"{self.name}: {err}") from None


class Registry(Generic[T]):
    """The plug-ins of one kind (``"variation"``, ``"selection"``, ...)."""

    def __init__(self, kind: str, builtin_modules: Sequence[str] = ()) -> None:
        self.kind = kind
        self.builtin_modules = tuple(builtin_modules)
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False

    def register(self, name: str, *, settings: type | None = None, **meta: Any) -> Callable[[type[T]], type[T]]:
        """Class decorator: add a plug-in under ``name``. ``meta`` is kept
        with the entry for the registry's owner to read."""
        if settings is not None and not dataclasses.is_dataclass(settings):
            raise TypeError(f"the settings of {self.kind} {name!r} must be a dataclass")

        def add(cls: type[T]) -> type[T]:
            known = self._entries.get(name)
            if known is not None and known.cls is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice ({known.cls.__qualname__}, {cls.__qualname__})")
            self._entries[name] = Entry(name, cls, settings, dict(meta))
            return cls

        return add

    def load_builtins(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self.builtin_modules:
                importlib.import_module(module)

    def names(self) -> tuple[str, ...]:
        """The registered names, built-in ones included."""
        self.load_builtins()
        return tuple(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def get(self, name: str) -> Entry[T]:
        """The entry of a registered name, or of ``module:Class`` (imported
        now; registered or not). A :class:`PluginError` saying what is known
        otherwise."""
        if name in self._entries:  # the built-ins are loaded only when needed: training imports torch
            return self._entries[name]
        self.load_builtins()
        if name in self._entries:
            return self._entries[name]
        if ":" in name:
            cls = resolve_target(name)
            for entry in self._entries.values():
                if entry.cls is cls:
                    return entry
            return Entry(name, cls)
        close = difflib.get_close_matches(name, list(self._entries), n=1, cutoff=0.5)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise PluginError(f"unknown {self.kind} {name!r}",
                          hint=f"{guess}known: {', '.join(self._entries)} (or module:Class for your own)")


def resolve_target(target: str) -> Any:
    """The object named by ``module:attribute``; a :class:`PluginError`
    saying what is missing otherwise."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginError(f"{target!r} is not of the form module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PluginError(f"{target} is not available: cannot import {module_name} ({err})",
                          hint="is it installed, or written yet? choose another one") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"{target} is not available: {module_name} has no {attr}") from None


# -- options as TOML gives them ---------------------------------------------------------------------------


def instantiate(cls: Any, options: Mapping[str, Any], *args: Any) -> Any:
    """``cls(*args, **options)``, where a nested table becomes the dataclass its
    parameter is annotated with (``TrainingEvaluator(data=DataSpec(...))``),
    a string a :class:`~pathlib.Path` where the annotation says so, and a
    list a tuple where a tuple is expected: TOML has only tables, strings and
    arrays."""
    _, hints, _ = parameters(cls)
    return cls(*args, **{k: _coerce(hints.get(k), v) for k, v in options.items()})


def _coerce(kind: Any, value: Any) -> Any:
    nested = dataclass_in(kind)
    if isinstance(value, dict) and nested is not None:
        return instantiate(nested, value)
    if isinstance(value, str) and mentions(kind, Path):
        return Path(value)
    if isinstance(value, list) and mentions(kind, tuple):
        return tuple(value)
    return value


def parameters(cls: Any) -> tuple[list[str], dict[str, Any], bool]:
    """The keyword parameters of a class's constructor, their resolved
    annotations, and whether it takes any keyword (``**kwargs``)."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return [], {}, True
    params = sig.parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    try:
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else typing.get_type_hints(cls.__init__)
    except Exception:  # annotations that do not resolve: no coercion, the options go as they are
        hints = {}
    return names, hints, open_ended


def dataclass_in(kind: Any) -> type | None:
    """The dataclass an annotation names (also inside ``X | None``)."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return kind
    for arg in typing.get_args(kind):
        if isinstance(arg, type) and dataclasses.is_dataclass(arg):
            return arg
    return None


def mentions(kind: Any, target: type) -> bool:
    """Whether an annotation is ``target`` or has it among its arguments."""
    if kind is target or typing.get_origin(kind) is target:
        return True
    return any(mentions(arg, target) for arg in typing.get_args(kind))
