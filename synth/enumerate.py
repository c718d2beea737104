"""Progressive enumeration of structures in the core language, smallest first.

Structures of ``n`` ops are enumerated for ``n = 1, 2, ...``: first chains,
then a residual unit (two branches from the one input, merged) for a
one-input region, or one branch per input and a merge for a region with
several inputs (:class:`~synth.structure.Structure`). Within a size, the
positions are filled depth-first; at each position the candidate variants
are ordered by how close the partial structure comes to the targets (the
property distance at representative sizes) with seeded noise, so that the
promising structures come first and different seeds explore in different
orders. A partial structure is pruned when its remaining ops cannot reach
a target depth (each op adds at most one alternation).

Only :class:`~alphanas.ops.spec.Op` entries with ``synthesize`` set and
variants for the current shape take part: the op library decides what can
be placed, not this module.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from alphanas import ops
from alphanas.ops.spec import Variant
from alphanas.properties import Level
from synth.problem import Problem
from synth.structure import (
    Abstract,
    Structure,
    Template,
    apply_shape,
    forced_shrink,
    merged,
    rearranges,
    resize_capacity,
    template,
)
from synth.work import Work

__all__ = ["CoreSpace", "Layout", "abstract_satisfies", "layouts"]

#: the most ops on one branch before a merge, and the most chains tried per
#: branch (the best by the guidance order): merges of long branches multiply
#: the search space and are rarely needed to reach a target
MAX_BRANCH = 4
#: chains longer than this are built by randomized greedy rollouts, this
#: many, each step choosing among the best ``ROLLOUT_WIDTH`` next ops
EXHAUSTIVE_CHAIN = 5
ROLLOUTS = 200
ROLLOUT_WIDTH = 3
MAX_BRANCH_OPTIONS = 12


@dataclass(frozen=True)
class Layout:
    """Where the ops of a structure go: ops per branch, whether there is a
    merge, ops in the tail."""

    branches: tuple[int, ...]
    sources: tuple[int, ...]
    merge: bool
    tail: int


def layouts(n: int, n_inputs: int) -> Iterator[Layout]:
    """Every layout of ``n`` ops for a region with ``n_inputs`` inputs."""
    if n_inputs == 1:
        yield Layout((0,), (0,), False, n)
        for t in range(n - 1, -1, -1):  # residual units, short tails first is not better: longer first
            rest = n - 1 - t
            for a in range(rest, 0, -1):
                b = rest - a
                if b <= a:
                    yield Layout((a, b), (0, 0), True, t)
        return
    for t in range(n - 1, -1, -1):
        yield from (Layout(split, tuple(range(n_inputs)), True, t) for split in _splits(n - 1 - t, n_inputs))


def _splits(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    if parts == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _splits(total - first, parts - 1):
            yield (first, *rest)


def _depth_deficit(state: Abstract, problem: Problem, inputs: Sequence[int]) -> float:
    total = 0.0
    for (i, _), t in problem.depth.items():
        if i in inputs and t > 0:
            total += max(0, t - state.depth_of(i)) / t
    return total


def _mixing_deficit(state: Abstract, problem: Problem, inputs: Sequence[int]) -> float:
    total, count = 0.0, 0
    for (i, _), target in problem.mixing.items():
        if i not in inputs:
            continue
        have = state.mixing.get(i)
        for r, row in enumerate(target):
            for c, want in enumerate(row):
                if want == Level.NONE:
                    continue
                count += 1
                got = Level.NONE
                if have is not None and r < len(have) and c < len(have[r]):
                    got = have[r][c]
                total += max(0, int(want) - int(got)) / int(Level.ALL)
    return total / count if count else 0.0


def abstract_satisfies(state: Abstract, problem: Problem) -> bool:
    """The finished structure reaches the output's rank, every target depth
    and (at representative sizes) every target mixing entry."""
    if len(state.shape) != len(problem.output):
        return False
    inputs = range(len(problem.inputs))
    if _depth_deficit(state, problem, inputs) > 0:
        return False
    for (i, _), target in problem.mixing.items():
        have = state.mixing.get(i)
        if have is None or len(have) != len(target) or len(have[0]) != len(target[0]):
            return False
        if any(h < t for hr, tr in zip(have, target) for h, t in zip(hr, tr)):
            return False
    return True


#: partial states whose successors are kept, per set of allowed ops
SUCCESSORS_KEPT = 100_000
_SUCCESSORS: dict[tuple[frozenset[str] | None, int], dict[tuple, list[tuple[Variant, Abstract]]]] = {}


def _successors_of(allowed: set[str] | None) -> dict[tuple, list[tuple[Variant, Abstract]]]:
    """The process's successor table for a set of allowed ops (None: all,
    as many as the library has now: an op registered later starts a new table)."""
    key = (frozenset(allowed) if allowed is not None else None, len(ops.all_ops()))
    return _SUCCESSORS.setdefault(key, {})


class CoreSpace:
    """The widest space: any structure of library ops (see the module
    docstring). ``allowed`` restricts the ops by name (None: all)."""

    name = "core"

    def __init__(self, allowed: Sequence[str] | None = None) -> None:
        self._work = Work(steps=2**62)
        #: after :meth:`structures`: whether every structure within the size
        #: limit was listed (no sampling of long chains, no caps hit)
        self.complete = True
        self.allowed = set(allowed) if allowed is not None else None
        names = [n for n in ops.all_ops() if self.allowed is None or n in self.allowed]
        self.unary = [ops.lookup(n) for n in names if ops.lookup(n).arity == 1]  # type: ignore[union-attr]
        self.merges = [ops.lookup(n) for n in names if ops.lookup(n).arity is None]  # type: ignore[union-attr]

    def unary_variants(self, shape: tuple[int, ...]) -> list[Variant]:
        return [v for op in self.unary for v in op.variants([shape])]

    def merge_variants(self, shape: tuple[int, ...], k: int) -> list[Variant]:
        return [v for op in self.merges for v in op.variants([shape] * k)]

    def templates(self, problem: Problem, max_ops: int, rng: random.Random, work: Work | None = None
                  ) -> Iterator[Template]:
        """The structures of :meth:`structures` as templates for the solver
        (the interface every space offers :func:`synth.synthesize`)."""
        for structure, _ in self.structures(problem, max_ops, rng, work):
            yield template(structure, len(problem.inputs))

    def structures(self, problem: Problem, max_ops: int, rng: random.Random, work: Work | None = None
                   ) -> Iterator[tuple[Structure, Abstract]]:
        """Structures of 1..``max_ops`` ops that reach the targets at
        representative sizes, smallest first, in a seeded, distance-guided
        order, until the ``work`` budget is spent (None: no limit)."""
        k = len(problem.inputs)
        self._work = work if work is not None else Work(steps=2**62)
        self.complete = True
        self._successors = _successors_of(self.allowed)
        self._deficits: dict[tuple, float] = {}
        for n in range(1, max_ops + 1):
            for layout in layouts(n, k):
                yield from self._fill(problem, layout, rng)

    # -- depth-first filling ----------------------------------------------------------------
    def _deficit(self, state: Abstract, problem: Problem, inputs: Sequence[int]) -> float:
        key = (state.key, tuple(inputs))
        if key not in self._deficits:
            self._deficits[key] = _depth_deficit(state, problem, inputs) + _mixing_deficit(state, problem, inputs)
        return self._deficits[key]

    def _order(self, options: list[tuple[Variant, Abstract]], problem: Problem, inputs: Sequence[int],
               rng: random.Random) -> list[tuple[Variant, Abstract]]:
        scored = [
            (self._deficit(s, problem, inputs) + 0.25 * rng.random(), i) for i, (_, s) in enumerate(options)
        ]
        return [options[i] for _, i in sorted(scored)]

    def _extend(self, state: Abstract, problem: Problem, inputs: Sequence[int], rng: random.Random
                ) -> list[tuple[Variant, Abstract]]:
        # the same partial states recur across sizes, layouts and problems:
        # their successors (a function of the state and the allowed ops) are
        # computed once per process
        options = self._successors.get(state.key)
        if options is None:
            options = []
            for v in self.unary_variants(state.shape):
                nxt = state.then(v)
                if nxt is not None:
                    options.append((v, nxt))
            if len(self._successors) >= SUCCESSORS_KEPT:
                self._successors.clear()
            self._successors[state.key] = options
        return self._order(options, problem, inputs, rng)

    def _reachable(self, state: Abstract, problem: Problem, inputs: Sequence[int], remaining: int) -> bool:
        """Can ``remaining`` more ops still reach the targets? Each op adds at
        most one alternation to a depth; and an input axis that feeds
        nothing any more (an all-NONE row of its mixing matrix) never will
        again, since composing keeps zero rows zero."""
        if any(state.depth_of(i) + remaining < t for (i, _), t in problem.depth.items() if i in inputs):
            return False
        for (i, _), target in problem.mixing.items():
            have = state.mixing.get(i)
            if i not in inputs or have is None or len(have) != len(target):
                continue
            if any(not any(row) and any(want) for row, want in zip(have, target)):
                return False
        return True

    def _chain(self, state: Abstract, length: int, after: int, problem: Problem, inputs: Sequence[int],
               rng: random.Random) -> Iterator[tuple[tuple[Variant, ...], Abstract]]:
        """Chains of ``length`` ops from ``state``; ``after`` ops follow the
        chain on the way to the output (for the depth bound)."""
        if not self._work.spend():
            self.complete = False
            return
        if length > EXHAUSTIVE_CHAIN:
            self.complete = False  # rollouts sample long chains; they do not list them all
            yield from self._rollouts(state, length, after, problem, inputs, rng)
            return
        if not self._reachable(state, problem, inputs, length + after):
            return
        if length == 0:
            yield (), state
            return
        for v, nxt in self._extend(state, problem, inputs, rng):
            for rest, end in self._chain(nxt, length - 1, after, problem, inputs, rng):
                yield (v, *rest), end

    def _rollouts(self, state: Abstract, length: int, after: int, problem: Problem, inputs: Sequence[int],
                  rng: random.Random) -> Iterator[tuple[tuple[Variant, ...], Abstract]]:
        """Long chains by randomized greedy rollouts instead of a full
        depth-first search, whose backtracking would stay near the leaves of
        one unlucky prefix: each step picks one of the best few next ops."""
        seen: set[tuple[tuple[str, str], ...]] = set()
        for _ in range(ROLLOUTS):
            if not self._work.spend():
                self.complete = False
                return
            current, chain = state, []
            for step in range(length):
                options = [
                    (v, nxt) for v, nxt in self._extend(current, problem, inputs, rng)[:ROLLOUT_WIDTH]
                    if self._reachable(nxt, problem, inputs, length - step - 1 + after)
                ]
                if not options:
                    break
                v, current = rng.choice(options)
                chain.append(v)
            else:
                key = tuple((v.op, v.label) for v in chain)
                if key not in seen:
                    seen.add(key)
                    yield tuple(chain), current

    def _fill(self, problem: Problem, layout: Layout, rng: random.Random) -> Iterator[tuple[Structure, Abstract]]:
        if not layout.merge:
            start = Abstract.of_input(0, problem.inputs[0])
            for chain, end in self._chain(start, layout.tail, 0, problem, [0], rng):
                if abstract_satisfies(end, problem) and self._can_resize(chain, problem):
                    yield Structure(((),), (0,), None, chain), end
            return
        if max(layout.branches) > MAX_BRANCH:
            self.complete = False
            return
        after = 1 + layout.tail
        branch_options = [
            self._capped(itertools.islice(
                self._chain(Abstract.of_input(src, problem.inputs[src]), length, after, problem, [src], rng),
                MAX_BRANCH_OPTIONS + 1,
            ))
            for src, length in zip(layout.sources, layout.branches)
        ]
        for combo in _product(branch_options):
            chains = tuple(c for c, _ in combo)
            if len(chains) == 2 and layout.sources == (0, 0) and chains[0] == chains[1]:
                continue  # two equal branches from one input
            ends = [s for _, s in combo]
            # inputs passed straight to the merge keep their exact shapes: the
            # merge must accept them as they are
            straight = [problem.inputs[src] for src, c in zip(layout.sources, chains) if not c]
            if not self._branches_can_meet(layout, chains, straight, problem):
                continue
            for merge in self.merge_variants(ends[0].shape, len(ends)):
                if len(straight) >= 2 and apply_shape(merge, straight) is None:
                    continue
                joined = merged(ends, merge)
                if joined is None or not self._reachable(joined, problem, range(len(problem.inputs)), layout.tail):
                    continue
                for tail, end in self._chain(joined, layout.tail, 0, problem, range(len(problem.inputs)), rng):
                    if abstract_satisfies(end, problem) and all(
                        self._can_resize((*chain, merge, *tail), problem, [problem.inputs[src]])
                        for src, chain in zip(layout.sources, chains)
                    ):
                        yield Structure(chains, layout.sources, merge, tail), end

    def _capped(self, options: Iterator[Any]) -> list[Any]:
        """At most :data:`MAX_BRANCH_OPTIONS` of ``options``; the enumeration
        is no longer complete when there were more."""
        listed = list(options)
        if len(listed) > MAX_BRANCH_OPTIONS:
            self.complete = False
        return listed[:MAX_BRANCH_OPTIONS]

    def _branches_can_meet(self, layout: Layout, chains: Sequence[Sequence[Variant]],
                           straight: Sequence[Sequence[int]], problem: Problem) -> bool:
        """A branch passed straight to the merge fixes the merge's shape (for
        the ops here: equal shapes, or equal but for the merged axis): every
        other branch must be able to resize its input towards it."""
        if not straight:
            return True
        goal = straight[0]
        for src, chain in zip(layout.sources, chains):
            if chain and not self._can_resize(chain, replace(problem, output=tuple(goal)), [problem.inputs[src]]):
                return False
        return True

    @staticmethod
    def _can_resize(variants: Sequence[Variant], problem: Problem, shapes: Sequence[Sequence[int]] | None = None) -> bool:
        """Every axis on which the output differs from an input of the same
        rank can be resized by the ops: their combined shrink factors
        (:func:`~synth.structure.resize_capacity`) reach the ratio needed."""
        for shape in shapes if shapes is not None else problem.inputs:
            if len(shape) != len(problem.output) or any(rearranges(v, shape) for v in variants):
                continue
            capacity = {a: 1.0 for a in range(len(shape))}
            forced = {a: 1.0 for a in range(len(shape))}
            for v in variants:
                for a, c in resize_capacity(v, shape).items():
                    capacity[a] *= c
                for a, f in forced_shrink(v, shape).items():
                    forced[a] *= f
            for a, (x, y) in enumerate(zip(shape, problem.output)):
                need = x / y if x >= y else math.inf
                if capacity[a] < need:
                    return False
                if forced[a] > need + 1e-9 and capacity[a] != math.inf:
                    return False  # shrinks more than it may, and nothing can grow it back
        return True


def _product(options: list[list]) -> Iterator[tuple]:
    if not options:
        yield ()
        return
    for first in options[0]:
        for rest in _product(options[1:]):
            yield (first, *rest)
