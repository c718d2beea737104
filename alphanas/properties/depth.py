"""The depth property: alternations of linear and nonlinear ops along paths.

For a program with inputs I and output O, the depth of a pair (input,
output) is the largest number of alternations between linear and nonlinear
ops along any path from the input to the output: take the kinds of the ops
on the path, drop the neutral ones, collapse runs of equal kind and count the
runs (``conv → batchnorm → relu → conv`` is L, L, N, L: runs L, N, L, depth 3).
A path of neutral ops only has depth 0; an output that does not depend on an
input has no entry for that pair. A target depth is a lower bound.

:func:`infer_depth` is the abstract inference: it reads each op's kind from
the op library (:attr:`alphanas.ops.Op.depth_kind`) and runs one dynamic
programme over each analysed graph in statement order. A value's state, per
program input, is the best run count for each (first kind, last kind) of the
paths reaching it; a block instance is summarised once as such states from
each of its inputs to its output, and a call composes the caller's states with
the summary (a segment ending in kind k followed by one starting with k merges
one run). The result is exact (the maximum over all paths) and linear in the
size of the graph: no path is ever enumerated.
:mod:`alphanas.properties.concrete_depth` is the reference it is tested
against, a path search over the traced torch module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alphanas import ops
from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.ir import Program
from alphanas.properties.pairs import Labels, Pair, combined, pair_label

#: run kinds: no run yet (neutral ops only), a linear run, a nonlinear run
NONE, LINEAR, NONLINEAR = 0, 1, 2
KIND = {"neutral": NONE, "linear": LINEAR, "nonlinear": NONLINEAR}

#: (first run kind, last run kind) -> the largest run count of the paths so
#: far with those kinds; (NONE, NONE) is the all-neutral path (count 0)
States = dict[tuple[int, int], int]


@dataclass(frozen=True)
class Depth:
    """Per (input index, output index) pair, the largest number of
    alternations. The input index is the position among the program's model
    inputs (a region's inputs, in order), the output index the position
    among its outputs (0 for a single-output program; see :func:`combine`).
    ``labels`` keeps the value ids for display; it takes no part in equality."""

    values: Mapping[Pair, int] = field(default_factory=dict)
    labels: Labels = field(default=((), ()), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", dict(sorted(self.values.items())))

    def __getitem__(self, pair: Pair) -> int:
        return self.values[pair]

    def __contains__(self, pair: object) -> bool:
        return pair in self.values

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def items(self):
        return self.values.items()

    def get(self, pair: Pair, default: Any = None) -> Any:
        return self.values.get(pair, default)

    def __hash__(self) -> int:
        return hash(tuple(self.values.items()))

    def __str__(self) -> str:
        return render(self)

    def label(self, pair: Pair) -> tuple[str, str]:
        """The display names of a pair (``in0``/``out0`` when unlabelled)."""
        return pair_label(self.labels, pair)



def combine(parts: Sequence[Depth], inputs: Sequence[str] | None = None) -> Depth:
    """One property from per-output ones: see :func:`alphanas.properties.pairs.combine_pairs`."""
    return combined(Depth, parts, inputs)


# -- abstract inference ------------------------------------------------------------


def put_state(out: States, key: tuple[int, int], count: int) -> None:
    if out.get(key, -1) < count:
        out[key] = count


def step_states(states: States, kind: int) -> States:
    """The states after one op of ``kind``."""
    if kind == NONE:
        return states
    out: States = {}
    for (first, last), count in states.items():
        if first == NONE:
            put_state(out, (kind, kind), 1)
        elif last == kind:
            put_state(out, (first, kind), count)
        else:
            put_state(out, (first, kind), count + 1)
    return out


def _compose(states: States, segment: States) -> States:
    """Paths with ``states`` continued by a segment summarised as ``segment``."""
    out: States = {}
    for (first, last), count in states.items():
        for (f2, l2), d in segment.items():
            if f2 == NONE:  # an all-neutral segment changes nothing
                put_state(out, (first, last), count)
            elif first == NONE:
                put_state(out, (f2, l2), d)
            elif last == f2:  # the two runs at the junction are one
                put_state(out, (first, l2), count + d - 1)
            else:
                put_state(out, (first, l2), count + d)
    return out


def _merge(into: dict[str, States], source: str, states: States) -> None:
    if not states:
        return
    have = into.setdefault(source, {})
    for key, count in states.items():
        put_state(have, key, count)


def summarize(inst: Instance, memo: dict[int, dict[str, States]] | None = None) -> dict[str, States]:
    """For each input of an analysed graph from which its output is reachable,
    the states of the paths from that input to the output."""
    memo = {} if memo is None else memo
    key = id(inst)
    if key in memo:
        return memo[key]
    g = inst.graph
    # value id -> graph input id -> states of the paths from that input
    reach: dict[str, dict[str, States]] = {i: {i: {(NONE, NONE): 0}} for i in g.input_ids}
    for n in g.nodes:
        here: dict[str, States] = {}
        sub = inst.calls.get(n.id)
        if sub is not None:
            body = summarize(sub, memo)
            for port, value in enumerate(n.inputs):
                segment = body.get(sub.graph.inputs[port].id)
                if segment is None:  # the block's output ignores this input
                    continue
                for source, states in reach.get(value, {}).items():
                    _merge(here, source, _compose(states, segment))
        else:
            op = ops.lookup(n.op)
            assert op is not None, n.op
            kind = KIND[op.depth_kind]
            joined: dict[str, States] = {}
            for value in n.inputs:
                for source, states in reach.get(value, {}).items():
                    _merge(joined, source, states)
            for source, states in joined.items():
                _merge(here, source, step_states(states, kind))
        reach[n.id] = here
    result = reach.get(g.output, {})
    memo[key] = result
    return result


def instance_depth(inst: Instance) -> Depth:
    """The depth of an analysed graph (the model's, or a block instance's)."""
    g = inst.graph
    index = {i: k for k, i in enumerate(g.input_ids)}
    return Depth(
        {(index[i], 0): max(states.values()) for i, states in summarize(inst).items()},
        (tuple(g.input_ids), (g.output,)),
    )


def infer_depth(program: Program, instance: Instance | None = None) -> Depth:
    """The depth of every (input, output) pair of the program, from the IR."""
    return instance_depth(instance or analyze(program))


# -- order, distance, mutation -------------------------------------------------------


def satisfies(candidate: Depth, target: Depth) -> bool:
    """Each target pair is a lower bound: the candidate's depth is at least it.
    A pair missing from the candidate (the output ignores the input) counts
    as depth 0."""
    return all(candidate.get(pair, 0) >= t for pair, t in target.items())


def distance(candidate: Depth, target: Depth) -> float:
    """The mean, over the target's pairs, of the relative shortfall
    ``max(0, target - actual) / target`` (0 for a target of 0): zero iff
    :func:`satisfies`."""
    if not len(target):
        return 0.0
    total = 0.0
    for pair, t in target.items():
        if t > 0:
            total += max(0, t - candidate.get(pair, 0)) / t
    return total / len(target)


def mutate(target: Depth, rng: Any, delta_max: int = 2, p: float = 1.0) -> Depth:
    """A new target: each pair, with probability ``p``, moves by a nonzero
    integer in ``[-delta_max, +delta_max]`` (αNAS: ±1..2), clipped at 0.
    ``rng`` is a :class:`random.Random`; the same seed gives the same result."""
    if delta_max < 1:
        raise ValueError(f"delta_max={delta_max} must be at least 1")
    steps = [d for d in range(-delta_max, delta_max + 1) if d != 0]
    values = {}
    for pair, t in target.items():
        if rng.random() < p:
            t = max(0, t + rng.choice(steps))
        values[pair] = t
    return Depth(values, target.labels)


def render(depth: Depth) -> str:
    """One line per pair, by position, with the labels: ``x -> out: 3``."""
    if not len(depth):
        return "(no input reaches the output)"
    return "\n".join("{} -> {}: {}".format(*depth.label(pair), d) for pair, d in depth.items())
