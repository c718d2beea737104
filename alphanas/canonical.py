"""Canonical hashing: one fingerprint per computation, however it is written.

Two programs hash equal when their graphs are the same up to the names of
values, the names of blocks and the order of statements that does not change
the graph. The hash of a value is a Merkle hash of its op, its arguments and
the hashes of its inputs (in port order); a graph input hashes by its position
and shape; a call of a block hashes the block's body with the call's bindings.
Dead statements (whose value no path brings to the output) do not count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from alphanas import ops
from alphanas.ir import Arith, Expr, Graph, Program, Sym


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


def graph_hash(program: Program, g: Graph, _memo: dict[str, str] | None = None) -> str:
    """The canonical hash of one graph (a block body or the model)."""
    memo = {} if _memo is None else _memo
    if g.name in memo:
        return memo[g.name]
    params = {p.name: k for k, p in enumerate(g.params)}
    values: dict[str, str] = {}
    for k, i in enumerate(g.inputs):
        values[i.id] = _digest("input", str(k), repr(i.shape))
    for n in g.nodes:
        inputs = [values[i] for i in n.inputs]
        op = ops.lookup(n.op)
        if op is None:
            head = "call:" + graph_hash(program, program.block(n.op), memo)
        else:
            head = "op:" + n.op
            if op.commutative:
                inputs.sort()
        attrs = ",".join(f"{k}={_expr(v, params)}" for k, v in n.attrs)
        values[n.id] = _digest(head, attrs, *inputs)
    defaults = ",".join(str(p.default) for p in g.params)
    result = _digest(g.kind, str(len(g.inputs)), defaults, values[g.output])
    memo[g.name] = result
    return result


def program_hash(program: Program) -> str:
    """The canonical hash of a program (its model and the blocks it calls)."""
    return graph_hash(program, program.model)
