"""The mixing property: which input axes feed which output axes, and how.

αNAS's *linear operator pairing*: for each (program input, program output)
pair, a matrix of :class:`~alphanas.properties.Level` with one row per input
axis and one column per output axis, batch first. The concrete meaning (what
:mod:`alphanas.properties.concrete` measures on the built module) is stated
in :mod:`alphanas.ops.mixrules`; each op of the library has the exact
transfer matrix of that meaning (``Op.mixing``).

:func:`infer_mixing` composes the op matrices along the graph. It is exact
for one op, but composing per-axis summaries is neither an over- nor an
under-approximation of a whole program's concrete mixing:

- windows that grow along a chain are not tracked: two k=3 convs on a
  5-wide axis read all of it (concrete ALL), composed they stay MANY;
- (fixed by :func:`close`) a size-1 axis forgot where its one position came
  from: squeeze-excite's gate, reshaped to [C, 1, 1] and broadcast over
  height and width, reads all of the height, but the composed path reached
  the output's height only through the identity branch (ONE); now an axis
  that feeds the centre whole (ALL in the batch column) is ALL in its row;
- positions are not tracked, only axes: slicing out the class token that a
  concat put in front of the patch tokens leaves an output that does not
  depend on the image at all (concrete NONE), while the composed matrix still
  routes the image's channels to the features (ALL).

``tests/test_mixing.py`` pins these cases down on both sides.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from alphanas import ops
from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.ir import Program
from alphanas.properties import Level, Matrix, axis_names
from alphanas.properties.pairs import Labels, Pair, combined, pair_label


@dataclass(frozen=True)
class Mixing:
    """One mixing matrix per (input index, output index) pair; ``labels``
    keeps the value ids for display and takes no part in equality."""

    pairs: tuple[tuple[Pair, Matrix], ...]
    labels: Labels = field(default=((), ()), compare=False)

    @staticmethod
    def of(pairs: Mapping[Pair, Matrix], labels: Labels = ((), ())) -> Mixing:
        return Mixing(tuple(sorted((k, _freeze(m)) for k, m in pairs.items())), labels)

    def __getitem__(self, pair: Pair) -> Matrix:
        return dict(self.pairs)[pair]

    def __contains__(self, pair: object) -> bool:
        return pair in dict(self.pairs)

    def get(self, pair: Pair, default: Matrix | None = None) -> Matrix | None:
        return dict(self.pairs).get(pair, default)

    def __iter__(self) -> Iterator[Pair]:
        return iter(k for k, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def items(self) -> tuple[tuple[Pair, Matrix], ...]:
        return self.pairs

    def axes(self, pair: Pair) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Readable names of the rows (input axes) and columns (output axes)."""
        m = self[pair]
        return axis_names(len(m) - 1), axis_names(len(m[0]) - 1)

    def label(self, pair: Pair) -> tuple[str, str]:
        """The display names of a pair (``in0``/``out0`` when unlabelled)."""
        return pair_label(self.labels, pair)


def combine(parts: Sequence[Mixing], inputs: Sequence[str] | None = None) -> Mixing:
    """One property from per-output ones: see :func:`alphanas.properties.pairs.combine_pairs`."""
    return combined(Mixing.of, parts, inputs)


def _freeze(m: Sequence[Sequence[int]]) -> Matrix:
    return tuple(tuple(Level(v) for v in row) for row in m)


def identity(rank: int) -> Matrix:
    """A value's mixing with itself: one-to-one on the diagonal (batch included)."""
    return tuple(tuple(Level.ONE if i == j else Level.NONE for j in range(rank + 1)) for i in range(rank + 1))


def compose(p: Matrix, q: Matrix) -> Matrix:
    """``p`` (a × m) then ``q`` (m × b): an entry is the strongest path through
    an intermediate axis, a path being as strong as its strongest step and
    absent if a step is; then :func:`close`."""
    return close(_paths(p, q))


def close(m: Matrix) -> Matrix:
    """An input axis whose every position feeds the centre (ALL in the batch
    column) is read whole by every line through the centre: its whole row
    is ALL. Every op's exact matrix has this form already; composition can
    lose it (a size-1 output axis reached only through the batch column)."""
    if not any(row[0] == Level.ALL for row in m[1:]):
        return m
    return (m[0], *(tuple(Level.ALL for _ in row) if row[0] == Level.ALL else row for row in m[1:]))


def _paths(p: Matrix, q: Matrix) -> Matrix:
    return tuple(
        tuple(
            max(
                (max(p[i][k], q[k][o]) for k in range(len(q)) if p[i][k] and q[k][o]),
                default=Level.NONE,
            )
            for o in range(len(q[0]))
        )
        for i in range(len(p))
    )


def join(p: Matrix, q: Matrix) -> Matrix:
    return tuple(tuple(max(a, b) for a, b in zip(rp, rq)) for rp, rq in zip(p, q))


def _hashable(v: object) -> object:
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


#: op applications' matrices, by (op, attributes, input shapes, output shape)
_OP_CACHE: dict[tuple, tuple[Matrix, ...]] = {}
_OP_CACHE_SIZE = 16384


def op_mixing(name: str, attrs: Mapping[str, object], ins: Sequence[Sequence[int]], out: Sequence[int]) -> tuple[Matrix, ...]:
    """``Op.mixing`` of one op application, memoised by (op, attributes,
    shapes): a network repeats the same few applications many times."""
    try:
        key: tuple | None = (
            name,
            tuple(sorted((k, _hashable(v)) for k, v in attrs.items())),
            tuple(map(tuple, ins)),
            tuple(out),
        )
        hit = _OP_CACHE.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable attribute value
        key, hit = None, None
    if hit is not None:
        return hit
    op = ops.lookup(name)
    assert op is not None, name
    result = tuple(_freeze(m) for m in op.mixing(ins, attrs, out))  # type: ignore[arg-type]
    if key is not None:
        if len(_OP_CACHE) >= _OP_CACHE_SIZE:
            _OP_CACHE.clear()
        _OP_CACHE[key] = result
    return result


