"""A program checked once, handed on to every later stage.

A variation makes a child as IR; before the search stores it, the child's
canonical text must parse back to the same program, shape-check, and have a
canonical hash (duplicates are rejected by hash). :func:`check` does all of
that once and returns a :class:`Checked` value, which the variation hands to
the search with the child and the search hands to its evaluation: nothing
downstream prints, parses, analyses or hashes the same program again.
"""

from __future__ import annotations

from dataclasses import dataclass

from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.canonical import program_hash
from alphanas.lang.ir import Program
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program
from alphanas.ops import Cost

__all__ = ["Checked", "check"]


@dataclass(frozen=True)
class Checked:
    """A program as the search keeps it: ``program`` is what ``text`` (the
    canonical text) parses to, with locations in file ``label``;
    ``analysis`` its shapes and costs; ``hash`` its canonical hash."""

    program: Program
    text: str
    hash: str
    analysis: Instance

    @property
    def total(self) -> Cost:
        """Parameters, FLOPs and activation memory of the whole program."""
        return self.analysis.total


def check(program: Program, label: str = "<child>") -> Checked:
    """Print ``program``, parse the text back (as file ``label``), analyse
    and hash it. Raises the :class:`~alphanas.lang.errors.AlphanasError` of
    the stage that rejects it."""
    text = print_program(program)
    parsed = parse(text, label)
    return Checked(parsed, text, program_hash(parsed), analyze(parsed))
