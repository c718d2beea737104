"""What a space grammar contains: ``alphanas space GRAMMAR``.

Before searching a space a user wants to know three things: whether it
holds any program at all under their budget (and if not, why), how big it
is, and what its programs look like. :func:`diagnose` answers all three:

- **size**: the derivations of the rule are counted exactly by dynamic
  programming over the grammar (:meth:`synth.grammar.GrammarSpace.count`),
  with and without the choices of the slots; a recursive grammar is
  infinite, and is counted up to its expansion limit;
- **fit**: random derivations are drawn and each is given sizes by the
  synthesizer, under the shapes and the budget; the fraction that fits
  estimates how many of the counted structures are programs;
- **emptiness**: the synthesizer looks for the cheapest program of the
  space under the budget; when there is none it says why (an unsat core in
  the grammar's terms, and the cheapest program without the budget), and
  whether that is proven (every derivation within the limit was tried);
- **samples**: a few random programs of the space.

The shapes come from a program (the graph whose body the rule derives, in
its first instance) or from ``--input``/``--output`` for a model body.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from alphanas.lang.analysis import analyze
from alphanas.lang.ir import Program
from alphanas.lang.regions import instances_of
from alphanas.variation.space import ProgramSpace
from synth.grammar import GrammarSpace, SpaceError

__all__ = ["Context", "Diagnosis", "context_from_program", "context_from_shapes", "diagnose", "render"]


#: finite spaces with at most this many programs are searched whole for the cheapest
EXHAUSTIVE = 2000
#: otherwise, the cheapest of this many programs found is shown
SAMPLED_CHEAPEST = 32

#: the synthesizer's work budget for a diagnosis (:mod:`synth.work`); ``time_limit`` is its safety net
DIAGNOSIS_STEPS = 100_000


@dataclass(frozen=True)
class Context:
    """Where the rule's sentences are used: the names and shapes of the
    graph's inputs, its output shape and the fixed values of its int
    parameters."""

    names: tuple[str, ...]
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    constants: dict[str, int] = field(default_factory=dict)
    #: the program it came from, when it came from one, and whether it is in the space
    source: str | None = None
    in_space: bool | None = None
    why_not: str | None = None


@dataclass
class Diagnosis:
    space: str
    derivations: int
    with_slots: int
    #: every derivation was counted
    complete: bool
    max_expansions: int
    recursive: bool = False
    context: Context | None = None
    budgets: dict[str, int] = field(default_factory=dict)
    #: of the random derivations drawn, how many got sizes that fit
    drawn: int = 0
    fitting: int = 0
    empty: bool | None = None
    proven: bool = False
    reasons: tuple[str, ...] = ()
    cheapest: dict[str, Any] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def estimate(self) -> float | None:
        """Structures that fit the shapes and budget, estimated."""
        if not self.drawn:
            return None
        return self.derivations * self.fitting / self.drawn

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["estimate"] = self.estimate
        out["context"] = vars(self.context) if self.context else None
        return out


def context_from_program(space: ProgramSpace, program: Program, source: str) -> Context:
    graph = space.graph_of(program)
    instance = instances_of(program, graph.name, analyze(program))[0]
    try:
        space.derive(program)
        in_space, why = True, None
    except SpaceError as err:
        in_space, why = False, err.render()
    return Context(tuple(graph.input_ids), tuple(tuple(instance.shapes[i]) for i in graph.input_ids),
                   tuple(instance.output_shape), dict(instance.bindings), source, in_space, why)


def context_from_shapes(inputs: list[tuple[str, tuple[int, ...]]], output: tuple[int, ...]) -> Context:
    return Context(tuple(n for n, _ in inputs), tuple(s for _, s in inputs), output)


def diagnose(space: ProgramSpace, context: Context | None, budgets: dict[str, int], samples: int = 3,
             draws: int = 100, seed: int = 0, time_limit: float = 10.0) -> Diagnosis:
    derivations, with_slots, complete = space.grammar.count()
    d = Diagnosis(space.name, derivations, with_slots, complete, space.grammar.max_expansions,
                  space.grammar.is_recursive(space.rule), context,
                  {k: v for k, v in budgets.items() if v is not None})
    if context is None:
        return d
    from synth import Budgets, Problem, synthesize

    problem = Problem(context.inputs, context.output, budgets=Budgets(**d.budgets))
    rng = random.Random(seed)
    view = space.grammar.at(space.rule, inputs=context.names, constants=context.constants, order="random")
    d.drawn, d.fitting = _fitting_draws(view, problem, draws, rng)
    # a small finite space is searched whole for its cheapest program;
    # otherwise the cheapest of the first programs found is shown
    whole = complete and with_slots <= EXHAUSTIVE
    looked_at = with_slots if whole else SAMPLED_CHEAPEST
    cheapest = synthesize(problem, view.at(space.rule, order="smallest"), seed=seed, time_limit=time_limit,
                          steps=DIAGNOSIS_STEPS,
                          max_ops=10**6, objective="cheapest", candidates=looked_at)
    d.empty = not cheapest.ok
    if cheapest.ok:
        res = cheapest.properties.resources
        d.cheapest = {"body": cheapest.sentence, "params": int(res.params), "flops": int(res.flops),
                      "of": "every program" if whole and with_slots == derivations
                      and cheapest.stats.structures >= derivations
                      else f"the first {cheapest.stats.structures} structures"}
    else:
        d.proven, d.reasons = cheapest.proven, tuple(cheapest.reasons)
    for _ in range(samples if cheapest.ok else 0):
        result = synthesize(problem, view, seed=rng.randrange(2**31), time_limit=time_limit / 4,
                            steps=DIAGNOSIS_STEPS // 4, max_ops=10**6)
        if result.ok:
            res = result.properties.resources
            d.samples.append({"body": result.sentence, "params": int(res.params), "flops": int(res.flops)})
    return d


def _fitting_draws(view: GrammarSpace, problem: Any, draws: int, rng: random.Random) -> tuple[int, int]:
    """Random derivations drawn, and how many of them get sizes that fit."""
    from synth.sizes import SizeSolution, solve_sizes
    from synth.verify import Rejected, concrete_program, verify

    drawn = fitting = 0
    for sentence, _ in view.random_sentences(rng, tries=draws):
        tmpl = view.template(sentence, len(problem.inputs))
        drawn += 1
        if tmpl is None:
            continue
        solution = solve_sizes(tmpl, problem, rng)
        if not isinstance(solution, SizeSolution):
            continue
        try:
            verify(concrete_program(tmpl, problem, solution.values), problem)
        except Rejected:
            continue
        fitting += 1
    return drawn, fitting


def _shape(s: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, s)) + "]"


def render(d: Diagnosis) -> str:
    lines = [f"space {d.space}"]
    if d.complete:
        lines.append(f"  derivations: {d.derivations:,} (every one); with the slots' choices: {d.with_slots:,}")
    else:
        more = ("infinitely many (recursive rules)" if d.recursive
                else "more than the limit counts (some need more expansions)")
        lines.append(f"  derivations: {more}; {d.derivations:,} within {d.max_expansions} expansions, "
                     f"{d.with_slots:,} with the slots' choices")
    c = d.context
    if c is None:
        lines.append("  (give --program, or --input and --output, to check shapes, budgets and draw samples)")
        return "\n".join(lines)
    ins = ", ".join(f"{n}: {_shape(s)}" for n, s in zip(c.names, c.inputs))
    fixed = "".join(f", {k} = {v}" for k, v in c.constants.items())
    lines.append(f"  used with {ins} -> {_shape(c.output)}{fixed}" + (f" (from {c.source})" if c.source else ""))
    if c.in_space is not None:
        lines.append("  the program is in the space" if c.in_space else
                     "  the program is NOT in the space:\n    " + (c.why_not or "").replace("\n", "\n    "))
    budget = ", ".join(f"{k} <= {v:,}" for k, v in d.budgets.items()) or "no budget"
    if d.estimate is not None:
        lines.append(f"  {d.fitting} of {d.drawn} random derivations fit the shapes and {budget}: "
                     f"about {d.estimate:,.0f} structures fit")
    if d.empty:
        lines.append(f"  EMPTY under {budget}" + (" (proven)" if d.proven else " (none found in the time limit)"))
        lines.extend("    " + r.replace("\n", "\n      ") for r in d.reasons)
    elif d.cheapest is not None:
        lines.append(f"  not empty under {budget}; the cheapest program (of {d.cheapest['of']}) has "
                     f"{d.cheapest['params']:,} params, {d.cheapest['flops']:,} FLOPs:")
        lines.extend("    " + line for line in d.cheapest["body"].strip().split("\n"))
    for k, s in enumerate(d.samples, 1):
        lines.append(f"  sample {k}: {s['params']:,} params, {s['flops']:,} FLOPs")
        lines.extend("    " + line for line in s["body"].strip().split("\n"))
    return "\n".join(lines)