def _body(inst: Instance, memo: dict[int, tuple[dict[str, Matrix], ...]]) -> dict[str, dict[str, Matrix]]:
    """For every value of the instance, its matrix from each graph input that
    reaches it (value id -> input id -> matrix)."""
    carried: dict[str, dict[str, Matrix]] = {
        i.id: {i.id: identity(len(inst.shapes[i.id]))} for i in inst.graph.inputs
    }
    for n in inst.graph.nodes:
        ins, out = inst.node_shapes(n)
        if n.id in inst.calls:
            transfers = _transfers(inst.calls[n.id], memo)
        else:
            transfers = op_mixing(n.op, inst.attrs[n.id], ins, out)
        value: dict[str, Matrix] = {}
        for src, t in zip(n.inputs, transfers):
            for root, m in carried[src].items():
                c = compose(m, t)
                value[root] = join(value[root], c) if root in value else c
        carried[n.id] = value
    return carried


def _transfers(inst: Instance, memo: dict[int, tuple[dict[str, Matrix], ...]]) -> tuple[Matrix, ...]:
    """A block instance's transfer matrices, one per tensor input: its body's
    inferred mixing from that input to its output."""
    key = id(inst)
    if key not in memo:
        out = _body(inst, memo)[inst.graph.output]
        rank = len(inst.output_shape)
        memo[key] = tuple(
            out.get(i.id, _none(len(inst.shapes[i.id]), rank)) for i in inst.graph.inputs
        )
    return memo[key]  # type: ignore[return-value]


def _none(rows: int, cols: int) -> Matrix:
    return tuple(tuple(Level.NONE for _ in range(cols + 1)) for _ in range(rows + 1))


def infer_mixing(program: Program, instance: Instance | None = None) -> Mixing:
    """The abstract mixing of a program, composed from the op library's rules."""
    inst = instance or analyze(program)
    out = _body(inst, {})[inst.graph.output]
    rank = len(inst.output_shape)
    g = inst.graph
    return Mixing.of(
        {(k, 0): out.get(i.id, _none(len(inst.shapes[i.id]), rank)) for k, i in enumerate(g.inputs)},
        (tuple(g.input_ids), (g.output,)),
    )


# -- the partial order ------------------------------------------------------------------


def _same_shape(a: Matrix, b: Matrix) -> bool:
    return len(a) == len(b) and all(len(x) == len(y) for x, y in zip(a, b))


def satisfies(candidate: Mixing, target: Mixing) -> bool:
    """The candidate mixes at least as much as the target, entry by entry,
    for every pair of the target."""
    return distance(candidate, target) == 0


def distance(candidate: Mixing, target: Mixing) -> float:
    """Mean over the target's pairs of the share of its nonzero entries that
    the candidate falls short of (entries where target > candidate, over
    max(1, nonzero target entries)); a pair missing from the candidate or of
    another shape counts 1. Zero iff ``satisfies``."""
    if not len(target):
        return 0.0
    terms = []
    for pair, t in target.items():
        if pair not in candidate or not _same_shape(candidate[pair], t):
            terms.append(1.0)
            continue
        c = candidate[pair]
        short = sum(tv > cv for tr, cr in zip(t, c) for tv, cv in zip(tr, cr))
        nonzero = sum(bool(tv) for tr in t for tv in tr)
        terms.append(short / max(1, nonzero))
    return sum(terms) / len(terms)


def mutate(target: Mixing, rng: random.Random, p: float = 0.2, drop: float = 0.0, lift: float = 0.0) -> Mixing:
    """A new target: each nonzero entry is lowered to NONE with probability
    ``p``, and each pair is dropped with probability ``drop`` (relaxations:
    whatever satisfies the target satisfies the result); each nonzero entry
    between per-sample axes below ALL is raised one level with probability
    ``lift`` (asking for more mixing than the target had: one-to-one becomes
    a window, a window becomes all-to-one). Entries of the batch axis are
    never raised: no op the synthesizer makes mixes samples."""
    result = {}
    for pair, m in target.items():
        if rng.random() < drop:
            continue
        result[pair] = tuple(
            tuple(_mutated_entry(v, i > 0 and j > 0, rng, p, lift) for j, v in enumerate(row))
            for i, row in enumerate(m)
        )
    return Mixing.of(result, target.labels)


def _mutated_entry(v: Level, per_sample: bool, rng: random.Random, p: float, lift: float) -> Level:
    if v and rng.random() < p:
        return Level.NONE
    if v and per_sample and v < Level.ALL and lift and rng.random() < lift:
        return Level(v + 1)
    return v


def render(m: Mixing) -> str:
    """A text table per pair (by position, named by the labels): input axes
    down, output axes across."""
    blocks = []
    for pair, matrix in m.items():
        rows, cols = m.axes(pair)
        width = max(len(s) for s in (*rows, *cols, "many"))
        lines = ["{} -> {}".format(*m.label(pair)), " " * width + "".join(f"  {c:>{width}}" for c in cols)]
        for name, row in zip(rows, matrix):
            lines.append(f"{name:<{width}}" + "".join(f"  {v!s:>{width}}" for v in row))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
