"""Assembly: the flat op list becomes a :class:`~alphanas.lang.ir.Program`.
Each submodule with its own ``forward`` that is called once and computes one
value from its inputs becomes a block call, instances with identical bodies
share one block definition, and every value gets a unique, valid name after
its module path. :func:`_verify` checks that the program's analysed shapes
are the traced ones.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from torch import nn

from alphanas import ops
from alphanas.lang.ir import Graph, Input, Node, Program
from alphanas.pytorch.fx.context import _INPUT, Shape, _Context, _relative, _Weights
from alphanas.pytorch.fx.tracing import _Tracer

# -- naming ---------------------------------------------------------------------------

#: names a value cannot take: the language's keywords and the generated code's own names
_RESERVED = {"block", "model", "return", "true", "false", "self", "torch", "nn", "F"}


def _identifier(label: str, op: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", label.replace(".", "_")).strip("_") or op
    if name[0].isdigit():
        name = f"{op}_{name}"  # Sequential children are numbered: conv2d_0
    return name


class _Names:
    """Unique, valid names in one graph, fx-style (add, add_1, ...)."""

    def __init__(self, taken: Sequence[str] = ()) -> None:
        self.taken = set(taken) | _RESERVED

    def __call__(self, base: str) -> str:
        name = base
        if keyword.iskeyword(name) or name in self.taken:
            i = 1
            while keyword.iskeyword(f"{base}_{i}") or f"{base}_{i}" in self.taken:
                i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name


# -- blocks ----------------------------------------------------------------------------


@dataclass
class _Body:
    """A module's ops as a block body: its graph (unnamed), the flat values it
    reads and computes, and the local name of each of its ops."""

    graph: Graph
    inputs: list[str]
    output: str
    local: dict[str, str]
    members: list[int]

    @property
    def key(self) -> tuple:
        return (self.graph.inputs, self.graph.nodes, self.graph.output)


class _Assembler:
    """Builds the program from the flat op list: chooses the modules that
    become blocks, shares identical bodies, names everything."""

    def __init__(self, c: _Context, output: str, root: nn.Module, tracer: _Tracer,
                 input_shape: Shape, name: str) -> None:
        self.ops = c.ops
        self.output = output
        self.root = root
        self.calls = tracer.num_calls
        self.input_shape = input_shape
        self.name = name
        self.regions: dict[str, list[int]] = {}
        self.children: dict[str, list[str]] = {"": []}
        self.users: dict[str, set[int]] = {}
        for i, op in enumerate(self.ops):
            parent = ""
            for path in op.scope:
                self.regions.setdefault(path, []).append(i)
                kids = self.children.setdefault(parent, [])
                if path not in kids:
                    kids.append(path)
                self.children.setdefault(path, [])
                parent = path
            for k in op.inputs:
                self.users.setdefault(k, set()).add(i)
        self._bodies: dict[str, _Body | None] = {}

    # -- choosing blocks ------------------------------------------------------------
    def module(self, path: str) -> nn.Module | None:
        try:
            return self.root.get_submodule(path)
        except AttributeError:
            return None

    def is_container(self, path: str) -> bool:
        """Containers that only chain their children (nn.Sequential and
        subclasses that keep its forward) are looked through, never blocks."""
        m = self.module(path)
        return isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward

    def choose(self, path: str = "") -> list[str]:
        """The modules under ``path`` that become blocks: the outermost ones
        with their own forward, called once, computing one value. A module
        whose inner candidates mostly repeat one body (ViT's Encoder and its
        EncoderBlocks) is looked through, so that the repeats share a block."""
        if path and self.calls.get(path, 1) != 1:
            return []
        inner = [b for child in self.children.get(path, []) for b in self.choose(child)]
        if not path or self.is_container(path):
            return inner
        if len(inner) >= 2 and len({self.body(b).key for b in inner}) <= len(inner) // 2:  # type: ignore[union-attr]
            return inner
        return [path] if self.body(path) is not None else inner

    def body(self, path: str) -> _Body | None:
        """The module's ops as a block body, or None if they are not one:
        fewer than two ops, no input, more than one value used outside, or
        interleaved with ops that read its values before it ends."""
        if path in self._bodies:
            return self._bodies[path]
        members = self.regions.get(path, [])
        result = None
        if len(members) >= 2:
            result = self._body(path, members)
        self._bodies[path] = result
        return result

    def _body(self, path: str, members: list[int]) -> _Body | None:
        inside = set(members)
        produced = {self.ops[i].key for i in members}
        inputs: list[str] = []
        for i in members:
            for k in self.ops[i].inputs:
                if k not in produced and k not in inputs:
                    inputs.append(k)
        outputs = [k for k in produced if k == self.output or self.users.get(k, set()) - inside]
        if len(outputs) != 1 or not inputs:
            return None
        for j in range(members[0], members[-1]):
            if j not in inside and any(k in produced for k in self.ops[j].inputs):
                return None
        input_ids = ["x"] if len(inputs) == 1 else [f"x{i}" for i in range(len(inputs))]
        names = _Names(input_ids)
        local = dict(zip(inputs, input_ids))
        nodes = []
        for i in members:
            op = self.ops[i]
            local[op.key] = names(_identifier(_relative(op.label, path), op.op))
            nodes.append(Node(local[op.key], op.op, tuple(local[k] for k in op.inputs), op.attrs, local[op.key]))
        graph = Graph("block", "", tuple(Input(i) for i in input_ids), (), tuple(nodes), local[outputs[0]])
        return _Body(graph, inputs, outputs[0], local, members)

    # -- the program ------------------------------------------------------------------
    def block_name(self, path: str, taken: set[str]) -> str:
        m = self.module(path)
        base = _identifier(type(m).__name__.lower() if m is not None else path, "block")
        if ops.lookup(base) is not None or keyword.iskeyword(base) or base in _RESERVED or base == self.name:
            base += "_block"
        name, i = base, 2
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        return name

    def program(self, with_blocks: bool) -> tuple[Program, dict[str, _Weights], dict[str, Shape]]:
        chosen = self.choose() if with_blocks else []
        bodies = {path: self.body(path) for path in chosen}
        ends = {b.members[-1]: path for path, b in bodies.items() if b is not None}
        inside = {i for b in bodies.values() if b is not None for i in b.members}
        names = _Names(["x"])
        model_id: dict[str, str] = {_INPUT: "x"}
        weights: dict[str, _Weights] = {}
        expected: dict[str, Shape] = {}
        definitions: dict[tuple, Graph] = {}
        taken: set[str] = set()
        nodes: list[Node] = []
        for i, op in enumerate(self.ops):
            if i in ends:
                path = ends[i]
                body = bodies[path]
                assert body is not None
                if body.key not in definitions:
                    block = self.block_name(path, taken)
                    taken.add(block)
                    definitions[body.key] = replace(body.graph, name=block)
                block = definitions[body.key].name
                call = names(_identifier(path, block))
                nodes.append(Node(call, block, tuple(model_id[k] for k in body.inputs), (), call))
                model_id[body.output] = call
                for k in body.members:
                    inner = self.ops[k]
                    path_id = f"{call}.{body.local[inner.key]}"
                    expected[path_id] = inner.shape
                    if inner.weights is not None:
                        weights[path_id] = inner.weights
            elif i not in inside:
                node_id = names(_identifier(op.label, op.op))
                model_id[op.key] = node_id
                nodes.append(Node(node_id, op.op, tuple(model_id[k] for k in op.inputs), op.attrs, node_id))
                expected[node_id] = op.shape
                if op.weights is not None:
                    weights[node_id] = op.weights
        model = Graph("model", self.name, (Input("x", self.input_shape),), (), tuple(nodes), model_id[self.output])
        return Program(model=model, blocks=tuple(definitions.values())), weights, expected


# -- the model's name and the check ----------------------------------------------------------


def _model_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "imported"
    if name[0].isdigit():
        name = "m_" + name
    return name + "_" if keyword.iskeyword(name) or name in _RESERVED else name


def _verify(program: Program, expected: dict[str, Shape]) -> int:
    """The program's analysed shapes are the traced ones; its op count."""
    from alphanas.lang.analysis import analyze

    inst = analyze(program)
    count = 0
    for path, sub, n in inst.walk():
        count += 1
        got = tuple(sub.shapes[n.id])
        assert expected.get(path) == got, f"{path}: the program computes {list(got)}, torch {expected.get(path)}"
    return count
