"""Rounds of an evolving space: the shrink and grow rules.

A run's evolving space goes through rounds of ``round_length`` finished
evaluations each. Round 0 is the starting grammar: the user's whole space
(shrinking), or a subset of it (growth: the seed's own choices plus
``start_extra`` more per rule or slot). At the start of round ``k + 1`` the
evidence of the first ``(k + 1) × round_length`` evaluations
(:mod:`~alphanas.variation.space_evolution.evidence`) decides:

- **shrink** (after ABS): an active choice is dropped when it occurs in at
  least ``min_evidence`` evaluated derivations, no member of the current
  front makes it, and another active choice of its rule is, with
  probability at least ``confidence``, better for some objective and, with
  probability at least ``1 - confidence``, no worse for every other (the
  choice is dominated by it, with that confidence). A rule or slot always
  keeps at least one choice;
- **grow** (after NSE): a choice added by growth that occurs in at least
  ``min_evidence`` evaluated derivations without any on the front is
  dropped again (it did not prove useful); then the next ``grow_per_round``
  choices of each rule or slot not yet tried are added, in the grammar's
  order, followed by the alternatives of ``extend`` (ops of the core
  language the grammar lacks, written in place of an op it calls; see
  :meth:`~alphanas.variation.space_evolution.choices.GrammarChoices.substitutions`).

A dropped choice never returns. Each round is a pure function of the
history's prefix (:func:`evolve_rounds`), so a resumed run rebuilds the
same rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alphanas.lang.errors import AlphanasError
from alphanas.variation.base import Evaluated
from alphanas.variation.space import ProgramSpace
from alphanas.variation.space_diagnostics import diagnose
from alphanas.variation.space_evolution.choices import Choice, GrammarChoices
from alphanas.variation.space_evolution.evidence import Evidence, collect_evidence

__all__ = ["Change", "Round", "RoundRule", "Universe", "evolve_rounds", "next_round", "shrink_decisions"]


@dataclass(frozen=True)
class RoundRule:
    """How the space evolves (the ``evolving_space`` variation's settings
    for it; see the module doc)."""

    round_length: int = 50
    confidence: float = 0.95
    min_evidence: int = 5
    shrink: bool = True
    grow: bool = False
    start_extra: int = 1
    grow_per_round: int = 1
    extend: tuple[str, ...] = ()
    #: the prior precision of the effects model (larger: effects shrink more towards 0)
    ridge: float = 1.0

    def describe(self) -> str:
        parts = []
        if self.shrink:
            parts.append(f"shrink (confidence {self.confidence}, at least {self.min_evidence} derivations)")
        if self.grow:
            parts.append(f"grow from the seed's choices + {self.start_extra} per rule, {self.grow_per_round} more "
                         f"per rule each round" + (f", extend with {', '.join(self.extend)}" if self.extend else ""))
        return f"rounds of {self.round_length} evaluations; " + "; ".join(parts or ["no change"])


@dataclass(frozen=True)
class Change:
    """A choice dropped or added at the start of a round, and why."""

    choice: Choice
    action: str  # "dropped" | "added"
    why: str


@dataclass(frozen=True)
class Round:
    """One round's space: the active choices of each rule and slot, the
    grammar text (its header included), its exact size, and what changed."""

    index: int
    #: finished evaluations before the round started
    after: int
    active: dict[str, tuple[str, ...]]
    changes: tuple[Change, ...]
    text: str
    derivations: int
    with_slots: int
    complete: bool
    #: the front when the round started (candidate ids)
    front: tuple[int, ...]
    #: choices added by growth and not yet on the front
    trial: frozenset[Choice] = frozenset()
    #: choices dropped in any round so far (they never return)
    retired: frozenset[Choice] = frozenset()

    def summary(self) -> dict[str, object]:
        """What ``RUN/space_rounds/rounds.json`` keeps of the round."""
        return {"round": self.index, "after": self.after, "file": f"round_{self.index}.lark",
                "derivations": self.derivations, "with_slots": self.with_slots, "complete": self.complete,
                "front": list(self.front),
                "dropped": [c.choice.key for c in self.changes if c.action == "dropped"],
                "added": [c.choice.key for c in self.changes if c.action == "added"],
                "changes": [{"action": c.action, "choice": c.choice.key, "why": c.why} for c in self.changes]}


@dataclass
class Universe:
    """Every choice an evolving space may hold: the user's grammar plus the
    alternatives ``extend`` adds; ``choices`` reads derivations of any round."""

    choices: GrammarChoices
    source: str
    rule: RoundRule
    #: owner -> the alternatives extend added (they come last in the growth order)
    extended: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @staticmethod
    def of(space: ProgramSpace, rule: RoundRule) -> Universe:
        base = GrammarChoices(space.grammar.text, space.rule, space.file, space.graph)
        extended = base.substitutions(rule.extend) if rule.extend else {}
        if extended:
            text = base.write({}, extended)
            base = GrammarChoices(text, space.rule, space.file, space.graph)
        return Universe(base, space.name, rule, extended)


def _dominating(evidence: Evidence, c: Choice, others: Sequence[Choice], confidence: float
                ) -> tuple[Choice, float] | None:
    """Another choice that dominates ``c`` with the confidence (see the
    module doc), and the least of its probabilities of being better on the
    objectives where it is better; None if there is none."""
    best: tuple[Choice, float] | None = None
    for d in others:
        p = [evidence.p_better(d, c, j) for j in range(len(evidence.objectives))]
        if max(p) >= confidence and min(p) >= 1 - confidence:
            strength = max(p)
            if best is None or strength > best[1]:
                best = (d, strength)
    return best


def _describe(evidence: Evidence, c: Choice) -> str:
    ev = evidence.of(c)
    effects = ", ".join(f"{e.objective} {e.mean:+.3g} ± {e.sd:.2g}" for e in ev.effects)
    return f"in {ev.derivations} derivations, {ev.on_front} on the front; effect per use {effects}"


def shrink_decisions(evidence: Evidence, active: dict[str, tuple[str, ...]], universe: GrammarChoices,
                     rule: RoundRule) -> list[Change]:
    """The choices the shrink rule drops from ``active``: dominated with the
    confidence, with enough evidence, made by no front member, never the
    last of a rule or slot."""
    changes = []
    for owner, texts in active.items():
        group = [c for c in universe.groups[owner] if c.text in texts]
        dropped: list[Change] = []
        for c in group:
            ev = evidence.of(c)
            if ev.derivations < rule.min_evidence or c in evidence.front_choices:
                continue
            others = [d for d in group if d != c and evidence.of(d).derivations >= rule.min_evidence]
            found = _dominating(evidence, c, others, rule.confidence)
            if found is not None:
                d, p = found
                dropped.append(Change(c, "dropped", f"{_describe(evidence, c)}; dominated by {d.key} with "
                                                    f"probability {p:.3f}"))
        if len(dropped) >= len(group):  # never empty a rule: keep its best on the first objective
            keep = max(group, key=lambda c: (evidence.of(c).effects[0].mean if evidence.objectives else 0.0))
            dropped = [ch for ch in dropped if ch.choice != keep]
        changes.extend(dropped)
    return changes


def _round_text(universe: Universe, index: int, after: int, active: dict[str, tuple[str, ...]],
                changes: Sequence[Change], front: Sequence[int]) -> tuple[str, int, int, bool]:
    """The round's grammar with its header, and its exact size (the space
    diagnostics' count of the bare grammar)."""
    g = universe.choices
    bare = g.write(active)
    space = ProgramSpace(bare, g.rule, f"round_{index}.lark", g.graph)
    size = diagnose(space, None, {})
    if size.complete:
        counted = f"{size.derivations:,} derivations (every one); with the slots' choices: {size.with_slots:,}"
    else:
        counted = (f"{size.derivations:,} derivations within {size.max_expansions} expansions (not every one); "
                   f"with the slots' choices: {size.with_slots:,}")
    header = [f"evolved space, round {index}: {universe.source}, after {after} evaluations "
              f"(front then: {len(front)} candidates)",
              universe.rule.describe(),
              f"size: {counted}"]
    if not changes:
        header.append("no change from the previous round" if index else "the starting space")
    for ch in changes:
        header.append(f"{ch.action} {ch.choice.key}")
        header.append(f"    {ch.why}")
    header.append("")
    return g.write(active, header=header), size.derivations, size.with_slots, size.complete


