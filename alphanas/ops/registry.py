"""The op library's index: op names to entries, and suggestions for typos."""

from __future__ import annotations

import difflib

from alphanas.ops.spec import Op

_OPS: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: add one op entry to the library."""
    if cls.name in _OPS:
        raise ValueError(f"op {cls.name!r} is defined twice")
    _OPS[cls.name] = cls()
    return cls


def lookup(name: str) -> Op | None:
    return _OPS.get(name)


def all_ops() -> dict[str, Op]:
    return dict(_OPS)


def suggest(name: str, extra: list[str] | tuple[str, ...] = ()) -> str | None:
    """The known name closest to a misspelt one, if any is close."""
    matches = difflib.get_close_matches(name, [*_OPS, *extra], n=1, cutoff=0.6)
    return matches[0] if matches else None
