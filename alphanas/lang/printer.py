"""From IR to text: the canonical printer.

``print_program(parse(t))`` is a fixed point of ``print_program ∘ parse``, and
``parse(print_program(p)) == p`` for any valid program. Canonical choices:

- blocks in program order, then the model; two-space indentation;
- a value the user did not name and that has one reader is printed nested
  inside its reader; any other value gets a statement;
- arguments equal to the op's default are left out, unless the text they
  were parsed from spelled them out (``Node.written``); leading required or
  positional-style parameters are printed positionally, the rest as ``k=v``.
"""

from __future__ import annotations

from typing import Any

from alphanas import ops
from alphanas.lang.ir import Arith, Expr, Graph, Node, Program, Sym
from alphanas.ops.spec import Param


def print_program(program: Program) -> str:
    parts = [print_graph(g, program) for g in program.graphs()]
    return "\n\n".join(parts) + "\n"


def print_graph(g: Graph, program: Program | None = None) -> str:
    names = _statement_names(g)
    readers = g.users()
    nested = {
        n.id
        for n in g.nodes
        if n.name is None and len(readers.get(n.id, [])) == 1 and n.id != g.output
    }
    nodes = {n.id: n for n in g.nodes}
    blocks = {b.name: b for b in program.blocks} if program else {}

    def value(vid: str) -> str:
        if vid in nested:
            return call(nodes[vid])
        return names[vid]

    def call(n: Node) -> str:
        args = [value(i) for i in n.inputs] + _arguments(n, blocks)
        return f"{n.op}({', '.join(args)})"

    lines = [_header(g)]
    for n in g.nodes:
        if n.id in nested or (n.id == g.output and n.name is None and len(readers.get(n.id, [])) == 0):
            continue
        lines.append(f"  {names[n.id]} = {call(n)}")
    out = nodes.get(g.output)
    if out is not None and out.name is None and not readers.get(out.id):
        lines.append(f"  return {call(out)}")
    else:
        lines.append(f"  return {names[g.output]}")
    lines.append("}")
    return "\n".join(lines)


def _header(g: Graph) -> str:
    params = []
    for i in g.inputs:
        params.append(f"{i.id}: [{', '.join(map(str, i.shape))}]" if i.shape is not None else i.id)
    for p in g.params:
        params.append(f"{p.name}: int" + (f" = {p.default}" if p.default is not None else ""))
    return f"{g.kind} {g.name}({', '.join(params)}) {{"


def _statement_names(g: Graph) -> dict[str, str]:
    """The name each value is printed under.

    Values keep the user's name unless a later statement rebinds that name
    before every reader has read it (possible after a mutation spliced nodes
    in); the shadowing or shadowed node is then printed under its id, which
    is unique in the graph (an IR invariant), so each round fixes one clash.
    """
    names = {i.id: i.id for i in g.inputs}
    for n in g.nodes:
        names[n.id] = n.name if n.name is not None else n.id
    inputs = set(g.input_ids)
    while True:
        clash = _first_clash(g, names)
        if clash is None:
            return names
        value, shadow = clash
        # an input cannot be renamed: rename the node that hides it
        renamed = shadow if value in inputs else value
        names[renamed] = renamed


def _first_clash(g: Graph, names: dict[str, str]) -> tuple[str, str] | None:
    """The first value whose printed name is bound to another value where it
    is read, with that other value."""
    current = {i.id: i.id for i in g.inputs}  # printed name -> value id
    for n in g.nodes:
        for i in n.inputs:
            if current.get(names[i]) != i:
                return i, current[names[i]]
        current[names[n.id]] = n.id
    if current.get(names[g.output], g.output) != g.output:
        return g.output, current[names[g.output]]
    return None


def _arguments(n: Node, blocks: dict[str, Graph]) -> list[str]:
    op = ops.lookup(n.op)
    params: tuple[Param, ...] = op.params if op is not None else blocks[n.op].call_params()
    values = dict(n.attrs)
    out = []
    positional = True
    for p in params:
        v = values.get(p.name, p.default)
        if not p.required and _same(v, p.default) and p.name not in n.written:
            positional = False
            continue
        if positional and (p.required or p.positional):
            out.append(format_value(v))
        else:
            positional = False
            out.append(f"{p.name}={format_value(v)}")
    return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "//": 2}


def format_value(v: Expr, parent: int = 0, right: bool = False) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if v >= 0 or parent == 0 else f"({v})"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, Sym):
        return v.name
    if isinstance(v, Arith):
        prec = _PRECEDENCE[v.op]
        text = f"{format_value(v.left, prec)} {v.op} {format_value(v.right, prec, right=True)}"
        if prec < parent or (right and prec == parent):
            return f"({text})"
        return text
    raise TypeError(f"cannot print argument value {v!r}")
