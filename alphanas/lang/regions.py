"""Regions: connected, convex sets of op nodes inside one graph.

A mutation (αNAS, Jin et al. 2022) replaces a *region* of a block body or of
the model body by newly synthesized code. For the replacement to fit, the
region must be

- **connected**: its nodes form one piece when edges are read undirected;
- **convex**: no path leaves the region and re-enters it. Then the region
  can be cut out and replaced by a sub-graph from its inputs to its outputs
  without creating a cycle.

A :class:`Region` names its graph and its nodes, and records its
``inputs`` (values read by region nodes but produced outside: graph inputs or
outside nodes, in order of first use) and ``outputs`` (region values read
outside the region, or the graph's output; in statement order).

:func:`extract` turns a region into standalone programs (one per output, as
the language has one output per model) so that every analysis of whole
programs (shapes, costs, properties, the built torch module) applies to a
region. A region of a block is extracted *in the context of one instance*:
:func:`instances_of` lists the distinct instances of a graph.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.errors import ProgramError
from alphanas.lang.ir import Graph, Input, IntParam, Node, Program, evaluate

__all__ = [
    "Region",
    "convex_closure",
    "enumerate_regions",
    "extract",
    "grow_region",
    "instances_of",
    "is_connected",
    "is_convex",
    "make_region",
    "region_by_range",
]


@dataclass(frozen=True)
class Region:
    """A connected, convex set of op nodes of the graph named ``graph``."""

    graph: str
    #: the node ids, as a set
    nodes: frozenset[str]
    #: the same node ids in statement order
    order: tuple[str, ...]
    #: values read by region nodes and produced outside it, by first use
    inputs: tuple[str, ...]
    #: region values read outside the region or returned by the graph
    outputs: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes


# -- graph helpers ----------------------------------------------------------------


def _index(graph: Graph) -> dict[str, int]:
    return {n.id: i for i, n in enumerate(graph.nodes)}


def _neighbours(graph: Graph) -> dict[str, set[str]]:
    """Op nodes adjacent to each op node (producers and consumers)."""
    nodes = {n.id for n in graph.nodes}
    result: dict[str, set[str]] = {n.id: set() for n in graph.nodes}
    for n in graph.nodes:
        for i in n.inputs:
            if i in nodes and i != n.id:
                result[n.id].add(i)
                result[i].add(n.id)
    return result


def _check_ids(graph: Graph, node_ids: Iterable[str]) -> set[str]:
    ids = set(node_ids)
    known = {n.id for n in graph.nodes}
    unknown = sorted(ids - known)
    if unknown:
        hint = "graph inputs are not op nodes" if set(unknown) & set(graph.input_ids) else None
        raise ProgramError(f"graph {graph.name} has no op node {', '.join(map(repr, unknown))}", hint=hint)
    if not ids:
        raise ProgramError("a region needs at least one op node")
    return ids


def _descendants(graph: Graph, ids: set[str]) -> set[str]:
    """Nodes reachable from ``ids`` by a path of at least one edge."""
    result: set[str] = set()
    for n in graph.nodes:
        if any(i in ids or i in result for i in n.inputs):
            result.add(n.id)
    return result


def _ancestors(graph: Graph, ids: set[str]) -> set[str]:
    """Nodes from which ``ids`` are reachable by a path of at least one edge."""
    result: set[str] = set()
    nodes = {n.id for n in graph.nodes}
    for n in reversed(graph.nodes):
        if n.id in ids or n.id in result:
            result.update(i for i in n.inputs if i in nodes)
    return result


def _escapes(graph: Graph, ids: set[str]) -> set[str]:
    """Outside nodes reachable from the region (paths that have left it)."""
    tainted: set[str] = set()
    for n in graph.nodes:
        if n.id not in ids and any(i in ids or i in tainted for i in n.inputs):
            tainted.add(n.id)
    return tainted


def is_convex(graph: Graph, node_ids: Iterable[str]) -> bool:
    """No path from the set leaves it and comes back."""
    ids = set(node_ids)
    tainted = _escapes(graph, ids)
    return not any(i in tainted for n in graph.nodes if n.id in ids for i in n.inputs)


def is_connected(graph: Graph, node_ids: Iterable[str]) -> bool:
    """The set is one piece through producer/consumer edges between its own
    nodes (two readers of one outside value are not connected by it)."""
    ids = set(node_ids)
    if not ids:
        return False
    nb = _neighbours(graph)
    start = next(iter(ids))
    seen, todo = {start}, [start]
    while todo:
        v = todo.pop()
        for u in nb[v]:
            if u in ids and u not in seen:
                seen.add(u)
                todo.append(u)
    return seen == ids


def convex_closure(graph: Graph, node_ids: Iterable[str]) -> frozenset[str]:
    """The smallest convex set holding ``node_ids``: every node on a path
    between two of them. The closure of a connected set is connected."""
    ids = _check_ids(graph, node_ids)
    return frozenset(ids | (_descendants(graph, ids) & _ancestors(graph, ids)))


def make_region(graph: Graph, node_ids: Iterable[str]) -> Region:
    """The region of ``graph`` made of ``node_ids``; :class:`ProgramError`
    when they are not op nodes of the graph, not connected or not convex."""
    ids = _check_ids(graph, node_ids)
    if not is_connected(graph, ids):
        raise ProgramError(
            f"nodes {sorted(ids)} of {graph.name} are not connected",
            hint="a region is one piece: every node must reach the others through producer/consumer edges "
            "between region nodes",
        )
    if not is_convex(graph, ids):
        missing = sorted(convex_closure(graph, ids) - ids)
        raise ProgramError(
            f"nodes {sorted(ids)} of {graph.name} are not convex: a path leaves the region and re-enters it",
            hint=f"add {', '.join(missing)} (the convex closure) to the region",
        )
    return _build(graph, ids)


def _build(graph: Graph, ids: set[str] | frozenset[str]) -> Region:
    order = tuple(n.id for n in graph.nodes if n.id in ids)
    inputs: list[str] = []
    for n in graph.nodes:
        if n.id in ids:
            for i in n.inputs:
                if i not in ids and i not in inputs:
                    inputs.append(i)
    read_outside = {i for n in graph.nodes if n.id not in ids for i in n.inputs}
    outputs = tuple(v for v in order if v in read_outside or v == graph.output)
    return Region(graph.name, frozenset(ids), order, tuple(inputs), outputs)


# -- choosing regions ---------------------------------------------------------------


def grow_region(
    graph: Graph,
    rng: random.Random,
    p_grow: float = 0.75,
    max_fraction: float = 0.8,
    max_ops: int | None = None,
    start: str | None = None,
) -> Region:
    """A random region, grown as αNAS does.

    Start from ``start`` (or a random op node); then, with probability
    ``p_grow`` each time, add a random neighbour (producer or consumer) of
    the region and take the convex closure. A neighbour whose closure would
    exceed the size limit — ``max_fraction`` of the graph's ops (at least 1)
    and ``max_ops`` if given — is skipped, so the result always respects the
    limit. Growth stops at the first failed coin flip or when no neighbour
    fits. The same ``rng`` state gives the same region.
    """
    if not graph.nodes:
        raise ProgramError(f"graph {graph.name} has no op nodes")
    limit = max(1, int(max_fraction * len(graph.nodes)))
    if max_ops is not None:
        limit = max(1, min(limit, max_ops))
    index = _index(graph)
    nb = _neighbours(graph)
    if start is None:
        start = rng.choice([n.id for n in graph.nodes])
    region: frozenset[str] = frozenset(_check_ids(graph, [start]))
    rejected: set[str] = set()
    while rng.random() < p_grow:
        frontier = sorted({u for v in region for u in nb[v]} - region - rejected, key=index.__getitem__)
        if not frontier:
            break
        pick = rng.choice(frontier)
        grown = convex_closure(graph, region | {pick})
        if len(grown) <= limit:
            region = grown
        else:
            rejected.add(pick)
    return _build(graph, region)


def enumerate_regions(graph: Graph, max_ops: int) -> Iterator[Region]:
    """Every connected convex region with at most ``max_ops`` nodes, each
    once: by size, then by the statement positions of its nodes.

    The number of connected node sets grows exponentially with ``max_ops``
    (a node with d neighbours alone gives 2^d sets of size d+1), and all of
    them are built before the first is yielded: keep ``max_ops`` small
    (≤ 6 or so for a block body).
    """
    if max_ops < 1:
        return
    index = _index(graph)
    nb = _neighbours(graph)
    level = {frozenset([n.id]) for n in graph.nodes}
    connected: set[frozenset[str]] = set(level)
    for _ in range(max_ops - 1):
        nxt = set()
        for s in level:
            for u in {u for v in s for u in nb[v]} - s:
                t = s | {u}
                if t not in connected:
                    nxt.add(t)
        connected |= nxt
        level = nxt
    convex = [s for s in connected if is_convex(graph, s)]
    convex.sort(key=lambda s: (len(s), sorted(index[v] for v in s)))
    for s in convex:
        yield _build(graph, s)


def _resolve(graph: Graph, ref: str) -> str:
    ids = [n.id for n in graph.nodes]
    if ref in ids:
        return ref
    named = [n.id for n in graph.nodes if n.name == ref]
    if len(named) == 1:
        return named[0]
    if named:
        raise ProgramError(f"{ref!r} names several statements of {graph.name}", hint=f"use a node id: {', '.join(named)}")
    raise ProgramError(f"graph {graph.name} has no statement {ref!r}", hint=f"its node ids are {', '.join(ids)}")


def region_by_range(graph: Graph, first: str, last: str) -> Region:
    """The region of the statements from ``first`` to ``last`` (node ids, or
    names bound once), closed under convexity (a statement range is convex
    already; it must also be connected)."""
    index = _index(graph)
    a, b = index[_resolve(graph, first)], index[_resolve(graph, last)]
    if a > b:
        raise ProgramError(f"statement {first!r} comes after {last!r} in {graph.name}")
    ids = {n.id for n in graph.nodes[a : b + 1]}
    return make_region(graph, convex_closure(graph, ids))


# -- instances and extraction ----------------------------------------------------------


def instances_of(program: Program, graph_name: str, model: Instance | None = None) -> list[Instance]:
    """The distinct analysed instances of a graph: ``[analyze(program)]`` for
    the model, every distinct (bindings, input shapes) instance for a block,
    in the order of first call. ``model`` reuses an existing analysis."""
    root = model if model is not None else analyze(program)
    if graph_name == program.model.name:
        return [root]
    program.block(graph_name)  # KeyError for an unknown block
    found: list[Instance] = []
    seen: set[int] = set()
    visited: set[int] = set()

    def visit(inst: Instance) -> None:
        if id(inst) in visited:
            return
        visited.add(id(inst))
        for n in inst.graph.nodes:
            sub = inst.calls.get(n.id)
            if sub is None:
                continue
            if sub.graph.name == graph_name and id(sub) not in seen:
                seen.add(id(sub))
                found.append(sub)
            visit(sub)

    visit(root)
    return found


def _graph_of(program: Program, graph_name: str) -> Graph:
    if graph_name == program.model.name:
        return program.model
    return program.block(graph_name)


def extract(program: Program, graph_name: str, region: Region, instance: Instance) -> dict[str, Program]:
    """The region as standalone programs, one per region output.

    Each program is a model (named ``<graph>_<output>``, no int parameters)
    whose inputs are the region inputs that output needs (all of them when
    it needs none: a `param` value), with the shapes
    they have in ``instance`` (an analysed instance of the graph, see
    :func:`instances_of`); whose body is the region nodes the output needs,
    with block-parameter expressions evaluated under the instance's bindings;
    and whose output is that region output. The blocks the body calls
    (transitively) are kept unchanged.

    Value ids are the original graph's ids (inputs too), and every node is
    named by its id, so that ``parse(print_program(p)) == p`` and the shapes
    of ``analyze(p)`` equal ``instance.shapes`` value by value. A region
    without inputs (a lone ``param``) raises :class:`ProgramError`.
    """
    graph = _graph_of(program, graph_name)
    if instance.graph.name != graph_name:
        raise ValueError(f"the instance is of {instance.graph.name}, not {graph_name}")
    if region.graph != graph_name:
        raise ValueError(f"the region is in {region.graph}, not {graph_name}")
    nodes = {n.id: n for n in graph.nodes}
    result: dict[str, Program] = {}
    for out in region.outputs:
        needed: set[str] = set()
        todo = [out]
        while todo:
            v = todo.pop()
            if v in needed or v not in region.nodes:
                continue
            needed.add(v)
            todo.extend(nodes[v].inputs)
        body = []
        for n in graph.nodes:
            if n.id in needed:
                attrs = tuple((k, evaluate(v, instance.bindings)) for k, v in n.attrs)
                body.append(Node(n.id, n.op, n.inputs, attrs, n.id))
        read = [v for v in region.inputs if any(v in n.inputs for n in body)]
        if not read:
            # a model needs a tensor input: a constant output (`param`) keeps the region's
            if not region.inputs:
                raise ProgramError(
                    f"region {list(region.order)} of {graph_name} reads no tensor: it cannot be a program",
                    hint="a program needs a tensor input; grow the region to include a reader of an input",
                )
            read = list(region.inputs)
        inputs = tuple(Input(v, tuple(instance.shapes[v])) for v in read)
        used = _called_blocks(program, body)
        blocks = tuple(b for b in program.blocks if b.name in used)
        name = f"{graph_name}_{out}"
        while name in program.block_names:
            name += "_region"
        model = Graph("model", name, inputs, (), tuple(body), out)
        result[out] = Program(model, blocks, source=f"<region of {graph_name}>")
    return result


def _called_blocks(program: Program, body: list[Node]) -> set[str]:
    names = set(program.block_names)
    used: set[str] = set()
    todo = [n.op for n in body if n.op in names]
    while todo:
        b = todo.pop()
        if b in used:
            continue
        used.add(b)
        todo.extend(n.op for n in program.block(b).nodes if n.op in names)
    return used


# -- whole instances as programs ------------------------------------------------------------


def instance_program(program: Program, inst: Instance, name: str | None = None) -> Program:
    """The block instance ``inst`` of ``program`` as a standalone program."""
    g = inst.graph
    inputs = tuple(Input(i.id, tuple(inst.shapes[i.id]), i.loc) for i in g.inputs)
    params = tuple(IntParam(p.name, inst.bindings[p.name], p.loc) for p in g.params)
    model = replace(g, kind="model", name=name or f"{g.name}_instance", inputs=inputs, params=params)
    return replace(program, model=model, text="")


def block_instances(program: Program, root: Instance | None = None) -> list[Instance]:
    """Every distinct block instance reached from the model, callees first."""
    seen: dict[int, Instance] = {}

    def visit(inst: Instance) -> None:
        for sub in inst.calls.values():
            if id(sub) not in seen:
                visit(sub)
                seen[id(sub)] = sub

    visit(root or analyze(program))
    return list(seen.values())
