"""Resource properties of a region: parameters, FLOPs, peak activation memory.

Concrete resources come from an analysed instance of the region's graph
(:func:`region_resources`). Symbolic resources (:func:`symbolic_resources`)
are Z3 expressions over the region's integer sizes, so that a synthesizer can
put budgets into its constraints instead of filtering afterwards.

**Variables.** Every ``size=True`` parameter of every op node in the region
(conv2d's ``out``, ``k``, ``s``, ``p``, ``d``, ``groups``; dense's ``out``;
pooling windows, ...) whose value is an int becomes a Z3 ``Int`` named
``<node id>.<param>`` (``y_conv2d.out``); a block call in the region gets one
variable per int parameter of the block, named the same way
(``h_2.c``), and the block body is followed symbolically under those
bindings. Every other argument keeps its value, and the region's input
shapes are those of the instance. Shapes are propagated through the op
library's own shape rules; the conditions those rules state on sizes
(divisibility by ``groups``, windows that fit, positivity) are collected
rather than checked: they are the shape constraints of the region.

**Peak memory** counts elements per sample, in statement order: at the
execution of each region node, the live values are the region inputs not yet
read for the last time, the node's own output, and every earlier region value
that a later (or this) region node still reads or that is a region output.
The peak is the maximum of their summed sizes. A block call counts as one
step: its output is live, its internal activations are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alphanas import ops
from alphanas.lang.analysis import Instance
from alphanas.lang.ir import Graph, Program, evaluate
from alphanas.lang.regions import Region
from alphanas.ops import arith
from alphanas.ops.spec import Attrs, Check, Cost, Message, OpError

__all__ = [
    "Resources",
    "SymbolicCheck",
    "SymbolicResources",
    "SymbolicWalker",
    "peak_memory",
    "region_resources",
    "symbolic_resources",
]


@dataclass(frozen=True)
class Resources(Cost):
    """Per-sample resources of a region (ints, or Z3 expressions): the summed
    :class:`~alphanas.ops.Cost` of its ops, and its peak live activation
    memory in elements (see the module docstring)."""

    peak_memory: Any = 0


def _graph(program: Program, name: str) -> Graph:
    return program.model if name == program.model.name else program.block(name)


def peak_memory(graph: Graph, region: Region, sizes: Mapping[str, Any]) -> Any:
    """The peak of live elements over the region's execution, given the size
    (element count) of every region input and node."""
    nodes = {n.id: n for n in graph.nodes}
    last: dict[str, int] = {}
    for k, v in enumerate(region.order):
        for i in nodes[v].inputs:
            last[i] = k
    outputs = set(region.outputs)
    peak: Any = None
    for k, v in enumerate(region.order):
        live: Any = 0
        for i in region.inputs:
            if last[i] >= k:
                live = live + sizes[i]
        for u in region.order[: k + 1]:
            if u == v or u in outputs or last.get(u, -1) >= k:
                live = live + sizes[u]
        peak = live if peak is None else arith.maximum(peak, live)
    return peak


def region_resources(program: Program, graph_name: str, region: Region, instance: Instance) -> Resources:
    """The concrete resources of a region in one analysed instance of its graph."""
    graph = _graph(program, graph_name)
    total = Cost()
    for v in region.order:
        total = total + instance.costs[v]
    sizes = {v: arith.prod(instance.shapes[v]) for v in (*region.inputs, *region.order)}
    return Resources(total.params, total.matmul_flops, total.other_flops, total.activations,
                     peak_memory(graph, region, sizes))


class SymbolicCheck(Check):
    """A check that collects the symbolic conditions of shape rules (Z3
    booleans, with their messages) instead of deciding them."""

    def __init__(self) -> None:
        self.conditions: list[Any] = []
        #: each condition's message, written when it is read (see ``ops.spec.Message``)
        self.messages: list[Message] = []

    def require_symbolic(self, condition: Any, message: Message) -> None:
        self.conditions.append(condition)
        self.messages.append(message)


@dataclass(frozen=True)
class SymbolicResources:
    """Resources as Z3 expressions over the region's sizes."""

    resources: Resources
    #: variable name (``<node id>.<param>``) -> Z3 Int
    variables: Mapping[str, Any]
    #: variable name -> its value in the program (a solution of ``conditions``)
    values: Mapping[str, int]
    #: Z3 conditions the sizes must satisfy for the shapes to be valid
    conditions: tuple[Any, ...]
    #: what each condition says, in the op library's words
    messages: tuple[str, ...]
    #: the symbolic shape of every region input and node
    shapes: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def substitution(self) -> list[tuple[Any, Any]]:
        """Pairs for ``z3.substitute`` that put the program's values back."""
        import z3

        return [(self.variables[k], z3.IntVal(v)) for k, v in self.values.items()]


