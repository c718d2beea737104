"""Canonical hashing: one fingerprint per computation, however it is written.

Two programs hash equal when their graphs are the same up to the names of
values, blocks and block parameters, the order of statements that does not
change the graph, and the operand order of commutative ops (``add``, ``mul``).
Dead statements (whose value does not reach the output) do not count.

The hash is a canonical labelling of the DAG: values are numbered in the
post-order of a depth-first walk from the output that visits inputs in port
order, and the hash covers every value's op, arguments and input numbers. So
sharing is part of the hash — two separate convolutions are not one
convolution used twice. The operands of a commutative op are visited in the
order of their Merkle hashes (a hash of the expression tree below them);
operands with equal Merkle hashes are ordered by a hash of how they are used
further down the graph. Different graphs never hash alike (barring hash
collisions); equal graphs could in principle still hash apart when two
operands agree in both hashes without being interchangeable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from alphanas import ops
from alphanas.lang.ir import Arith, Expr, Graph, Node, Program, Sym


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _expr(v: Expr, params: Mapping[str, int]) -> str:
    if isinstance(v, Sym):
        return f"${params[v.name]}"  # by position, so renaming a parameter changes nothing
    if isinstance(v, Arith):
        return f"({_expr(v.left, params)}{v.op}{_expr(v.right, params)})"
    if isinstance(v, tuple):
        return "[" + ",".join(_expr(x, params) for x in v) + "]"
    return f"{type(v).__name__}:{v!r}"


class _Hasher:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.memo: dict[tuple[str, str], str] = {}

    def head(self, g: Graph, n: Node) -> str:
        """The op and arguments of a node, without its inputs."""
        params = {p.name: k for k, p in enumerate(g.params)}
        if ops.lookup(n.op) is None:
            # a block call: its body's hash, and its arguments by position
            body = self.graph(self.program.block(n.op))
            return "call:" + body + "|" + ",".join(_expr(v, params) for _, v in n.attrs)
        return "op:" + n.op + "|" + ",".join(f"{k}={_expr(v, params)}" for k, v in n.attrs)

    def ordered_inputs(self, n: Node, key: Mapping[str, Any]) -> list[str]:
        """Inputs in port order, or by their hash where the order does not matter."""
        if _commutative(n):
            return sorted(n.inputs, key=lambda i: key[i])
        return list(n.inputs)

    def contexts(self, g: Graph, heads: Mapping[str, str], merkle: Mapping[str, str]) -> dict[str, str]:
        """A hash of how each value is used: its readers' ops, contexts and
        ports (one port for all operands of a commutative op), computed from
        the output down. It separates operands that look alike but are
        shared differently."""
        readers: dict[str, list[str]] = {v: [] for v in merkle}
        context: dict[str, str] = {}
        for n in reversed(g.nodes):
            mine = context.get(n.id, "") + ("|out" if n.id == g.output else "")
            context[n.id] = mine
            for port, i in enumerate(n.inputs):
                where = "c" if _commutative(n) else str(port)
                readers[i].append(_digest(heads[n.id], merkle[n.id], mine, where))
                context[i] = _digest(*sorted(readers[i]))
        return context

    def graph(self, g: Graph) -> str:
        if (g.kind, g.name) in self.memo:
            return self.memo[g.kind, g.name]
        nodes = {n.id: n for n in g.nodes}
        heads = {n.id: self.head(g, n) for n in g.nodes}
        merkle: dict[str, str] = {i.id: f"in{k}" for k, i in enumerate(g.inputs)}
        for n in g.nodes:  # statement order is topological
            merkle[n.id] = _digest(heads[n.id], *(merkle[i] for i in self.ordered_inputs(n, merkle)))
        context = self.contexts(g, heads, merkle)
        key = {v: (merkle[v], context.get(v, "")) for v in merkle}
        number: dict[str, int] = {i.id: k for k, i in enumerate(g.inputs)}
        lines: list[str] = []
        # iterative post-order walk from the output (programs can be deep)
        stack: list[tuple[str, bool]] = [(g.output, False)]
        while stack:
            v, expanded = stack.pop()
            if v in number:
                continue
            inputs = self.ordered_inputs(nodes[v], key)
            if not expanded:
                stack.append((v, True))
                stack.extend((i, False) for i in reversed(inputs))
                continue
            number[v] = len(number)
            lines.append(heads[v] + "<-" + ",".join(str(number[i]) for i in inputs))
        shapes = ",".join(repr(i.shape) for i in g.inputs)
        signature = f"{g.kind}|{shapes}|" + ",".join(str(p.default) for p in g.params)
        result = _digest(signature, *lines, str(number[g.output]))
        self.memo[g.kind, g.name] = result
        return result


def _commutative(n: Node) -> bool:
    op = ops.lookup(n.op)
    return op is not None and op.commutative


def graph_hash(program: Program, g: Graph) -> str:
    """The canonical hash of one graph (a block body or the model)."""
    return _Hasher(program).graph(g)


def program_hash(program: Program) -> str:
    """The canonical hash of a program (its model and the blocks it calls),
    kept on the (frozen) program once computed."""
    cached = program.__dict__.get("_hash")
    if cached is None:
        cached = graph_hash(program, program.model)
        object.__setattr__(program, "_hash", cached)
    return cached
