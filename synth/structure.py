"""Structures: what a region is made of, before its sizes are chosen.

A :class:`Structure` is a small DAG of op *variants* (see
:class:`alphanas.ops.spec.Variant`): one chain per branch, each branch
reading one region input, an optional merge op joining the branches, and a
tail chain after it. That covers a chain (one branch, no merge: every op in
the tail), a residual unit (two branches from the same input, one possibly
empty, merged by ``add``) and the many-input regions of a graph (a branch
per input). :func:`template` turns a structure into a block of the language
whose integer sizes are block parameters (``s0, s1, ...``): the *holes*
that :mod:`synth.sizes` fills with Z3.

The enumerator also needs to know what a structure does before solving for
its sizes. :class:`Abstract` follows a structure's depth and mixing at
*representative* sizes (a 3×3 kernel, stride 1, 16 channels): depth does not
depend on sizes at all; mixing depends on them only through whether windows
cover whole axes, so the representative result guides the search, and the
solved region is re-verified exactly (:mod:`synth.verify`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alphanas import ops
from alphanas.lang.ir import Graph, Input, IntParam, Node, Sym
from alphanas.ops.spec import CONCRETE, Attrs, OpError, Variant
from alphanas.properties import Matrix
from alphanas.properties.depth import KIND, States, put_state, step_states
from alphanas.properties.mixing import compose, identity, join, op_mixing

__all__ = ["Abstract", "Slot", "Structure", "Template", "apply_shape", "merged", "representative", "resize_capacity", "template"]

#: the size synthesis assumes for each kind of slot while enumerating
_REPRESENTATIVE = {
    "channels": 16, "kernel": 3, "stride": 1, "padding": 1, "dilation": 1,
    "groups": 1, "heads": 1, "window": 3, "size": 1,
}
#: the longest axis the enumerator's representative shapes keep
REPRESENTATIVE_AXIS = 8
#: second assignments, to find which axes a variant can resize: the kinds'
#: alternatives with explicit value lists at their last value, and at their first
_ALTERNATIVE = {**_REPRESENTATIVE, "channels": 24, "stride": 2, "size": 2}
_ALTERNATIVE_KINDS = dict(_ALTERNATIVE)


@dataclass(frozen=True)
class Structure:
    """Branches (chains of variants, branch ``i`` reading input
    ``sources[i]``), an optional merge of the branches, then a tail chain."""

    branches: tuple[tuple[Variant, ...], ...]
    sources: tuple[int, ...]
    merge: Variant | None
    tail: tuple[Variant, ...]

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.branches) + (self.merge is not None) + len(self.tail)

    def describe(self) -> str:
        def chain(vs: Sequence[Variant]) -> str:
            return " -> ".join(v.label for v in vs) or "identity"

        if self.merge is None:
            return chain(self.tail)
        branches = " | ".join(f"x{s}: {chain(b)}" for s, b in zip(self.sources, self.branches))
        tail = f" -> {chain(self.tail)}" if self.tail else ""
        return f"{self.merge.label}({branches}){tail}"


def _value(v: Variant, name: str, kind: Any, shape: Sequence[int], table: Mapping[str, int]) -> int:
    if isinstance(kind, tuple):
        return kind[-1] if table is _ALTERNATIVE else kind[0]
    return table[kind]


def representative(v: Variant, shape: Sequence[int], table: Mapping[str, int] = _REPRESENTATIVE) -> dict[str, Any]:
    """The variant's attributes at representative sizes for an input of ``shape``."""
    values = dict(v.fixed)
    for name, kind in v.slots.items():
        values[name] = _value(v, name, kind, shape, table)
    for name, axis in v.ties.items():
        values[name] = shape[axis]
    for name, other in v.same.items():
        values[name] = values[other]
    return values


def apply_shape(v: Variant, ins: Sequence[Sequence[int]], table: Mapping[str, int] = _REPRESENTATIVE) -> tuple[int, ...] | None:
    """The variant's output shape at representative sizes, or None when the
    op does not accept these inputs."""
    op = ops.lookup(v.op)
    assert op is not None, v.op
    try:
        return tuple(op.shape(CONCRETE, [tuple(s) for s in ins], Attrs(representative(v, ins[0], table))))
    except (OpError, ZeroDivisionError, IndexError):
        return None