def _z3(x: Any) -> Any:
    import z3

    if isinstance(x, bool):
        return z3.BoolVal(x)
    if isinstance(x, int):
        return z3.IntVal(x)
    return x


class SymbolicWalker:
    def __init__(self, program: Program) -> None:
        import z3

        self.z3 = z3
        self.program = program
        self.check = SymbolicCheck()
        self.variables: dict[str, Any] = {}
        self.values: dict[str, int] = {}

    def var(self, name: str, value: int) -> Any:
        v = self.z3.Int(name)
        self.variables[name] = v
        self.values[name] = value
        return v

    def op_node(self, op: Any, node_id: str, ins: Sequence[tuple], values: dict[str, Any], free: bool) -> tuple[tuple, Cost]:
        if free:
            sizes = {p.name for p in op.params if p.size}
            values = {
                k: self.var(f"{node_id}.{k}", v) if k in sizes and isinstance(v, int) and not isinstance(v, bool) else v
                for k, v in values.items()
            }
        a = Attrs(values)
        try:
            out = tuple(op.shape(self.check, ins, a))
        except OpError as err:
            raise OpError(f"in {node_id} = {op.name}(...): {err}") from None
        # simplified sizes keep later expressions (and the op library's messages,
        # which print them) small
        out = tuple(self.simplify(x) for x in out)
        cost = op.cost(ins, a, out)
        return out, Cost(*(self.simplify(x) for x in (cost.params, cost.matmul_flops, cost.other_flops, cost.activations)))

    def simplify(self, x: Any) -> Any:
        if isinstance(x, self.z3.ExprRef):
            x = self.z3.simplify(x)
            return x.as_long() if self.z3.is_int_value(x) else x
        return x

    def call(
        self, block: Graph, ins: Sequence[tuple], bindings: Mapping[str, Any], record: dict[str, tuple] | None = None
    ) -> tuple[tuple, Cost]:
        """Follow a block body under (symbolic) bindings of its int
        parameters; ``record``, if given, receives every value's shape."""
        shapes: dict[str, tuple] = {i.id: s for i, s in zip(block.inputs, ins)}
        total = Cost()
        for n in block.nodes:
            values = {k: evaluate(v, bindings) for k, v in n.attrs}
            sub_ins = [shapes[i] for i in n.inputs]
            op = ops.lookup(n.op)
            if op is None:
                out, cost = self.call(self.program.block(n.op), sub_ins, values)
            else:
                out, cost = self.op_node(op, n.id, sub_ins, values, free=False)
            shapes[n.id] = out
            total = total + cost
        if record is not None:
            record.update(shapes)
        return shapes[block.output], total


def symbolic_resources(program: Program, graph_name: str, region: Region, instance: Instance) -> SymbolicResources:
    """The region's resources as Z3 expressions over its sizes (see the
    module docstring for the variables), with the shape conditions."""
    graph = _graph(program, graph_name)
    nodes = {n.id: n for n in graph.nodes}
    sym = SymbolicWalker(program)
    shapes: dict[str, tuple] = {v: tuple(instance.shapes[v]) for v in region.inputs}
    total = Cost()
    for v in region.order:
        n = nodes[v]
        values = {k: evaluate(e, instance.bindings) for k, e in n.attrs}
        ins = [shapes[i] for i in n.inputs]
        op = ops.lookup(n.op)
        if op is None:
            block = program.block(n.op)
            bindings = {k: sym.var(f"{v}.{k}", x) for k, x in values.items()}
            for k, x in bindings.items():
                sym.check.require_symbolic(x >= 1, f"{v}: block parameter {k} must be a positive integer")
            out, cost = sym.call(block, ins, bindings)
        else:
            out, cost = sym.op_node(op, v, ins, values, free=True)
        shapes[v] = out
        total = total + cost
    sizes = {v: arith.prod(s) for v, s in shapes.items()}
    res = Resources(
        _z3(total.params), _z3(total.matmul_flops), _z3(total.other_flops), _z3(total.activations),
        _z3(peak_memory(graph, region, sizes)),
    )
    return SymbolicResources(
        res, dict(sym.variables), dict(sym.values), tuple(sym.check.conditions), tuple(sym.check.messages), shapes
    )
