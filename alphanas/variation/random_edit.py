"""Random edits without properties: αNAS's baseline variation.

αNAS (Jin et al. 2022) compares property-guided mutation against random
edits of the program that know nothing about properties. :class:`RandomEdit`
is that baseline as a :class:`~alphanas.variation.base.Variation`: it picks one
graph that the model reaches (the model body or a block) and makes one edit:

- **insert** an op of the library on one edge (or before the graph's
  output), keeping the value's shape. Which ops fit is decided by asking each
  op's own shape rule, never by its name: an op is applicable when, with
  arguments drawn from a small generic domain, its output shape equals its
  input shape in every instance of the graph;
- **delete** an op one of whose inputs has the op's output shape in every
  instance; its readers are rewired to that input, and statements left dead
  are dropped;
- **change** one integer size argument of an op (``Param.size`` in the op
  library): halve or double it, or, for a small odd value (a window), move it
  among 1, 3 and 5. When that changes the op's output shape, another size
  argument of the same op is searched for a value that restores it (a
  kernel of 5 gets a padding of 2); if none does, the new shape flows on and
  the analysis decides.

Then the child is re-verified as any child must be: it re-parses from its
printed text, shape-checks, keeps the model's output shape, stays within the
budgets, and differs from its parent up to the canonical hash. A failed
attempt is drawn again, up to ``max_attempts`` times; then
:class:`~alphanas.variation.base.VariationFailed` says why the attempts failed.
Every random choice comes from the ``rng`` argument.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from alphanas import ops
from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.canonical import program_hash
from alphanas.lang.checked import Checked, check
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Arith, Expr, Graph, Node, Program, Sym, evaluate
from alphanas.lang.printer import format_value
from alphanas.lang.regions import block_instances
from alphanas.ops import CONCRETE, Attrs, OpError
from alphanas.ops.spec import Op, Param
from alphanas.variation.base import NO_CONTEXT, VARIATIONS, Child, VariationContext, VariationFailed

__all__ = ["EDITS", "RandomEdit"]

#: The kinds of edit, in the order a record names them.
EDITS = ("insert", "delete", "change")

#: Generic values tried for an inserted op's required float arguments.
_FLOATS = (0.1, 0.5)
#: Small integers tried for an inserted op's int arguments (besides the
#: value's own dimensions and the graph's int parameters).
_SMALL_INTS = (1, 2, 3)
#: Odd window sizes a changed small odd argument moves among.
_WINDOWS = (1, 3, 5)
#: Values searched for the argument that restores an op's output shape.
_RESTORE_RANGE = range(0, 17)
#: Random argument draws per op before an insert gives that op up.
_INSERT_DRAWS = 16


class _NoEdit(Exception):
    """This attempt found nothing to edit; the message is the reason."""


@dataclass(frozen=True)
class _Edit:
    """A candidate edit before verification: the edited program and its record."""

    program: Program
    record: dict[str, Any]


@VARIATIONS.register("random_edit", space_mode="edit")
class RandomEdit:
    """One random insert, delete or change per child (see the module doc).

    ``max_params`` and ``max_flops`` are budgets: a child over either is an
    invalid attempt. ``edits`` restricts the kinds of edit drawn.
    """

    name = "random_edit"

    def __init__(
        self,
        max_params: float | None = None,
        max_flops: float | None = None,
        max_attempts: int = 32,
        edits: Sequence[str] = EDITS,
    ) -> None:
        unknown = [e for e in edits if e not in EDITS]
        if unknown or not edits:
            raise ValueError(f"edits must be a non-empty subset of {EDITS}, got {list(edits)}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.max_params = max_params
        self.max_flops = max_flops
        self.max_attempts = max_attempts
        self.edits = tuple(edits)

    def vary(self, parent: Program, rng: random.Random, context: VariationContext = NO_CONTEXT) -> Child:
        root = analyze(parent)
        instances = _instances_by_graph(parent, root)
        graphs = [g for g in parent.graphs() if g.name in instances]
        parent_hash = program_hash(parent)
        failures: Counter[str] = Counter()
        for attempt in range(1, self.max_attempts + 1):
            kind = rng.choice(self.edits)
            graph = rng.choice(graphs)
            try:
                edit = _EDITORS[kind](parent, graph, instances[graph.name], rng)
                checked = self._verify(edit.program, parent_hash, root.output_shape, context.label)
            except _NoEdit as why:
                failures[f"{kind}: {why}"] += 1
                continue
            record = {"edit": kind, "graph": graph.name, **edit.record, "attempts": attempt}
            return Child(checked.program, self.name, record, checked=checked)
        summary = "; ".join(f"{why} ({n}x)" for why, n in failures.most_common(4))
        raise VariationFailed(f"no valid random edit in {self.max_attempts} attempts: {summary}")

    def _verify(self, program: Program, parent_hash: str, output_shape: tuple[int, ...], label: str) -> Checked:
        """The child checked once (:func:`alphanas.lang.checked.check`), if
        it is a valid, new program within the budgets; :class:`_NoEdit` otherwise."""
        try:
            checked = check(program, label)
        except AlphanasError as err:
            raise _NoEdit(f"child rejected by the front end ({type(err).__name__})") from None
        if checked.analysis.output_shape != output_shape:
            raise _NoEdit("model output shape changed")
        if self.max_params is not None and checked.total.params > self.max_params:
            raise _NoEdit("over the parameter budget")
        if self.max_flops is not None and checked.total.flops > self.max_flops:
            raise _NoEdit("over the FLOP budget")
        if checked.hash == parent_hash:
            raise _NoEdit("child equals its parent")
        return checked


# -- the edits ---------------------------------------------------------------------------------


def _insert(program: Program, graph: Graph, insts: Sequence[Instance], rng: random.Random) -> _Edit:
    """Put a shape-preserving op on one edge of the graph."""
    edges: list[tuple[Node | None, int]] = [(n, port) for n in graph.nodes for port in range(len(n.inputs))]
    edges.append((None, 0))  # the graph's output
    reader, port = rng.choice(edges)
    value = graph.output if reader is None else reader.inputs[port]
    shapes = [inst.shapes[value] for inst in insts]
    names = sorted(name for name, op in ops.all_ops().items() if op.arity == 1)
    rng.shuffle(names)
    domain = _int_domain(graph, shapes)
    for name in names:
        attrs = _preserving_attrs(ops.lookup(name), shapes, insts, domain, rng)
        if attrs is None:
            continue
        node = Node(_fresh_id(graph, name), name, (value,), attrs)
        nodes = list(graph.nodes)
        if reader is None:
            nodes.append(node)
            new_graph = replace(graph, nodes=tuple(nodes), output=node.id)
        else:
            at = nodes.index(reader)
            inputs = list(reader.inputs)
            inputs[port] = node.id
            nodes[at:at + 1] = [node, replace(reader, inputs=tuple(inputs))]
            new_graph = replace(graph, nodes=tuple(nodes))
        record = {
            "node": node.id,
            "op": name,
            "args": {k: _show(v) for k, v in attrs},
            "after": value,
            "before": reader.id if reader is not None else "return",
        }
        return _Edit(_with_graph(program, new_graph), record)
    raise _NoEdit("no op of the library keeps the shape there")


def _delete(program: Program, graph: Graph, insts: Sequence[Instance], rng: random.Random) -> _Edit:
    """Remove an op whose output has the shape of one of its inputs."""
    deletable = []
    for n in graph.nodes:
        same = [i for i in dict.fromkeys(n.inputs) if all(inst.shapes[i] == inst.shapes[n.id] for inst in insts)]
        if same:
            deletable.append((n, same))
    if not deletable:
        raise _NoEdit("no op keeps the shape of an input")
    node, keep = rng.choice(deletable)
    source = rng.choice(keep)
    nodes = [
        replace(n, inputs=tuple(source if i == node.id else i for i in n.inputs))
        for n in graph.nodes
        if n.id != node.id
    ]
    output = source if graph.output == node.id else graph.output
    new_graph = _drop_dead(replace(graph, nodes=tuple(nodes), output=output))
    record = {"node": node.id, "op": node.op, "rewired_to": source}
    return _Edit(_with_graph(program, new_graph), record)


def _change(program: Program, graph: Graph, insts: Sequence[Instance], rng: random.Random) -> _Edit:
    """Give one integer size argument of an op a new value."""
    choices = [
        (n, p)
        for n in graph.nodes
        if (op := ops.lookup(n.op)) is not None
        for p in op.params
        if _is_size(p) and _changeable(n.attr(p.name))
    ]
    if not choices:
        raise _NoEdit("no integer size argument to change")
    node, p = rng.choice(choices)
    op = ops.lookup(node.op)
    assert op is not None
    old = node.attr(p.name)
    new = rng.choice(_new_values(old))
    attrs = dict(node.attrs)
    attrs[p.name] = new
    before = [_out_shape(op, inst, node, node.attrs) for inst in insts]
    after = [_out_shape(op, inst, node, tuple(attrs.items())) for inst in insts]
    if any(s is None for s in after):
        raise _NoEdit(f"{node.op} rejects {p.name}={format_value(new)}")
    adjusted: dict[str, list[str]] = {}
    if after != before:
        fix = _restore_shape(op, node, attrs, p.name, insts, before, rng)
        if fix is not None:
            name, value = fix
            adjusted[name] = [format_value(attrs[name]), format_value(value)]
            attrs[name] = value
    new_node = replace(node, attrs=tuple(attrs.items()))
    nodes = tuple(new_node if n.id == node.id else n for n in graph.nodes)
    record = {
        "node": node.id,
        "op": node.op,
        "param": p.name,
        "old": format_value(old),
        "new": format_value(new),
        "adjusted": adjusted,
    }
    return _Edit(_with_graph(program, replace(graph, nodes=nodes)), record)


_EDITORS = {"insert": _insert, "delete": _delete, "change": _change}


# -- helpers ----------------------------------------------------------------------------------


def _instances_by_graph(program: Program, root: Instance) -> dict[str, list[Instance]]:
    """The distinct instances of every graph the model reaches (the model's
    one instance, and each block's)."""
    found: dict[str, list[Instance]] = {program.model.name: [root]}
    for inst in block_instances(program, root):
        found.setdefault(inst.graph.name, []).append(inst)
    return found


def _int_domain(graph: Graph, shapes: Sequence[tuple[int, ...]]) -> list[Expr]:
    """Values tried for an inserted op's int arguments: small integers, the
    graph's int parameters, and (when the graph has one instance) the
    value's dimensions."""
    domain: list[Expr] = [*_SMALL_INTS, *(Sym(p.name) for p in graph.params)]
    if len(shapes) == 1:
        domain += [d for d in shapes[0] if d not in domain]
    return domain


def _preserving_attrs(
    op: Op | None, shapes: Sequence[tuple[int, ...]], insts: Sequence[Instance], domain: Sequence[Expr],
    rng: random.Random,
) -> tuple[tuple[str, Expr], ...] | None:
    """Arguments (every parameter, in signature order) under which the op
    maps each instance's shape to itself, or None if random draws found none."""
    assert op is not None
    if any(p.required and p.kind not in ("int", "float") for p in op.params):
        return None  # no generic domain for required lists or strings
    for _ in range(_INSERT_DRAWS):
        attrs: list[tuple[str, Expr]] = []
        for p in op.params:
            if p.required:
                attrs.append((p.name, rng.choice(domain) if p.kind == "int" else rng.choice(_FLOATS)))
            elif _is_size(p) and isinstance(p.default, int) and rng.random() < 0.5:
                attrs.append((p.name, rng.choice(domain)))
            else:
                attrs.append((p.name, p.default))
        if all(_apply(op, [s], dict(attrs), inst.bindings) == s for s, inst in zip(shapes, insts)):
            return tuple(attrs)
    return None


def _apply(op: Op, ins: Sequence[tuple[int, ...]], attrs: Mapping[str, Expr], bindings: Mapping[str, int]) -> tuple[int, ...] | None:
    """The op's output shape by its own rule, or None if it rejects the inputs."""
    try:
        values = {k: evaluate(v, bindings) for k, v in attrs.items()}
        return tuple(op.shape(CONCRETE, ins, Attrs(values)))
    except (OpError, ZeroDivisionError):
        return None


def _out_shape(op: Op, inst: Instance, node: Node, attrs: tuple[tuple[str, Expr], ...]) -> tuple[int, ...] | None:
    return _apply(op, [inst.shapes[i] for i in node.inputs], dict(attrs), inst.bindings)


def _restore_shape(
    op: Op, node: Node, attrs: dict[str, Expr], changed: str, insts: Sequence[Instance],
    target: Sequence[tuple[int, ...] | None], rng: random.Random,
) -> tuple[str, int] | None:
    """Another literal size argument of the op, and a value for it, that
    brings the output shape back to ``target`` in every instance; values
    closest to the current one first."""
    others = [p.name for p in op.params if _is_size(p) and p.name != changed and type(attrs[p.name]) is int]
    rng.shuffle(others)
    for name in others:
        current = attrs[name]
        assert isinstance(current, int)
        for value in sorted(_RESTORE_RANGE, key=lambda v: (abs(v - current), v)):
            if value == current:
                continue
            trial = tuple({**attrs, name: value}.items())
            if [_out_shape(op, inst, node, trial) for inst in insts] == list(target):
                return name, value
    return None


def _show(v: Expr | None) -> str:
    """An argument as the language writes it (``None``: a default that follows another)."""
    return "none" if v is None else format_value(v)


def _is_size(p: Param) -> bool:
    return p.size and p.kind == "int"


def _changeable(v: Expr) -> bool:
    """Integer literals and integer expressions over int parameters; not
    ``None`` (a pooling stride that follows the window) nor ``true``."""
    return type(v) is int or isinstance(v, Sym | Arith)


def _new_values(v: Expr) -> list[Expr]:
    """The values a size argument may change to: half and double, and for a
    small odd literal (a window) the other window sizes; 0 (no padding)
    becomes 1."""
    if type(v) is int:
        values = {v // 2, v * 2} if v else {1}
        if v % 2 == 1 and v <= max(_WINDOWS):
            values.update(_WINDOWS)
        values.discard(v)
        return sorted(values)
    return [_halve(v), _double(v)]


def _halve(e: Expr) -> Expr:
    if isinstance(e, Arith) and e.op == "*" and e.right == 2:
        return e.left
    return Arith("//", e, 2)


def _double(e: Expr) -> Expr:
    if isinstance(e, Arith) and e.op == "//" and e.right == 2:
        return e.left
    return Arith("*", e, 2)


def _fresh_id(graph: Graph, stem: str) -> str:
    """A node id used by no input, node id or value name of the graph."""
    taken = {*graph.input_ids, *(n.id for n in graph.nodes), *(n.name for n in graph.nodes if n.name)}
    k = 1
    while f"{stem}_{k}" in taken:
        k += 1
    return f"{stem}_{k}"


def _drop_dead(graph: Graph) -> Graph:
    """The graph without the statements whose values no longer reach the output."""
    live = {graph.output}
    for n in reversed(graph.nodes):
        if n.id in live:
            live.update(n.inputs)
    return replace(graph, nodes=tuple(n for n in graph.nodes if n.id in live))


def _with_graph(program: Program, graph: Graph) -> Program:
    """The program with one graph replaced, keeping only the blocks the model
    still reaches."""
    if graph.kind == "model":
        program = replace(program, model=graph)
    else:
        program = replace(program, blocks=tuple(graph if b.name == graph.name else b for b in program.blocks))
    by_name = {b.name: b for b in program.blocks}
    reached: set[str] = set()
    stack = [program.model]
    while stack:
        g = stack.pop()
        for n in g.nodes:
            if n.op in by_name and n.op not in reached:
                reached.add(n.op)
                stack.append(by_name[n.op])
    return replace(program, blocks=tuple(b for b in program.blocks if b.name in reached))
