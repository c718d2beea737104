"""Shape inference and costs: a program's static analysis, without torch.

:func:`analyze` walks the model's graph in statement order, asking the op
library for each node's output shape and cost. A call of a block is analysed
as an *instance*: the block's graph with its int parameters bound and its
input shapes known. Instances with the same block, bindings and input shapes
are analysed once and shared (ResNet-50 has 16 bottleneck calls but 4
distinct instances).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alphanas import ops
from alphanas.lang import limits
from alphanas.lang.errors import ShapeError
from alphanas.lang.ir import Graph, Node, Program, evaluate
from alphanas.ops import CONCRETE, Attrs, Cost, OpError

if TYPE_CHECKING:
    import networkx as nx

Shape = tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Instance:
    """One graph with everything bound: shapes and costs of every value.

    For the model, ``bindings`` is empty; for a block, it maps the block's
    int parameters to the values of one call.
    """

    graph: Graph
    bindings: Mapping[str, int]
    shapes: Mapping[str, Shape]
    attrs: Mapping[str, Attrs]
    costs: Mapping[str, Cost]
    calls: Mapping[str, Instance]
    total: Cost
    _dag: list = field(default_factory=list, repr=False)

    @property
    def output_shape(self) -> Shape:
        return self.shapes[self.graph.output]

    def node_shapes(self, n: Node) -> tuple[list[Shape], Shape]:
        return [self.shapes[i] for i in n.inputs], self.shapes[n.id]

    def dag(self) -> nx.MultiDiGraph:
        """The graph as a networkx DAG: nodes are values (inputs and op
        applications) with their op and arguments; each edge carries the
        shape that flows along it and the input port it enters."""
        if not self._dag:
            import networkx as nx  # only here: it costs ~0.2 s at import time

            g = nx.MultiDiGraph(name=self.graph.name)
            for i in self.graph.inputs:
                g.add_node(i.id, op="input", attrs={}, shape=self.shapes[i.id])
            for n in self.graph.nodes:
                g.add_node(n.id, op=n.op, attrs=dict(self.attrs[n.id]), shape=self.shapes[n.id])
                for port, src in enumerate(n.inputs):
                    g.add_edge(src, n.id, key=port, port=port, shape=self.shapes[src])
            self._dag.append(g)
        return self._dag[0]

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Instance, Node]]:
        """Every op application of the program, depth first, with its path
        (``layer1.b0.conv``-style ids joined by dots)."""
        for n in self.graph.nodes:
            path = f"{prefix}{n.id}"
            if n.id in self.calls:
                yield from self.calls[n.id].walk(path + ".")
            else:
                yield path, self, n


@dataclass
class _Analyzer:
    program: Program
    memo: dict[tuple, Instance] = field(default_factory=dict)

    def error(self, message: str, node: Node | None, graph: Graph, hint: str | None = None) -> ShapeError:
        loc = node.loc if node is not None else graph.loc
        return ShapeError(message, loc, hint=hint, text=self.program.text)

    def instance(self, graph: Graph, bindings: Mapping[str, int], in_shapes: tuple[Shape, ...]) -> Instance:
        key = (graph.name, tuple(sorted(bindings.items())), in_shapes)
        if key in self.memo:
            return self.memo[key]
        shapes: dict[str, Shape] = {i.id: s for i, s in zip(graph.inputs, in_shapes)}
        attrs: dict[str, Attrs] = {}
        costs: dict[str, Cost] = {}
        calls: dict[str, Instance] = {}
        total = Cost()
        ceiling = limits.current()
        for n in graph.nodes:
            ins = tuple(shapes[i] for i in n.inputs)
            try:
                values = {k: evaluate(v, bindings) for k, v in n.attrs}
            except ZeroDivisionError:
                bound = ", ".join(f"{k}={v}" for k, v in bindings.items())
                raise self.error(f"in `{_describe(n)}`: an argument divides by zero ({bound})", n, graph) from None
            attrs[n.id] = Attrs(values)
            op = ops.lookup(n.op)
            if op is None:
                sub = self.call(graph, n, values, ins)
                calls[n.id] = sub
                shapes[n.id] = sub.output_shape
                costs[n.id] = sub.total
            else:
                try:
                    out = tuple(op.shape(CONCRETE, ins, attrs[n.id]))
                except OpError as err:
                    raise self.error(
                        f"in `{_describe(n)}`: {err}", n, graph,
                        # an op without tensor inputs (`param`) has no shapes to show
                        hint=f"input shape{'s' if len(ins) > 1 else ''}: {', '.join(_show(s) for s in ins)}"
                        if ins else None,
                    ) from None
                shapes[n.id] = out
                costs[n.id] = op.cost(ins, attrs[n.id], out)
            total = total + costs[n.id]
            if total.params > ceiling.params or total.activations > ceiling.activations or total.flops > ceiling.flops:
                raise self.beyond(ceiling, total, n, graph, shapes[n.id])
        inst = Instance(graph, dict(bindings), shapes, attrs, costs, calls, total)
        self.memo[key] = inst
        return inst

    def beyond(self, ceiling: limits.Limits, total: Cost, n: Node, graph: Graph, shape: Shape) -> ShapeError:
        """The error of a program whose total passes a ceiling at statement ``n``."""
        if total.params > ceiling.params:
            what = f"{_count(total.params)} parameters, more than any machine holds"
            limit = f"{_count(ceiling.params)} parameters, --limit-params"
        elif total.activations > ceiling.activations:
            what = (f"{_count(total.activations * limits.BYTES_PER_VALUE)}B of activations per sample, "
                    "more than any machine holds")
            limit = f"{_count(ceiling.memory_bytes)}B, --limit-memory"
        else:
            what = f"{_count(total.flops)} FLOPs per sample, more than any machine computes"
            limit = f"{_count(ceiling.flops)} FLOPs, --limit-flops"
        return self.error(
            f"in `{_describe(n)}`: the {graph.kind} reaches {what} (the ceiling is {limit})", n, graph,
            hint=f"check the sizes of this statement (a number with extra digits?); its output shape is "
            f"{_show(shape)}",
        )

    def call(self, graph: Graph, n: Node, values: dict[str, Any], ins: tuple[Shape, ...]) -> Instance:
        block = self.program.block(n.op)
        for k, v in values.items():
            if not isinstance(v, int) or v < 1:
                raise self.error(f"in `{_describe(n)}`: block parameter {k}={v} must be a positive integer", n, graph)
        try:
            return self.instance(block, values, ins)
        except ShapeError as err:
            # say which call led into the block, as a compiler's "in instantiation of"
            where = f"{n.loc}" if n.loc else graph.name
            err.hint = ((err.hint + "\n") if err.hint else "") + (
                f"note: in the call `{_describe(n)}` at {where} (input shapes {', '.join(_show(s) for s in ins)})"
            )
            raise


def analyze(program: Program) -> Instance:
    """Shapes and costs of every value of the program; the model's instance.

    Raises :class:`~alphanas.lang.errors.ShapeError` naming the statement, the op
    and the shapes when an op does not accept its inputs.
    """
    # A Program is frozen, so its analysis never changes: it is kept on the
    # object, and every stage that asks again gets it for free. A program
    # that does not check is analysed again (and raises again) when asked.
    cached = program.__dict__.get("_analysis")
    if cached is not None:
        return cached
    model = program.model
    in_shapes = tuple(i.shape for i in model.inputs)
    assert all(s is not None for s in in_shapes), "model inputs always carry shapes"
    bindings = {p.name: p.default for p in model.params}
    inst = _Analyzer(program).instance(model, bindings, in_shapes)  # type: ignore[arg-type]
    object.__setattr__(program, "_analysis", inst)
    return inst


def _describe(n: Node) -> str:
    target = n.name or n.id
    return f"{target} = {n.op}(...)"


def _show(s: Shape) -> str:
    return "[" + ", ".join(map(str, s)) + "]"


def _count(n: float) -> str:
    """A large count in words: 9.00T, 2.5e+29."""
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}" if abs(n) < 1000 * scale else f"{float(n):.3g}"
    return str(int(n))
