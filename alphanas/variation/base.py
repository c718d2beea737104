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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from alphanas.lang.ir import Program

__all__ = ["Aim", "Child", "Variation", "VariationFailed"]

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


@runtime_checkable
class Variation(Protocol):
    """Makes children. ``rng`` is the only source of randomness, so that a
    child is a pure function of the parent and the RNG state."""

    name: str

    def vary(self, parent: Program, rng: random.Random) -> Child: ...

    # A variation may also take ``seen`` (the canonical hashes of the programs
    # the search already has, a Container[str]) as a keyword argument: the
    # search passes it when ``vary`` declares it, so that the variation can
    # try again rather than return a duplicate the search would reject; and
    # ``aim`` (what the parent was drawn for, "front" or "first_objective":
    # see alphanas.search.selection.Draw), so that it can make the kind of child the
    # selection wants.