def rearranges(v: Variant, shape: Sequence[int]) -> bool:
    """The variant moves or merges axes (transpose, flatten, a reduction)
    without sizes of its own: axis-by-axis resize reasoning does not hold
    across it."""
    probe = tuple(5 + i for i in range(len(shape)))  # distinct sizes, so that moved axes show
    out = apply_shape(v, [probe])
    return not v.slots and not v.ties and out is not None and out != probe


#: the longest axis used to probe how a variant resizes axes (large enough
#: for a 32-wide patch)
PROBE_AXIS = 64


def _outputs(v: Variant, shape: Sequence[int]) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """The probe input and the variant's outputs on it at the two
    assignments of its slots (those that apply)."""
    small = tuple(min(n, PROBE_AXIS) for n in shape)
    tables = (_REPRESENTATIVE, _ALTERNATIVE, _ALTERNATIVE_KINDS)
    outs = [o for o in (apply_shape(v, [small], t) for t in tables) if o is not None]
    return small, [o for o in outs if len(o) == len(small)]


def _sets_size(v: Variant, small: Sequence[int], axis: int) -> bool:
    """The variant's output along ``axis`` does not follow its input's size
    (an adaptive pool sets it): it can produce any size its slot allows."""
    halved = tuple(max(1, n // 2) if i == axis else n for i, n in enumerate(small))
    a, b = apply_shape(v, [small]), apply_shape(v, [halved])
    return a is not None and b is not None and len(a) == len(b) and a[axis] == b[axis] and small[axis] > 1


def resize_capacity(v: Variant, shape: Sequence[int]) -> dict[int, float]:
    """How much the variant can shrink each output axis whose size depends
    on its slots: the factor of its strongest shrink (2 for a stride-2
    window, 32 for a 32-wide patch), or infinity when the slots can also
    grow the axis or set it freely (channels, an adaptive pool's size).
    Found by comparing its outputs at two assignments of the slots."""
    small, outs = _outputs(v, shape)
    if not outs:
        return {i: math.inf for i in range(len(small))}  # unknown: never the reason to prune
    capacity: dict[int, float] = {}
    for i, n in enumerate(small):
        sizes = {o[i] for o in outs}
        if sizes == {n}:
            continue
        if max(sizes) > n or (len(sizes) > 1 and _sets_size(v, small, i)):
            capacity[i] = math.inf
        elif min(sizes) < n:
            capacity[i] = n / min(sizes)
    return capacity


def forced_shrink(v: Variant, shape: Sequence[int]) -> dict[int, float]:
    """Axes the variant shrinks whatever its slots (a patch embedding's
    height and width), with the least factor it shrinks them by."""
    small, outs = _outputs(v, shape)
    return {
        i: min(n / o[i] for o in outs)
        for i, n in enumerate(small)
        if outs and all(o[i] < n for o in outs) and not _sets_size(v, small, i)
    }


@dataclass(frozen=True)
class Abstract:
    """A partial structure's value at representative sizes: its shape, and
    per region input the depth states and mixing matrix of the paths from
    that input."""

    shape: tuple[int, ...]
    depth: Mapping[int, States]
    mixing: Mapping[int, Matrix]

    @staticmethod
    def of_input(index: int, shape: Sequence[int]) -> Abstract:
        """The start of the paths from input ``index``. Axes longer than
        :data:`REPRESENTATIVE_AXIS` are shortened to it: mixing levels only
        tell a window from a whole axis, and small shapes keep the per-op
        mixing rules fast."""
        from alphanas.properties.depth import NONE

        small = tuple(min(n, REPRESENTATIVE_AXIS) for n in shape)
        return Abstract(small, {index: {(NONE, NONE): 0}}, {index: identity(len(shape))})

    def then(self, v: Variant) -> Abstract | None:
        """After one more op, or None if it does not apply."""
        out = apply_shape(v, [self.shape])
        if out is None:
            return None
        (m,) = op_mixing(v.op, Attrs(representative(v, self.shape)), [self.shape], out)
        kind = KIND[ops.lookup(v.op).depth_kind]  # type: ignore[union-attr]
        return Abstract(
            out,
            {i: step_states(s, kind) for i, s in self.depth.items()},
            {i: compose(p, m) for i, p in self.mixing.items()},
        )

    @functools.cached_property
    def key(self) -> tuple:
        """The state as a hashable value (the enumerator memoises on it)."""
        return (
            self.shape,
            tuple((i, tuple(sorted(s.items()))) for i, s in sorted(self.depth.items())),
            tuple(sorted(self.mixing.items())),
        )

    def depth_of(self, index: int) -> int:
        return max(self.depth.get(index, {}).values(), default=0)


def merged(parts: Sequence[Abstract], v: Variant) -> Abstract | None:
    """The branches joined by a merge op. The representative shapes of the
    branches may differ in sizes the solver will equalise; the merge is
    followed on copies of the first branch's shape."""
    shape = parts[0].shape
    if any(len(p.shape) != len(shape) for p in parts):
        return None
    ins = [p.shape for p in parts]
    out = apply_shape(v, ins)
    if out is None:
        ins = [shape] * len(parts)
        out = apply_shape(v, ins)
    if out is None:
        return None
    matrices = op_mixing(v.op, Attrs(representative(v, shape)), ins, out)
    kind = KIND[ops.lookup(v.op).depth_kind]  # type: ignore[union-attr]
    depth: dict[int, States] = {}
    mixing: dict[int, Matrix] = {}
    for part, m in zip(parts, matrices):
        for i, states in part.depth.items():
            have = depth.setdefault(i, {})
            for key, count in states.items():
                put_state(have, key, count)
        for i, p in part.mixing.items():
            q = compose(p, m)
            mixing[i] = join(mixing[i], q) if i in mixing else q
    return Abstract(out, {i: step_states(s, kind) for i, s in depth.items()}, mixing)


# -- templates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One hole of a template: the block parameter ``name`` stands for
    ``param`` of node ``node``. ``kind`` is a domain kind or an explicit
    tuple of values; ``tie`` (an input axis) instead makes it equal to the
    size of the node's input along that axis."""

    name: str
    node: str
    param: str
    kind: str | tuple[int, ...] | None
    tie: int | None = None


@dataclass(frozen=True)
class Template:
    """A structure as a block with holes: ``graph`` is a block whose int
    parameters are the slots."""

    graph: Graph
    slots: tuple[Slot, ...]
    structure: Structure | None = None


def template(structure: Structure, n_inputs: int) -> Template:
    """The block ``region(x0, ..., s0: int, ...)`` of a structure."""
    nodes: list[Node] = []
    slots: list[Slot] = []

    def emit(v: Variant, inputs: tuple[str, ...]) -> str:
        node_id = f"v{len(nodes) + 1}"
        op = ops.lookup(v.op)
        assert op is not None, v.op
        attrs: list[tuple[str, Any]] = []
        for p in op.params:
            if p.name in v.same:  # the same hole as the parameter it equals
                attrs.append((p.name, dict(attrs)[v.same[p.name]]))
            elif p.name in v.slots or p.name in v.ties:
                name = f"s{len(slots)}"
                tie = v.ties.get(p.name)
                slots.append(Slot(name, node_id, p.name, v.slots.get(p.name), tie))
                attrs.append((p.name, Sym(name)))
            else:
                attrs.append((p.name, v.fixed.get(p.name, p.default)))
        nodes.append(Node(node_id, v.op, inputs, tuple(attrs)))
        return node_id

    ends = []
    for source, chain in zip(structure.sources, structure.branches):
        value = f"x{source}"
        for v in chain:
            value = emit(v, (value,))
        ends.append(value)
    value = emit(structure.merge, tuple(ends)) if structure.merge is not None else ends[0]
    for v in structure.tail:
        value = emit(v, (value,))
    inputs = tuple(Input(f"x{i}") for i in range(n_inputs))
    params = tuple(IntParam(s.name) for s in slots)
    graph = Graph("block", "region", inputs, params, tuple(nodes), value)
    return Template(graph, tuple(slots), structure)
