"""Why no region fits: infeasibility reports in the user's terms.

Two kinds of answers:

- a *proof* before any search (:func:`proven_infeasible`) when a bound
  rules out every structure: a target depth above the size limit (each op
  adds at most one alternation of linear and nonlinear ops);
- after a search that found nothing, a summary of the unsat cores the
  solver returned, structure by structure (:class:`Tally`): which
  requirements conflicted, how often, on which structure; when a budget
  takes part, the cheapest region that meets everything but the budget, so
  that the report can say how far the budget is from what is possible.
  The search is a proof too when it ran through every structure within the
  size limit (``exhausted``).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from synth.problem import Budgets, Problem
from synth.structure import Template

__all__ = ["Infeasible", "Tally", "explain", "proven_infeasible"]


@dataclass(frozen=True)
class Infeasible:
    """No region was found; ``reasons`` say why, ``proven`` whether no region
    within the size limit can exist (not only none was found in time)."""

    problem: Problem
    reasons: tuple[str, ...]
    proven: bool
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return False

    def render(self) -> str:
        head = "infeasible" if self.proven else "no region found"
        return "\n".join([f"{head}:", *(f"  - {r}" for r in self.reasons)])


@dataclass
class Tally:
    """The failures of one search: unsat cores and rejections by structure."""

    cores: Counter = field(default_factory=Counter)
    examples: dict[tuple[str, ...], str] = field(default_factory=dict)
    templates: dict[tuple[str, ...], Template] = field(default_factory=dict)
    rejections: Counter = field(default_factory=Counter)
    #: regions that met the problem but the caller refused (``accept``), by its reason
    refusals: Counter = field(default_factory=Counter)

    def unsat(self, tmpl: Template, unsat: Any) -> None:
        key = unsat.core
        self.cores[key] += 1
        self.examples.setdefault(key, _describe(tmpl))
        self.templates.setdefault(key, tmpl)

    def rejected(self, tmpl: Template, kind: str) -> None:
        self.rejections[kind] += 1

    def refused(self, reason: str) -> None:
        self.refusals[reason] += 1


def _describe(tmpl: Template) -> str:
    if tmpl.structure is not None:
        return tmpl.structure.describe()
    return getattr(tmpl, "label", tmpl.graph.name)


def proven_infeasible(problem: Problem, max_ops: int, space: Any) -> str | None:
    """A reason no structure of at most ``max_ops`` ops can meet the
    problem, found without searching; None when no bound rules it out."""
    for (i, _), t in problem.depth.items():
        if t > max_ops:
            return (
                f"depth >= {t} from input {i} needs at least {t} ops (each op adds at most one "
                f"alternation of linear and nonlinear ops), but the size limit is {max_ops} ops"
            )
    return None


def explain(problem: Problem, tally: Tally, exhausted: bool, max_ops: int, stats: dict[str, Any]) -> Infeasible:
    """The report of a search that found nothing."""
    reasons: list[str] = []
    tried = stats.get("structures", 0)
    if tried == 0:
        reasons.append(
            f"no structure of at most {max_ops} ops reaches the target depth and mixing "
            f"with output shape {list(problem.output)}"
        )
    for core, count in tally.cores.most_common(3):
        reasons.append(
            f"{' and '.join(core)} cannot hold together in {count} of {tried} structures "
            f"(e.g. {tally.examples[core]})"
        )
        budget_words = [c for c in core if " <= " in c and c.split(" <= ")[0] in _WORDS.values()]
        if budget_words:
            cheapest = _cheapest_without_budgets(problem, tally.templates[core])
            if cheapest:
                reasons.append(cheapest)
    if tally.rejections:
        reasons.append(
            "solved but rejected on re-verification: "
            + ", ".join(f"{r} ({n})" for r, n in tally.rejections.most_common(3))
        )
    if tally.refusals:
        reasons.append(
            "met the target but refused: "
            + ", ".join(f"{r} ({n})" for r, n in tally.refusals.most_common(3))
        )
    if not exhausted:
        reasons.append(f"stopped at the time limit after {tried} structures; more may exist")
    return Infeasible(problem, tuple(reasons), proven=exhausted, stats=stats)


_WORDS = {"params": "parameters", "flops": "FLOPs", "memory": "peak activation elements"}


def _cheapest_without_budgets(problem: Problem, tmpl: Template) -> str | None:
    """What the structure needs at the least, when a budget is what fails it."""
    from synth.sizes import SizeSolution, solve_sizes
    from synth.verify import concrete_program
    from synth.work import DEFAULT_RLIMIT

    relaxed = replace(problem, budgets=Budgets())
    solution = solve_sizes(tmpl, relaxed, random.Random(0), objective="cheapest", timeout_ms=500, exact=True,
                           rlimit=DEFAULT_RLIMIT)  # the work budget decides; 500 ms is the safety net
    if not isinstance(solution, SizeSolution):
        return None
    from alphanas.lang.analysis import analyze

    program = concrete_program(tmpl, relaxed, solution.values)
    total = analyze(program).total
    parts = []
    for name, bound in problem.budgets.items():
        if name == "params":
            parts.append(f"at least {int(total.params):,} parameters (budget {bound:,})")
        elif name == "flops":
            parts.append(f"{int(total.flops):,} FLOPs at its fewest parameters (budget {bound:,})")
    if not parts:
        return None
    return f"without the budget, {_describe(tmpl)} needs " + " and ".join(parts)
