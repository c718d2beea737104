"""The ``evolving_space`` variation: any variation, run in a grammar space
that shrinks and grows in rounds (:mod:`~alphanas.variation.space_evolution.rounds`).

It needs a search with a ``[space]``. Its settings name the inner variation
(``variation``, ``variation_options``: any registered variation, built inside
each round's grammar as :func:`alphanas.variation.build.build_variation`
builds it inside a space) and the rule of the rounds. For each child it
finds the round the run is in from the number of finished evaluations
(``len(context.history) // round_length``), brings the rounds up to it from
the history (a pure function of it, so a resumed run continues in the same
round), writes the round's grammar to ``RUN/space_rounds/round_K.lark``
and ``RUN/space_rounds/rounds.json``, and asks the inner variation for a
child inside that grammar. The child's record carries ``space_round``.

A parent that a shrink has left outside the round's grammar is not varied:
the child is made from a member of the round's front that the grammar
derives instead (drawn with the run's RNG), and the search records that
candidate as its parent (``Child.made_from``).

Every round's grammar is a subset of the run's space (for ``extend``: of
the run's space with the added alternatives), so the search's own check
that children stay in its space keeps working for shrinking and growth
from a subset. Children with an ``extend`` op are outside the run's
``[space]`` grammar: the search refuses them unless it lets the variation
vouch for its children (see docs/search_spaces.md).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.lang.parse import parse
from alphanas.variation.base import VARIATIONS, Child, Variation, VariationContext, VariationFailed
from alphanas.variation.space import ProgramSpace
from alphanas.variation.space_evolution.rounds import (
    Round,
    RoundRule,
    Universe,
    evolve_rounds,
    write_round,
)

__all__ = ["EvolvingSpace", "EvolvingSpaceSettings"]

NAME = "evolving_space"


@dataclass(frozen=True)
class EvolvingSpaceSettings:
    """``[strategy] variation_options`` of ``variation = "evolving_space"``."""

    #: the variation run inside each round's grammar, and its options
    variation: str = "alphanas"
    variation_options: Mapping[str, Any] = field(default_factory=dict)
    #: finished evaluations per round
    round_length: int = 50
    #: the probability the evidence must reach for a choice to be dropped (shrink)
    confidence: float = 0.95
    #: evaluated derivations a choice needs before it may be dropped
    min_evidence: int = 5
    shrink: bool = True
    #: start from the seed's choices (plus ``start_extra`` per rule) and add ``grow_per_round`` per round
    grow: bool = False
    start_extra: int = 1
    grow_per_round: int = 1
    #: ops of the core language to offer in place of ops the grammar calls (growth)
    extend: tuple[str, ...] = ()
    #: the prior precision of the effects model
    ridge: float = 1.0
    max_params: int | None = None
    max_flops: int | None = None

    def __post_init__(self) -> None:
        if self.variation == NAME:
            raise ValueError(f"variation = {NAME!r} cannot run inside itself: name another variation")
        if self.round_length < 1:
            raise ValueError(f"round_length = {self.round_length} is impossible: it must be at least 1")
        if not 0.5 < self.confidence < 1:
            raise ValueError(f"confidence = {self.confidence} must lie between 0.5 and 1 (exclusive)")
        if self.min_evidence < 1:
            raise ValueError(f"min_evidence = {self.min_evidence} must be at least 1")
        if self.start_extra < 0 or self.grow_per_round < 0:
            raise ValueError("start_extra and grow_per_round must be at least 0")
        if self.extend and not self.grow:
            raise ValueError("extend adds alternatives by growth: set grow = true with it")
        if self.ridge <= 0:
            raise ValueError(f"ridge = {self.ridge} must be positive")
        if not self.shrink and not self.grow:
            raise ValueError("shrink and grow are both off: the space would never change")

    @property
    def rule(self) -> RoundRule:
        return RoundRule(self.round_length, self.confidence, self.min_evidence, self.shrink, self.grow,
                         self.start_extra, self.grow_per_round, tuple(self.extend), self.ridge)

    def inner_options(self) -> dict[str, Any]:
        budgets = {k: v for k, v in (("max_params", self.max_params), ("max_flops", self.max_flops)) if v is not None}
        return {**budgets, **dict(self.variation_options)}


@VARIATIONS.register(NAME, settings=EvolvingSpaceSettings)
class EvolvingSpace:
    """Runs ``settings.variation`` in the current round's grammar."""

    name = NAME

    def __init__(self, settings: EvolvingSpaceSettings | None = None) -> None:
        self.settings = settings or EvolvingSpaceSettings()
        from alphanas.variation.build import variation_entry

        variation_entry(self.settings.variation, in_space=True)  # an unknown inner variation is an error now
        self._universe: Universe | None = None
        self._space: ProgramSpace | None = None
        self._rounds: list[Round] = []
        self._inner: tuple[int, ProgramSpace, Variation] | None = None

    # -- rounds ----------------------------------------------------------------------------------------
    def rounds(self, context: VariationContext) -> list[Round]:
        """The rounds the run has reached, brought up to date from its history."""
        if context.space is None:
            raise VariationFailed(f"{NAME} evolves the run's grammar space: give the search a [space]")
        if self._space is not context.space:
            self._space, self._rounds, self._inner = context.space, [], None
            try:
                self._universe = Universe.of(context.space, self.settings.rule)
            except AlphanasError as err:
                raise VariationFailed(f"{NAME}: {err.message}") from None
        assert self._universe is not None
        known = len(self._rounds)
        try:
            self._rounds = evolve_rounds(self._universe, context.history, context.objectives, self._rounds)
        except AlphanasError as err:
            raise VariationFailed(f"{NAME}: {err.message}") from None
        if context.run_dir is not None and len(self._rounds) > known:
            self._write(context)
        return self._rounds

    def _write(self, context: VariationContext) -> None:
        assert context.run_dir is not None
        for r in self._rounds:
            write_round(context.run_dir, r)
        summary = {"variation": NAME, "inner": self.settings.variation, "space": self._universe.source
                   if self._universe else None, "rule": self.settings.rule.describe(),
                   "rounds": [r.summary() for r in self._rounds]}
        (context.run_dir / "space_rounds" / "rounds.json").write_text(json.dumps(summary, indent=2) + "\n")

    def _inner_variation(self, r: Round) -> tuple[ProgramSpace, Variation]:
        if self._inner is None or self._inner[0] != r.index:
            from alphanas.variation.build import build_variation

            assert self._universe is not None
            g = self._universe.choices
            space = ProgramSpace(r.text, g.rule, f"round_{r.index}.lark", g.graph)
            self._inner = (r.index, space, build_variation(self.settings.variation, self.settings.inner_options(),
                                                           space))
        return self._inner[1], self._inner[2]

    # -- children --------------------------------------------------------------------------------------
    def vary(self, parent: Program, rng: random.Random, context: VariationContext) -> Child:
        r = self.rounds(context)[-1]
        space, inner = self._inner_variation(r)
        made_from = None
        if not space.contains(parent):
            parent, made_from = self._stand_in(space, r, rng, context)
        child = inner.vary(parent, rng, replace(context, space=space))
        record = {**child.record, "space_round": r.index}
        return replace(child, record=record, made_from=child.made_from or made_from)

    @staticmethod
    def _stand_in(space: ProgramSpace, r: Round, rng: random.Random, context: VariationContext
                  ) -> tuple[Program, str]:
        """A program of the run that the round's grammar derives, to vary in
        place of a parent the round left out: a member of the round's front,
        else any evaluated one (drawn with ``rng``)."""
        front = set(r.front)
        ok = [e for e in context.history if e.ok]
        for pool in ([e for e in ok if e.id in front], ok):
            inside = [e for e in pool if _derives(space, e.program)]
            if inside:
                e = rng.choice(inside)
                return parse(e.program, f"<candidate {e.id}>"), e.hash
        raise VariationFailed(f"no evaluated program is in round {r.index}'s grammar")


def _derives(space: ProgramSpace, text: str) -> bool:
    """Whether the space derives the program with this (canonical) text;
    remembered per space, since a stand-in is looked for again and again."""
    memo: dict[str, bool] = space.__dict__.setdefault("_evolution_members", {})
    if text not in memo:
        memo[text] = space.contains(parse(text, "<candidate>"))
    return memo[text]
