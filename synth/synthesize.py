"""``synthesize``: a concrete region from properties, shapes and budgets.

The loop: structures come from the space, smallest first
(:mod:`synth.enumerate` for the core language, :mod:`synth.grammar` for a
user's grammar); for each, Z3 chooses the sizes (:mod:`synth.sizes`); the
concrete region is re-verified from its text (:mod:`synth.verify`). The first
verified region is the answer (with ``objective="any"``); with
``"cheapest"`` or ``"closest"`` the best of the first few is. When the time
or the size limit runs out first, the answer is an
:class:`~synth.explain.Infeasible` report saying why
(:mod:`synth.explain`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from alphanas.lang.canonical import program_hash
from alphanas.lang.ir import Program
from alphanas.properties.api import RegionProperties
from synth.domains import Domain
from synth.explain import Infeasible, Tally, explain, proven_infeasible
from synth.problem import Problem
from synth.sizes import SizeObjective, SizeSolution, fresh_z3_context, sample_sizes, solve_sizes
from synth.structure import Template
from synth.verify import Rejected, concrete_program, verify
from synth.work import DEFAULT_RLIMIT, DEFAULT_STEPS, Work

__all__ = ["Result", "Space", "Stats", "synthesize"]


@dataclass
class Stats:
    """What a synthesis call did."""

    structures: int = 0
    solver_calls: int = 0
    unsat: int = 0
    rejected: int = 0
    refused: int = 0
    seconds: float = 0.0
    #: work steps spent (:class:`synth.work.Work`)
    steps: int = 0
    #: the wall-clock safety net fired: the result depends on the machine's speed
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        out = {"structures": self.structures, "solver_calls": self.solver_calls, "unsat": self.unsat,
               "rejected": self.rejected, "refused": self.refused, "steps": self.steps,
               "seconds": round(self.seconds, 4)}
        if self.timed_out:
            out["timed_out"] = True
        return out


@dataclass(frozen=True)
class Result:
    """A synthesized region: its program (a model over the problem's
    inputs), its canonical text, its re-inferred properties, the structure
    and sizes it came from, and statistics."""

    program: Program
    text: str
    properties: RegionProperties
    structure: str
    sizes: Mapping[str, int]
    stats: Stats = field(default_factory=Stats)
    #: in a grammar space, the sentence as the grammar derives it (the
    #: canonical ``text`` leaves out default arguments the sentence may spell)
    sentence: str | None = None

    @property
    def ok(self) -> bool:
        return True


class Space(Protocol):
    """Where structures come from: the core language
    (:class:`~synth.enumerate.CoreSpace`) or a user's grammar
    (:class:`~synth.grammar.GrammarSpace`). ``complete`` says, after an
    enumeration, whether every structure within the limits was listed."""

    name: str
    complete: bool

    def templates(self, problem: Problem, max_ops: int, rng: random.Random, work: Work) -> Iterator[Template]: ...


def synthesize(
    problem: Problem,
    space: Any = None,
    seed: int = 0,
    time_limit: float = 60.0,
    max_ops: int = 6,
    objective: SizeObjective = "any",
    reference: Mapping[str, int] | None = None,
    domains: Mapping[str, Domain] | None = None,
    candidates: int = 4,
    sizes: Literal["z3", "sample"] = "z3",
    avoid: Collection[str] = (),
    accept: Callable[[Result], str | None] | None = None,
    steps: int = DEFAULT_STEPS,
    rlimit: int = DEFAULT_RLIMIT,
) -> Result | Infeasible:
    """A region that fits ``problem``, or why there is none.

    ``space`` is a :class:`~synth.enumerate.CoreSpace` (the default) or a
    :class:`~synth.grammar.GrammarSpace`; ``seed`` drives every choice, so
    the same call gives the same region; ``max_ops`` bounds the structure
    size; ``objective`` picks among solutions (``"cheapest"``: fewest
    parameters; ``"closest"``: parameters closest to ``reference["params"]``),
    considering up to ``candidates`` verified regions. ``sizes="sample"``
    replaces the solver by αNAS's sample-and-filter (the benchmark's
    baseline). Regions whose canonical hash is in ``avoid`` (the region
    being replaced, say) are passed over. ``accept`` has the last word on
    each verified region: it returns None to take it, or the reason it
    refuses it (say, the program it makes is one the search already has),
    and the search goes on to the next region; the explanation counts the
    refusals by reason.

    The effort is counted in work, so that the same call gives the same
    result on any machine (:mod:`synth.work`): ``steps`` enumeration steps
    and structures, ``rlimit`` Z3 resource units per solver call.
    ``time_limit`` (seconds) is a safety net only; when it fires, the stats
    say so (``timed_out``). Each call runs in a Z3 context of its own: Z3's
    choices depend on the history of its context, which would make a
    resumed search choose other sizes than an uninterrupted one."""
    with fresh_z3_context():
        return _synthesize(problem, space, seed, max_ops, objective, reference, domains, candidates, sizes, avoid,
                           accept, Work(steps, rlimit, time_limit))


def _synthesize(
    problem: Problem,
    space: Any,
    seed: int,
    max_ops: int,
    objective: SizeObjective,
    reference: Mapping[str, int] | None,
    domains: Mapping[str, Domain] | None,
    candidates: int,
    sizes: Literal["z3", "sample"],
    avoid: Collection[str],
    accept: Callable[[Result], str | None] | None,
    work: Work,
) -> Result | Infeasible:
    from synth.enumerate import CoreSpace

    space = space if space is not None else CoreSpace()
    rng = random.Random(seed)
    stats = Stats()
    tally = Tally()
    start = time.perf_counter()
    proof = proven_infeasible(problem, max_ops, space)
    if proof is not None:
        stats.seconds = time.perf_counter() - start
        return Infeasible(problem, (proof,), proven=True, stats=stats.as_dict())
    found: list[Result] = []
    exhausted = True
    for tmpl in space.templates(problem, max_ops, rng, work):
        if not work.spend():
            exhausted = False
            break
        stats.structures += 1
        if sizes == "z3":
            safety_ms = max(50, int(1000 * min(work.seconds_left(), 3600.0)))
            solution = solve_sizes(tmpl, problem, rng, objective, reference, domains, timeout_ms=safety_ms,
                                   rlimit=work.rlimit)
            if solution.timed_out:
                work.timed_out = True
        else:
            solution = sample_sizes(tmpl, problem, rng, domains=domains)
        stats.solver_calls += solution.solver_calls
        if not isinstance(solution, SizeSolution):
            stats.unsat += 1
            tally.unsat(tmpl, solution)
            continue
        try:
            checked = verify(concrete_program(tmpl, problem, solution.values), problem)
        except Rejected as err:
            stats.rejected += 1
            tally.rejected(tmpl, err.kind)
            continue
        sentence = None
        if hasattr(space, "accepts"):
            sentence = space.written(tmpl, solution.values)
            if not space.accepts(tmpl, solution.values):
                raise AssertionError(f"the space's grammar rejects its own sentence {sentence!r}")
        if avoid and program_hash(checked.program) in avoid:
            stats.rejected += 1
            continue
        result = Result(checked.program, checked.text, checked.properties,
                        tmpl.structure.describe() if tmpl.structure else getattr(tmpl, "label", ""),
                        dict(solution.values), stats, sentence)
        refusal = accept(result) if accept is not None else None
        if refusal is not None:
            stats.refused += 1
            tally.refused(refusal)
            continue
        found.append(result)
        if objective == "any" or len(found) >= candidates:
            break
    stats.seconds = time.perf_counter() - start
    stats.steps, stats.timed_out = work.used, work.timed_out
    exhausted = exhausted and getattr(space, "complete", True) and not work.spent
    if found:
        return min(found, key=lambda r: _rank(r, objective, reference))
    return explain(problem, tally, exhausted=exhausted, max_ops=max_ops, stats=stats.as_dict())


def _rank(r: Result, objective: SizeObjective, reference: Mapping[str, int] | None) -> tuple:
    res = r.properties.resources
    if objective == "cheapest":
        return (int(res.params), int(res.flops))
    if objective == "closest":
        return (abs(int(res.params) - (reference or {}).get("params", 0)),)
    return ()

