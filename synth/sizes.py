"""Sizes by Z3: fill a template's holes so that the shapes fit and the
budgets hold.

For a :class:`~synth.structure.Template`, every slot becomes a Z3 ``Int``
constrained to its domain. The template is walked with the op library's own
shape and cost rules over those variables
(:class:`alphanas.properties.resources.SymbolicWalker`), which yields the
output shape, the parameters, FLOPs and activation sizes as Z3 expressions,
plus the conditions the rules state (divisibility by groups or heads,
windows that fit). The solver is asked for sizes under which

- every rule's condition holds,
- the output shape equals the problem's,
- each budget holds.

Each assertion is tracked under a readable label, so that an unsatisfiable
structure comes with an unsat core in the user's terms (see
:mod:`synth.explain`). Solutions vary with the seed: after a first model is
found, slots are visited in a seeded order and each is pinned to a random
value of its domain when that stays satisfiable. With ``objective`` set to
``"cheapest"`` the solver minimises parameters (then FLOPs); with
``"closest"`` it minimises the distance of the parameters to a reference.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import z3

from alphanas.lang.ir import Program
from alphanas.lang.regions import Region
from alphanas.ops import arith
from alphanas.ops.spec import Message, OpError, message_text
from alphanas.properties.resources import SymbolicWalker, peak_memory
from synth.domains import Domain, default_domain
from synth.problem import Problem
from synth.structure import Slot, Template

__all__ = ["SizeObjective", "SizeSolution", "Unsat", "solve_sizes"]

SizeObjective = Literal["any", "cheapest", "closest"]

#: an intermediate value may have at most this many times the elements of
#: the region's largest input or output
ACTIVATION_GROWTH = 4


@dataclass(frozen=True)
class SizeSolution:
    """Values for a template's slots."""

    values: Mapping[str, int]
    solver_calls: int
    timed_out: bool = False


@dataclass(frozen=True)
class Unsat:
    """No sizes fit this template: the labels of an unsat core, in words."""

    core: tuple[str, ...]
    solver_calls: int
    #: the rule failed before solving (a rank mismatch, say): no core
    structural: bool = False
    #: the solver stopped at the wall-clock safety net, not at its work budget
    timed_out: bool = False


@dataclass
class _Tracker:
    """Assertions under readable labels: each is guarded by a Boolean that
    :meth:`check` assumes, so that an unsat core names labels and can be
    shrunk by dropping them one at a time."""

    solver: Any
    labels: dict[str, Message] = field(default_factory=dict)
    guards: list[Any] = field(default_factory=list)
    #: guards of domain memberships: part of a core, but not worth reporting
    domains: set[str] = field(default_factory=set)

    def add(self, condition: Any, label: Message, domain: bool = False) -> None:
        if isinstance(condition, bool):
            condition = z3.BoolVal(condition)
        name = f"c{len(self.labels)}"  # str(guard) would run z3's pretty printer: slow, and the same
        guard = z3.Bool(name)
        self.labels[name] = label
        if domain:
            self.domains.add(name)
        self.guards.append(guard)
        self.solver.add(z3.Implies(guard, condition))

    def check(self, *extra: Any) -> Any:
        return self.solver.check(*self.guards, *extra)

    def core(self, max_checks: int = 16) -> tuple[tuple[str, ...], int]:
        """The labels of a small unsat core (deletion-based shrinking, at
        most ``max_checks`` solver calls) and the calls it took."""
        core = list(self.solver.unsat_core())
        calls = 0
        for guard in list(core):
            if calls >= max_checks or len(core) <= 1:
                break
            trial = [g for g in core if not g.eq(guard)]
            calls += 1
            if self.solver.check(*trial) == z3.unsat:
                core = trial
        # a domain says where a slot may range; the conflict is in the rest
        shown = [g for g in core if str(g) not in self.domains] or core
        seen: list[str] = []
        for g in shown:
            label = message_text(self.labels[str(g)])
            if label not in seen:
                seen.append(label)
        return tuple(seen), calls


@contextlib.contextmanager
def fresh_z3_context() -> Iterator[None]:
    """Run the body with a new Z3 context as z3py's default one.

    Z3's answers depend on the history of the context they are asked in (the
    order its terms were created in, its caches): the same size problem got
    other sizes in a search that had run for a while than in a fresh process,
    so a resumed search made other children than an uninterrupted one. A
    context of its own per synthesis makes the answer a function of the
    problem and the seed. z3py builds every expression in its module's
    default context and has no public way to replace it, hence the module
    attribute; the previous context is restored after."""
    previous = z3.z3._main_ctx
    z3.z3._main_ctx = z3.Context()
    try:
        yield
    finally:
        z3.z3._main_ctx = previous


def slot_domain(slot: Slot, problem: Problem, domains: Mapping[str, Domain] | None = None) -> Domain | None:
    """The domain of a slot: explicit values, the space's domain for its
    kind, or the default domain of its kind; None for a tied slot."""
    if slot.tie is not None or slot.kind is None:
        return None
    if isinstance(slot.kind, tuple):
        return Domain.of(slot.kind)
    if domains and slot.kind in domains:
        return domains[slot.kind]
    return default_domain(slot.kind, problem.sizes())


