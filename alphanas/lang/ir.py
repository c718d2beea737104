"""The intermediate representation: programs as graphs of op applications.

A :class:`Program` is a model and the blocks it uses. Each body is a
:class:`Graph`: typed inputs, op applications (:class:`Node`) in statement
order, one output. Nodes name their inputs by value id, so a graph is a DAG;
:func:`alphanas.lang.analysis.analyze` attaches shapes and costs and builds the
networkx view with shapes on the edges. Every class here is frozen: stages
pass values, never mutate them.

Inside a block, an integer argument may be an expression over the block's
integer parameters (``c * 4``); :class:`Sym` and :class:`Arith` are that
expression language. A call of a block is a node whose ``op`` is the block's
name; every such call is an *instance* sharing the one definition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from alphanas.ops.spec import REQUIRED, Param


@dataclass(frozen=True)
class Loc:
    """Where something was written: 1-based line and column."""

    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Sym:
    """A block's integer parameter, used inside the block."""

    name: str


@dataclass(frozen=True)
class Arith:
    """Integer arithmetic over block parameters: ``+ - * //``."""

    op: Literal["+", "-", "*", "//"]
    left: Expr
    right: Expr


#: An argument value: a literal (int, float, bool, str, tuple of ints) or an
#: integer expression over block parameters.
Expr = int | float | bool | str | tuple | Sym | Arith


def evaluate(expr: Expr, bindings: Mapping[str, Any]) -> Any:
    """The value of an argument once the block's parameters are bound."""
    if isinstance(expr, Sym):
        return bindings[expr.name]
    if isinstance(expr, Arith):
        left, right = evaluate(expr.left, bindings), evaluate(expr.right, bindings)
        if expr.op == "+":
            return left + right
        if expr.op == "-":
            return left - right
        if expr.op == "*":
            return left * right
        if isinstance(left, int) and isinstance(right, int):
            return left // right
        return left / right  # symbolic (Z3) integer division
    if isinstance(expr, tuple):
        return tuple(evaluate(e, bindings) for e in expr)
    return expr


def symbols(expr: Expr) -> Iterator[str]:
    """The block parameters an argument refers to."""
    if isinstance(expr, Sym):
        yield expr.name
    elif isinstance(expr, Arith):
        yield from symbols(expr.left)
        yield from symbols(expr.right)
    elif isinstance(expr, tuple):
        for e in expr:
            yield from symbols(e)


@dataclass(frozen=True)
class Node:
    """One op application: ``id = op(inputs..., attrs...)``.

    ``attrs`` holds every parameter of the op (defaults filled in) in the op's
    signature order, so two nodes are equal when they compute the same thing
    however they were written. ``name`` is the name the user gave the value
    (None for a call nested inside another); ``id`` is unique in the graph.
    ``written`` names the parameters the text spelled out: the printer keeps
    those even at their default value (``k=1``), so that a program written
    by a space grammar prints as the grammar wrote it; it takes no part in
    equality.
    """

    id: str
    op: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, Expr], ...] = ()
    name: str | None = None
    loc: Loc | None = field(default=None, compare=False, repr=False)
    written: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def attr(self, key: str) -> Expr:
        for k, v in self.attrs:
            if k == key:
                return v
        raise KeyError(key)

    @property
    def attr_dict(self) -> dict[str, Expr]:
        return dict(self.attrs)


@dataclass(frozen=True)
class Input:
    """A tensor input of a graph; models annotate its per-sample shape."""

    id: str
    shape: tuple[int, ...] | None = None
    loc: Loc | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class IntParam:
    """An integer parameter of a block (``c: int`` or ``s: int = 1``)."""

    name: str
    default: int | None = None
    loc: Loc | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Graph:
    """The body of a block or of the model.

    Invariants: ``nodes`` are in a topological (statement) order; node ids are
    unique and differ from every input id and from every node's ``name``
    (the printer relies on this to resolve rebound names).
    """

    kind: Literal["block", "model"]
    name: str
    inputs: tuple[Input, ...]
    params: tuple[IntParam, ...]
    nodes: tuple[Node, ...]
    output: str
    loc: Loc | None = field(default=None, compare=False, repr=False)

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def call_params(self) -> tuple[Param, ...]:
        """The int parameters of a block as a call sees them: those without a
        default are passed positionally, those with one by keyword."""
        return tuple(
            Param(p.name, "int", REQUIRED if p.default is None else p.default, positional=p.default is None)
            for p in self.params
        )

    @property
    def input_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.inputs)

    def users(self) -> dict[str, list[str]]:
        """For each value, the nodes that read it (once per reading)."""
        result: dict[str, list[str]] = {v: [] for v in self.input_ids}
        for n in self.nodes:
            result.setdefault(n.id, [])
            for i in n.inputs:
                result.setdefault(i, []).append(n.id)
        return result


@dataclass(frozen=True)
class Program:
    """A model and the blocks it (transitively) uses, in definition order."""

    model: Graph
    blocks: tuple[Graph, ...] = ()
    source: str = field(default="<program>", compare=False)
    #: the text it was parsed from, for error excerpts
    text: str = field(default="", compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # what stages memoised on the program (its analysis, its hash) is
        # recomputed where it is unpickled, not sent along
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def block(self, name: str) -> Graph:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def block_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.blocks)

    def graphs(self) -> tuple[Graph, ...]:
        return (*self.blocks, self.model)

    def with_model_params(self, **values: int) -> Program:
        """The same program with new values for the model's int parameters
        (``classes=10``), which the text then shows as their defaults."""
        names = {p.name for p in self.model.params}
        unknown = sorted(set(values) - names)
        if unknown:
            raise KeyError(f"model {self.model.name} has no parameter {', '.join(unknown)}; it has {sorted(names)}")
        params = tuple(replace(p, default=values.get(p.name, p.default)) for p in self.model.params)
        return replace(self, model=replace(self.model, params=params))

    def with_input_shapes(self, *shapes: tuple[int, ...]) -> Program:
        """The same program with new per-sample input shapes."""
        if len(shapes) != len(self.model.inputs):
            raise ValueError(f"model {self.model.name} has {len(self.model.inputs)} inputs, got {len(shapes)} shapes")
        inputs = tuple(replace(i, shape=tuple(s)) for i, s in zip(self.model.inputs, shapes))
        return replace(self, model=replace(self.model, inputs=inputs))

    def instances(self, block: str) -> list[tuple[str, str]]:
        """Every call of a block, as (graph name, node id)."""
        return [(g.name, n.id) for g in self.graphs() for n in g.nodes if n.op == block]
