"""NAS-Bench-201 in the language: its vocabulary, its cell and its network.

NAS-Bench-201 (Dong & Yang, ICLR 2020; NATS-Bench's topology search space)
names a cell by an *arch string* such as::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

three groups separated by ``+``, one per node n1, n2, n3; the group of node
``i`` lists one edge per earlier node, ``op~j`` being the op on the edge from
node ``j`` (0 is the cell's input). Here a cell is the body of the block
``cell(x, c: int)`` of ``grammars/spaces/nb201.arch``::

    n1 = EDGE(x)
    n2 = add(EDGE(x), EDGE(n1))
    n3 = add(EDGE(x), EDGE(n1), EDGE(n2))
    return n3

with each edge one of the language fragments of :data:`OPS`.
:func:`cell_body` writes the body of an arch string, :func:`arch_of` reads
the arch string back from a program, :func:`network` builds the whole
NAS-Bench-201 network around a cell.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache

import grammars
from alphanas import ops
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Graph, Input, Node, Program
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_graph

__all__ = [
    "CELL_BLOCK",
    "CELL_GRAMMAR",
    "DEFAULT_ARCH",
    "OPS",
    "SEED",
    "NB201Error",
    "arch_of",
    "arch_string",
    "cell_body",
    "edges_of",
    "network",
    "network_text",
]

#: NAS-Bench-201's op names -> the edge in the language, over the name of its
#: source node (``{src}``); ``c`` is the cell block's channel parameter. The
#: one place this mapping lives. Written as the canonical printer writes them
#: (a 1×1 convolution leaves out its default ``k=1``), so that a printed cell
#: reads back through this table. NAS-Bench-201 pools with
#: ``count_include_pad=False``; ``avgpool`` counts the padding (torch's
#: default): the same shapes, parameters and FLOPs, other border values.
OPS: Mapping[str, str] = {
    "none": "zero({src})",
    "skip_connect": "identity({src})",
    "nor_conv_1x1": "batchnorm(conv2d(relu({src}), c, bias=false))",
    "nor_conv_3x3": "batchnorm(conv2d(relu({src}), c, k=3, p=1, bias=false))",
    "avg_pool_3x3": "avgpool({src}, 3, s=1, p=1)",
}

#: the cell's nodes in the block body: node 0 is the block's input
NODES = ("x", "n1", "n2", "n3")

#: the block whose body is the cell
CELL_BLOCK = "cell"

#: the NAS-Bench-201 network with a default cell (NAS-Bench-201's ResNet)
SEED = grammars.path("spaces/nb201.arch")

#: the grammar whose rule ``cell`` derives every cell body
CELL_GRAMMAR = grammars.path("spaces/nb201_cell.lark")

#: the cell of :data:`SEED`: two 3×3 convolutions and a skip connection
#: (NAS-Bench-201's ResNet, benchmark index 11472)
DEFAULT_ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"

#: one arch string group: ``|op~j|op~j|``
_GROUP = re.compile(r"^\|(?:[^|~+]+~\d+\|)+$")


class NB201Error(AlphanasError):
    """An arch string or a program that is not a NAS-Bench-201 cell."""

    kind = "nb201 error"


# -- arch strings ------------------------------------------------------------------------------


def edges_of(arch: str) -> tuple[tuple[str, ...], ...]:
    """The ops of an arch string by node: ``edges[i][j]`` is the op on the
    edge from node ``j`` into node ``i + 1``. A malformed string is an
    :class:`NB201Error` saying what is wrong."""
    example = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    hint = f"an arch string has three groups joined by '+', e.g. {example}"
    if not isinstance(arch, str):
        raise NB201Error(f"an arch string must be a string, got {type(arch).__name__}", hint=hint)
    groups = arch.strip().split("+")
    if len(groups) != 3:
        raise NB201Error(f"arch string {arch!r} has {len(groups)} node group(s), NAS-Bench-201 cells have 3",
                         hint=hint)
    edges = []
    for i, group in enumerate(groups, start=1):
        if not _GROUP.match(group):
            raise NB201Error(f"arch string {arch!r}: node {i}'s group {group!r} is not of the form |op~j|...|",
                             hint=hint)
        items = group.strip("|").split("|")
        if len(items) != i:
            raise NB201Error(f"arch string {arch!r}: node {i} has {len(items)} edge(s), it must have {i} "
                             f"(one from each earlier node)", hint=hint)
        row = []
        for j, item in enumerate(items):
            op, _, source = item.partition("~")
            if op not in OPS:
                close = difflib.get_close_matches(op, list(OPS), n=1)
                guess = f"did you mean {close[0]!r}? " if close else ""
                raise NB201Error(f"arch string {arch!r}: unknown op {op!r} on an edge into node {i}",
                                 hint=f"{guess}NAS-Bench-201's ops are {', '.join(OPS)}")
            if int(source) != j:
                raise NB201Error(f"arch string {arch!r}: node {i}'s edge {j + 1} is {item!r}, it must come "
                                 f"from node {j} (~{j})", hint=hint)
            row.append(op)
        edges.append(tuple(row))
    return tuple(edges)


def arch_string(edges: Sequence[Sequence[str]]) -> str:
    """The arch string of edges by node (the inverse of :func:`edges_of`)."""
    return "+".join("|" + "".join(f"{op}~{j}|" for j, op in enumerate(row)) for row in edges)


def cell_body(arch: str) -> str:
    """The body of the block ``cell(x, c: int)`` for an arch string: three
    statements and a return, one a line, unindented."""
    edges = edges_of(arch)
    lines = []
    for i, row in enumerate(edges, start=1):
        terms = [OPS[op].format(src=NODES[j]) for j, op in enumerate(row)]
        value = terms[0] if len(terms) == 1 else f"add({', '.join(terms)})"
        lines.append(f"{NODES[i]} = {value}")
    lines.append(f"return {NODES[-1]}")
    return "\n".join(lines)


# -- the network -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _seed_text() -> str:
    return SEED.read_text()


_CELL_DEFINITION = re.compile(r"(^block cell\(x, c: int\) \{\n)(.*?)(^\}$)", re.MULTILINE | re.DOTALL)
_CLASSES = re.compile(r"(^model \w+\(.*?classes: int = )(\d+)", re.MULTILINE)


def network_text(arch: str, classes: int = 10) -> str:
    """The text of NAS-Bench-201's CIFAR network (:data:`SEED`) with the cell
    of ``arch`` and a classifier for ``classes`` classes. For
    :data:`DEFAULT_ARCH` and 10 classes, the seed file as it is."""
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise NB201Error(f"classes={classes!r} must be a positive integer")
    body = "".join(f"  {line}\n" for line in cell_body(arch).split("\n"))
    text, found = _CELL_DEFINITION.subn(lambda m: m.group(1) + body + m.group(3), _seed_text(), count=1)
    assert found == 1, f"{SEED} has no `block cell(x, c: int)` definition"
    text, found = _CLASSES.subn(lambda m: m.group(1) + str(classes), text, count=1)
    assert found == 1, f"{SEED} has no `classes: int = N` model parameter"
    return text


def network(arch: str, classes: int = 10) -> Program:
    """NAS-Bench-201's network for 32×32 inputs around the cell of ``arch``,
    as NATS-Bench builds it: a 3×3 stem convolution to 16 channels and
    batchnorm; five cells at 16 channels; a stride-2 ResNet basic block to
    32; five cells at 32; one to 64; five cells at 64; batchnorm and relu,
    global average pooling and a dense classifier. The cell is one block,
    ``cell``, called 15 times."""
    return parse(network_text(arch, classes), str(SEED))


# -- reading the cell back -----------------------------------------------------------------------


def arch_of(program: Program, block: str = CELL_BLOCK) -> str:
    """The arch string of the cell in ``program``'s block ``block``. The
    block must be a NAS-Bench-201 cell up to value names and the order of
    ``add``'s operands: a three-input ``add`` returning the sum of edges from
    the input and two nodes, one of which sums edges from the input and the
    other node, which is an edge from the input; each edge one of
    :data:`OPS` (compared as the canonical printer writes it). Anything
    else is an :class:`NB201Error` naming the first thing that differs."""
    try:
        g = program.block(block)
    except KeyError:
        names = ", ".join(program.block_names) or "none"
        raise NB201Error(f"program {program.model.name} has no block {block!r} to read a NAS-Bench-201 cell from",
                         hint=f"its blocks: {names}") from None
    if len(g.inputs) != 1:
        raise NB201Error(f"block {block} has {len(g.inputs)} tensor inputs; a NAS-Bench-201 cell has one")
    return _CellReader(g).arch()


class _CellReader:
    """Reads the edges of a cell block, from its output down."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.nodes = {n.id: n for n in g.nodes}
        self.readers = g.users()
        self.x = g.inputs[0].id

    def fail(self, message: str) -> NB201Error:
        return NB201Error(f"block {self.g.name} is not a NAS-Bench-201 cell: {message}",
                          hint="write the cell as alphanas.benchmarks.nb201.cell_body writes it (the sentences of "
                               "grammars/spaces/nb201_cell.lark)")

    def sum_of_edges(self, value: str, count: int, what: str) -> list[tuple[str, str]]:
        """The (op, source) of each edge summed into ``value`` (an ``add`` of
        ``count`` edges)."""
        n = self.nodes.get(value)
        if n is None or n.op != "add" or len(n.inputs) != count:
            shown = "the input" if n is None else f"{n.op}({len(n.inputs)} inputs)"
            raise self.fail(f"{what} must be add() of {count} edges, it is {shown}")
        return [self.edge(v, what) for v in n.inputs]

    def edge(self, top: str, into: str) -> tuple[str, str]:
        """The NAS-Bench-201 op of the edge whose last value is ``top``, and
        the value it starts from: the chain of one-input ops down from
        ``top`` through values read only here, up to the cell's input, an
        ``add`` or a value read by several edges."""
        chain: list[Node] = []
        value = top
        while value in self.nodes:
            n = self.nodes[value]
            op = ops.lookup(n.op)
            if op is None or op.arity != 1 or (chain and len(self.readers.get(value, [])) != 1):
                break
            chain.append(n)
            value = n.inputs[0]
        if not chain:
            raise self.fail(f"{into} reads {top!r} directly; an edge is an op applied to a node "
                            f"(skip_connect is identity(...))")
        text = self.printed(chain, value)
        name = {template.format(src=value): op for op, template in OPS.items()}.get(text)
        if name is None:
            raise self.fail(f"an edge into {into} is `{text}`, which is none of NAS-Bench-201's ops "
                            f"({', '.join(f'{k}: {v}' for k, v in OPS.items())})")
        return name, value

    def printed(self, chain: list[Node], source: str) -> str:
        """The edge as the canonical printer writes it, reading ``source``
        (a value id: ids are unique in a graph, so it names no chain node)."""
        nodes = tuple(replace(n, name=None) for n in reversed(chain))
        edge = Graph("block", "edge", (Input(source),), self.g.params, nodes, chain[0].id)
        last = print_graph(edge).split("\n")[-2].strip()
        assert last.startswith("return "), last
        return last.removeprefix("return ")

    def arch(self) -> str:
        out = self.g.output
        into3 = self.sum_of_edges(out, 3, "the returned value (n3)")
        sources = [s for _, s in into3]
        if sources.count(self.x) != 1:
            raise self.fail(f"n3 must sum exactly one edge from the input {self.x}, it sums {sources.count(self.x)}")
        n2 = [s for s in sources if s != self.x and s in self.nodes and self.nodes[s].op == "add"]
        if len(n2) != 1:
            raise self.fail("n3 must sum one edge from a node that is an add() (n2)")
        n1 = [s for s in sources if s not in (self.x, n2[0])]
        if len(n1) != 1:
            raise self.fail("n3 must sum edges from three different nodes")
        into2 = self.sum_of_edges(n2[0], 2, "n2")
        if sorted(s for _, s in into2) != sorted((self.x, n1[0])):
            raise self.fail(f"n2 must sum one edge from the input {self.x} and one from n1")
        op1, source1 = self.edge(n1[0], "n1")
        if source1 != self.x:
            raise self.fail(f"n1 must be an edge from the input {self.x}")
        order = {self.x: 0, n1[0]: 1, n2[0]: 2}
        row2 = [op for op, _ in sorted(into2, key=lambda e: order[e[1]])]
        row3 = [op for op, _ in sorted(into3, key=lambda e: order[e[1]])]
        return arch_string([[op1], row2, row3])

