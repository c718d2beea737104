"""Lark grammars: the architecture language and the search spaces."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

#: the core architecture language
LANGUAGE = HERE / "alphanas.lark"


def path(name: str) -> Path:
    """A grammar shipped with alphanas, by file name."""
    return HERE / name