def _fmt(shape: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _user_bounded(tmpl: Template) -> bool:
    """Every slot takes values the user listed (a space grammar's slots)."""
    return all(isinstance(s.kind, tuple) for s in tmpl.slots)


def _fixed_values(tmpl: Template) -> dict[str, int] | None:
    """The slots' values when each slot has exactly one (else None)."""
    values: dict[str, int] = {}
    for s in tmpl.slots:
        if s.tie is not None or not isinstance(s.kind, tuple) or len(set(s.kind)) != 1:
            return None
        values[s.name] = s.kind[0]
    return values


def solve_sizes(
    tmpl: Template,
    problem: Problem,
    rng: random.Random,
    objective: SizeObjective = "any",
    reference: Mapping[str, int] | None = None,
    domains: Mapping[str, Domain] | None = None,
    timeout_ms: int = 2000,
    exact: bool = False,
    rlimit: int = 0,
) -> SizeSolution | Unsat:
    """Sizes for the template's slots that fit the problem, or the reason
    none do. ``exact``: optimise the objective even over a space's listed
    values (a claimed minimum must be one)."""
    fixed = _fixed_values(tmpl)
    if fixed is not None:
        # nothing to choose (a grammar sentence with its sizes written in):
        # verification checks the shapes and budgets without a solver
        return SizeSolution(fixed, 0)
    variables = {s.name: z3.Int(s.name) for s in tmpl.slots}
    if _user_bounded(tmpl) and not exact:
        # a space's listed values: optimising a nonlinear cost over them
        # can take the solver longer than trying the structures does, so
        # any fitting sizes are taken, and the caller keeps the cheapest
        # of its candidates
        objective = "any"
    solver_seed = rng.randrange(2**31) if objective == "any" else None
    # the walk first: most templates that fail, fail here, on shapes that
    # cannot meet whatever the sizes (two branches of different fixed
    # spatial sizes into one add, say), and need no solver
    walker = SymbolicWalker(Program(tmpl.graph))
    shapes: dict[str, tuple] = {}
    try:
        out, cost = walker.call(tmpl.graph, list(problem.inputs), variables, record=shapes)
    except (OpError, ZeroDivisionError, IndexError) as err:
        return Unsat((str(err),), 0, structural=True)
    if len(out) != len(problem.output):
        return Unsat((f"output rank {len(out)}, but the region must return {_fmt(problem.output)}",), 0, structural=True)
    solver: Any = z3.Optimize() if objective != "any" else z3.Solver()
    solver.set("timeout", timeout_ms)  # the safety net
    if rlimit:
        solver.set("rlimit", rlimit)  # the budget: counted by Z3 in work, the same on any machine
    if solver_seed is not None:
        solver.set("random_seed", solver_seed)
    track = _Tracker(solver)
    for s in tmpl.slots:
        dom = slot_domain(s, problem, domains)
        if dom is not None:
            track.add(dom.constraint(variables[s.name]), f"{s.node}.{s.param} in {dom.describe()}", domain=True)
    nodes = {n.id: n for n in tmpl.graph.nodes}
    for s in tmpl.slots:
        if s.tie is not None:
            (source,) = nodes[s.node].inputs[:1]
            track.add(variables[s.name] == shapes[source][s.tie], f"{s.node}.{s.param} equals its input's axis {s.tie}")
    for cond, message in zip(walker.check.conditions, walker.check.messages):
        track.add(cond, message)
    for axis, (got, want) in enumerate(zip(out, problem.output)):
        track.add(got == want, f"output shape {_fmt(problem.output)} (axis {axis} must be {want})")

    # no value much larger than the region's own inputs and output: channel
    # counts drawn from default domains are free, but a region that fits
    # should not blow up in between. Slots whose values the user listed (a
    # space grammar's) are bounded by the user already: a whole model body
    # grows far beyond its 1-channel input, and should.
    if not _user_bounded(tmpl):
        largest = max(arith.prod(s) for s in (*problem.inputs, problem.output))
        cap = ACTIVATION_GROWTH * largest
        for node_id in nodes:
            size = arith.prod(shapes[node_id])
            if not isinstance(size, int) or size > cap:
                track.add(size <= cap, f"{node_id} has at most {cap:,} elements ({ACTIVATION_GROWTH}x the largest input or output)")

    region = Region("region", frozenset(nodes), tuple(nodes), tuple(i.id for i in tmpl.graph.inputs), (tmpl.graph.output,))
    sizes = {v: arith.prod(s) for v, s in shapes.items()}
    measures = {"params": cost.params, "flops": cost.flops, "memory": peak_memory(tmpl.graph, region, sizes)}
    words = {"params": "parameters", "flops": "FLOPs", "memory": "peak activation elements"}
    for name, bound in problem.budgets.items():
        track.add(measures[name] <= bound, f"{words[name]} <= {bound:,}")

    if objective == "cheapest":
        solver.minimize(_int(measures["params"]))
        solver.minimize(_int(measures["flops"]))
    elif objective == "closest":
        target = (reference or {}).get("params", 0)
        diff = _int(measures["params"]) - target
        solver.minimize(z3.If(diff >= 0, diff, -diff))

    calls = 1
    if objective == "any":
        result = track.check()
    else:
        for guard in track.guards:  # Optimize has no assumptions in minimize mode: assert the guards
            solver.add(guard)
        result = solver.check()
    if result == z3.unknown:
        why = solver.reason_unknown()
        if "resource" in why:
            return Unsat((f"the solver spent its work budget (rlimit {rlimit:,})",), calls)
        return Unsat((f"the solver gave up ({why})",), calls, timed_out=True)
    if result == z3.unsat:
        if objective != "any":
            return Unsat(("no sizes fit (solved for an objective: no core)",), calls)
        core, extra = track.core()
        return Unsat(core, calls + extra)
    if objective == "any":
        calls += _diversify(track, tmpl, problem, variables, rng, domains)
    model = solver.model()
    values = {name: model.eval(v, model_completion=True).as_long() for name, v in variables.items()}
    return SizeSolution(values, calls)


def _diversify(
    track: _Tracker, tmpl: Template, problem: Problem, variables: Mapping[str, Any],
    rng: random.Random, domains: Mapping[str, Domain] | None,
) -> int:
    """Pin slots, in a seeded order, to seeded random values of their
    domains while the problem stays satisfiable; returns the solver calls."""
    calls = 0
    order = [s for s in tmpl.slots if slot_domain(s, problem, domains) is not None]
    rng.shuffle(order)
    pinned: list[Any] = []
    for s in order:
        dom = slot_domain(s, problem, domains)
        assert dom is not None
        values = dom.candidates()
        for value in rng.sample(values, min(2, len(values))):
            calls += 1
            guess = variables[s.name] == value
            if track.check(*pinned, guess) == z3.sat:
                pinned.append(guess)
                break
    calls += 1
    status = track.check(*pinned)
    assert status == z3.sat, "pinned values were each checked satisfiable"
    return calls


def _int(x: Any) -> Any:
    return z3.IntVal(x) if isinstance(x, int) else x


def sample_sizes(
    tmpl: Template,
    problem: Problem,
    rng: random.Random,
    tries: int = 50,
    domains: Mapping[str, Domain] | None = None,
) -> SizeSolution | Unsat:
    """Sizes without a solver, as αNAS chooses them: sample every slot from
    its domain, keep the first draw whose shapes check and fit the output and
    whose resources are within budget. The baseline that ``alphanas bench
    synth`` sets beside :func:`solve_sizes`."""
    from alphanas.lang.analysis import analyze
    from alphanas.lang.errors import AlphanasError
    from alphanas.properties.api import whole_graph_properties
    from synth.verify import concrete_program

    nodes = {n.id: n for n in tmpl.graph.nodes}
    for attempt in range(1, tries + 1):
        values: dict[str, int] = {}
        for s in tmpl.slots:
            dom = slot_domain(s, problem, domains)
            if dom is not None:
                values[s.name] = dom.sample(rng)
        try:
            values.update(_tied_values(tmpl, problem, values, nodes))
            program = concrete_program(tmpl, problem, values)
            inst = analyze(program)
        except (AlphanasError, OpError, KeyError, ZeroDivisionError):
            continue
        if tuple(inst.output_shape) != tuple(problem.output):
            continue
        largest = max(arith.prod(s) for s in (*problem.inputs, problem.output))
        if not _user_bounded(tmpl) and any(arith.prod(inst.shapes[n]) > ACTIVATION_GROWTH * largest for n in nodes):
            continue
        if problem.budgets.items():
            res = whole_graph_properties(program, inst).resources
            measured = {"params": res.params, "flops": res.flops, "memory": res.peak_memory}
            if any(measured[k] > b for k, b in problem.budgets.items()):
                continue
        return SizeSolution(values, attempt)
    return Unsat((f"no sampled sizes fit in {tries} draws",), tries)


def _tied_values(tmpl: Template, problem: Problem, values: Mapping[str, int], nodes: Mapping[str, Any]) -> dict[str, int]:
    """Tied slots take their input's size, found by following the shapes."""
    tied = [s for s in tmpl.slots if s.tie is not None]
    if not tied:
        return {}
    from alphanas.lang.analysis import analyze
    from synth.verify import concrete_program

    result: dict[str, int] = {}
    for s in tied:
        # a placeholder lets the earlier nodes be analysed; the tied node's input is what counts
        trial = {**values, **result, **{t.name: 1 for t in tied if t.name not in result}}
        inst = analyze(concrete_program(tmpl, problem, trial))
        source = nodes[s.node].inputs[0]
        result[s.name] = int(inst.shapes[source][s.tie])
    return result