def first_round(universe: Universe, seed: Evaluated | None) -> Round:
    """Round 0: the whole grammar, or (growth) the seed's choices plus
    ``start_extra`` more per rule and slot."""
    g, rule = universe.choices, universe.rule
    active = {o: tuple(c.text for c in cs if c.text not in universe.extended.get(o, ())) for o, cs in g.groups.items()}
    changes: list[Change] = []
    if rule.grow:
        if seed is None:
            raise AlphanasError("growth starts from the seed's choices, and the seed was not evaluated")
        made = g.choices_of(seed.program)
        active = {}
        for owner, choices in g.groups.items():
            own = [c.text for c in choices if c in made]
            extra = [c.text for c in choices if c not in made and c.text not in universe.extended.get(owner, ())]
            # a rule the seed does not use starts with its first choice, so that it is never empty
            start = own + extra[: rule.start_extra] if own else extra[: max(1, rule.start_extra)]
            active[owner] = tuple(t for t in (c.text for c in choices) if t in start)
    text, derivations, with_slots, complete = _round_text(universe, 0, 0 if seed is None else 1, active, changes, ())
    return Round(0, 0 if seed is None else 1, active, (), text, derivations, with_slots, complete, ())


def next_round(universe: Universe, previous: Round, history: Sequence[Evaluated],
               objectives: Sequence[tuple[str, str]]) -> Round:
    """The round after ``previous``, from the evidence of ``history`` (the
    evaluations finished before it starts)."""
    g, rule = universe.choices, universe.rule
    evidence = collect_evidence(g, history, objectives, rule.ridge)
    active = {o: tuple(ts) for o, ts in previous.active.items()}
    changes: list[Change] = []
    trial = set(previous.trial) - set(evidence.front_choices)  # a trial choice on the front is kept for good
    if rule.shrink:
        changes += shrink_decisions(evidence, active, g, rule)
    if rule.grow:
        dropped = {ch.choice for ch in changes}
        for c in sorted(trial):
            ev = evidence.of(c)
            if c not in dropped and ev.derivations >= rule.min_evidence and len(active[c.owner]) > 1:
                changes.append(Change(c, "dropped", f"added by growth, {_describe(evidence, c)}: it did not "
                                                    "reach the front"))
    retired = set(previous.retired) | {ch.choice for ch in changes}
    for ch in changes:
        active[ch.choice.owner] = tuple(t for t in active[ch.choice.owner] if t != ch.choice.text)
    trial -= retired
    if rule.grow:
        for owner, choices in g.groups.items():
            untried = [c for c in choices if c.text not in active[owner] and c not in retired]
            for c in untried[: rule.grow_per_round]:
                origin = "an op the grammar lacks (extend)" if c.text in universe.extended.get(owner, ()) \
                    else "the next alternative of the user's grammar"
                changes.append(Change(c, "added", f"growth: {origin}"))
                trial.add(c)
                active[owner] = tuple(t for t in (x.text for x in choices) if t in active[owner] or t == c.text)
    index, after = previous.index + 1, len(history)
    text, derivations, with_slots, complete = _round_text(universe, index, after, active, changes, evidence.front)
    return Round(index, after, active, tuple(changes), text, derivations, with_slots, complete, evidence.front,
                 frozenset(trial), frozenset(retired))


def evolve_rounds(universe: Universe, history: Sequence[Evaluated], objectives: Sequence[tuple[str, str]],
                  rounds: list[Round] | None = None) -> list[Round]:
    """Every round the history has reached (round ``k`` starts after
    ``k × round_length`` evaluations), continuing ``rounds`` if given."""
    rounds = list(rounds or [])
    if not rounds:
        rounds.append(first_round(universe, history[0] if history else None))
    reached = len(history) // universe.rule.round_length
    while rounds[-1].index < reached:
        k = rounds[-1].index + 1
        rounds.append(next_round(universe, rounds[-1], history[: k * universe.rule.round_length], objectives))
    return rounds


def write_round(run_dir: Path, r: Round) -> Path:
    """``RUN/space_rounds/round_K.lark`` (written when it differs)."""
    folder = run_dir / "space_rounds"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"round_{r.index}.lark"
    if not path.exists() or path.read_text() != r.text:
        path.write_text(r.text)
    return path
