"""How a child is made from a parent: the variation interface of the search.

A :class:`Variation` turns a parent program into a child program with a
record of what it did. Property-guided mutation (:mod:`alphanas.variation.property_mutation`),
block duplication and deletion, and the baselines (random edits, random
sampling) all implement it, so that the search loop treats them alike and a
benchmark can compare them under identical budgets.

A variation that cannot make a child (no region could be synthesized, the
child equals its parent up to canonical form, ...) raises
:class:`VariationFailed` with the reason; the search counts it and draws
again. Any child returned has been re-verified: it parses, shape-checks and
builds.
"""

from __future__ import annotations

import random
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from alphanas.lang.checked import Checked
from alphanas.lang.ir import Program
from alphanas.registry import Registry

if TYPE_CHECKING:
    from alphanas.variation.space import ProgramSpace

__all__ = ["NO_CONTEXT", "VARIATIONS", "Aim", "Child", "Evaluated", "Variation", "VariationContext", "VariationFailed"]

#: what a parent was drawn for: its place on the Pareto front, or the first objective alone
Aim = Literal["front", "first_objective"]


class VariationFailed(Exception):
    """No child could be made; the message says why."""


@dataclass(frozen=True)
class Child:
    """A child program and how it was made. ``record`` is JSON-able: the
    operator's own account (region, properties before and after, synthesis
    statistics, ...), stored with the candidate. ``made_from`` is the
    canonical hash of the program the child was made from when that is not
    the parent it was given but a program the search already has, reached
    from the parent (see ``SpaceMutation``'s walk); the search records that
    candidate as the child's parent, so that the record describes a change
    of the recorded parent."""

    program: Program
    operator: str
    record: Mapping[str, Any] = field(default_factory=dict)
    made_from: str | None = None
    #: the child as checked by the variation (:func:`alphanas.lang.checked.check`),
    #: when it did check it: the search then uses it instead of checking again
    checked: Checked | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Evaluated:
    """One finished evaluation of the run, as a variation sees it: what a
    variation that learns across candidates (a surrogate, a policy, an
    evolving space) learns from. ``program`` is the canonical text,
    ``metrics`` what the evaluator measured (empty when it failed)."""

    id: int
    parent_id: int | None
    program: str
    hash: str
    ok: bool
    metrics: Mapping[str, float]
    record: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VariationContext:
    """What the search tells a variation besides the parent and the RNG,
    as one value (a variation reads what it needs and ignores the rest).

    - ``seen``: the canonical hashes of the programs the run already has; a
      child equal to one of them would be rejected as a duplicate, so a
      variation may try again instead (``SpaceMutation`` does);
    - ``aim``: what the parent was drawn for (``"front"`` or
      ``"first_objective"``, see :class:`alphanas.search.selection.Draw`);
    - ``space``: the run's grammar space (an
      :class:`alphanas.variation.space.ProgramSpace`), or None when the
      core language is the space. The search keeps only children the space
      derives;
    - ``max_params``, ``max_flops``: the run's ``[constraints]``, the budgets
      every child must keep;
    - ``label``: the file name the child's locations should carry (in error
      messages): ``<candidate N>``;
    - ``history``: the run's finished evaluations (:class:`Evaluated`) in
      the order the search took them in, the seed first. It is rebuilt
      from the store in the same order when a run resumes, so a variation
      whose state is a function of the history (refitted, or replayed
      entry by entry) continues a resumed run exactly as an uninterrupted
      one with one worker. Read it; never change it;
    - ``objectives``: the run's objectives as ``(name, "min" | "max")``;
    - ``run_dir``: the run folder, where a variation may keep files of
      its own (in a folder named after it), or None outside a search.
    """

    seen: Container[str] = frozenset()
    aim: Aim = "front"
    space: ProgramSpace | None = None
    max_params: float | None = None
    max_flops: float | None = None
    label: str = "<child>"
    history: Sequence[Evaluated] = ()
    objectives: tuple[tuple[str, str], ...] = ()
    run_dir: Path | None = None


#: the context of a variation called outside a search: nothing seen, aimed at the front, no space
NO_CONTEXT = VariationContext()


@runtime_checkable
class Variation(Protocol):
    """Makes children. ``rng`` is the only source of randomness, so that a
    child is a pure function of the parent, the RNG state and the context."""

    name: str

    def vary(self, parent: Program, rng: random.Random, context: VariationContext) -> Child: ...


#: The variations a search config names (``[strategy] variation``). A class
#: registers with ``@VARIATIONS.register(name, settings=...)``; its options
#: (``variation_options`` and the budgets of ``[constraints]``) are the
#: settings dataclass's fields, or its constructor's keyword arguments.
#: ``space_mode`` in a registration says how the built-in variation acts
#: inside a grammar space (:class:`alphanas.variation.space.SpaceMutation`);
#: a variation without it is run as it is, the space in its context.
VARIATIONS: Registry[Variation] = Registry("variation", builtin_modules=(
    "alphanas.variation.property_mutation",
    "alphanas.variation.random_edit",
    "alphanas.variation.sampling",
    "alphanas.variation.space_evolution.variation",
    "alphanas.oneshot.controller",
))
