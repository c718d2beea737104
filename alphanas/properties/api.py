"""One entry point for the properties of a region: shapes, depth, mixing, resources.

A stage that needs a region's properties (the mutator, the synthesizer, the
``alphanas properties`` command) calls :func:`region_properties` for a region
in one analysed instance of its graph, :func:`properties_in_every_instance`
for a block region in every distinct instance of the block (αNAS infers a
block region's properties in the context of each instance: the same body
has other shapes in another stage), or :func:`whole_graph_properties` for a
whole block instance or the model body.

**Positions.** A :class:`RegionProperties` lists its region's inputs and
outputs in the region's order (``region.inputs``, ``region.outputs``); the
shapes are by those positions, and the depth and mixing pairs connect those
inputs and outputs. A region is extracted as one program per output
(:func:`alphanas.lang.regions.extract`); each program's depth and mixing are
inferred and the per-output results are combined into one :class:`Depth`
and one :class:`Mixing` of the whole region. The region of a whole graph
lists the graph's inputs in signature order.

**The combined order.** :func:`satisfies` holds when the shapes are equal
(exact, see :mod:`alphanas.properties.shape`), the depth satisfies the
target depth (a lower bound per pair) and the mixing the target mixing
(at least as much per entry). :func:`distance` is the weighted sum

    3·d_shape + 1·d_depth + 1·d_mixing     (weights: :data:`DEFAULT_WEIGHTS`)

of the three distances, each in [0, 1] and zero iff its property is
satisfied, so the sum is zero iff :func:`satisfies`; the shape weight is
larger than the other two together, so a candidate of the wrong shape is
always farther than any of the right shape. Resources are reported, not
ordered. :func:`mutate` mutates depth and mixing with configurable
probabilities and keeps the shapes (and the region and resources).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.errors import ProgramError
from alphanas.lang.ir import Graph, Program
from alphanas.lang.regions import Region, extract, instances_of, make_region, region_by_range
from alphanas.properties import axis_names
from alphanas.properties import depth as depth_mod
from alphanas.properties import mixing as mixing_mod
from alphanas.properties import shape as shape_mod
from alphanas.properties.depth import Depth, infer_depth
from alphanas.properties.mixing import Mixing, infer_mixing
from alphanas.properties.resources import Resources, region_resources
from alphanas.properties.shape import Shapes, infer_shapes

__all__ = [
    "DEFAULT_WEIGHTS",
    "RegionProperties",
    "distance",
    "graph_of",
    "mutate",
    "parse_region",
    "properties_in_every_instance",
    "region_properties",
    "render",
    "satisfies",
    "to_json",
    "whole_graph_properties",
]

#: weights of the shape, depth and mixing distances in :func:`distance`
DEFAULT_WEIGHTS: Mapping[str, float] = {"shape": 3.0, "depth": 1.0, "mixing": 1.0}


@dataclass(frozen=True)
class RegionProperties:
    """The properties of one region in one instance of its graph."""

    region: Region
    shapes: Shapes
    depth: Depth
    mixing: Mixing
    resources: Resources


# -- looking things up -------------------------------------------------------------------


def graph_of(program: Program, graph_name: str) -> Graph:
    """The model (by its name) or the block ``graph_name``; a
    :class:`ProgramError` naming the closest block when there is none."""
    if graph_name == program.model.name:
        return program.model
    try:
        return program.block(graph_name)
    except KeyError:
        names = list(program.block_names)
        close = difflib.get_close_matches(graph_name, names, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        listing = f"its blocks are {', '.join(names)}" if names else "it has no blocks"
        raise ProgramError(
            f"program {program.model.name} has no block {graph_name!r}",
            hint=f"{guess}{listing} (leave out --block for the model body)",
        ) from None


def _check_ref(graph: Graph, ref: str) -> None:
    known = [n.id for n in graph.nodes] + sorted({n.name for n in graph.nodes if n.name})
    if ref in known:
        return
    if ref in graph.input_ids:
        raise ProgramError(f"{ref!r} is an input of {graph.name}, not an op", hint="a region is made of op nodes")
    close = difflib.get_close_matches(ref, known, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    raise ProgramError(
        f"graph {graph.name} has no op {ref!r}",
        hint=f"{guess}its node ids are {', '.join(n.id for n in graph.nodes)}",
    )


def parse_region(graph: Graph, spec: str | None) -> Region:
    """A region from text: ``FIRST..LAST`` (statements from FIRST to LAST,
    node ids or names bound once, see :func:`~alphanas.lang.regions.region_by_range`),
    ``ID,ID,...`` (exactly those op nodes, which must be connected and
    convex), or None for the whole graph."""
    if spec is None:
        return whole_region(graph)
    if ".." in spec:
        first, _, last = spec.partition("..")
        first, last = first.strip(), last.strip()
        if not first or not last or ".." in last:
            raise ProgramError(f"bad region {spec!r}", hint="write FIRST..LAST, e.g. y_conv2d..out")
        _check_ref(graph, first)
        _check_ref(graph, last)
        position = {n.id: k for k, n in enumerate(graph.nodes)}
        named: dict[str, list[int]] = {}
        for k, n in enumerate(graph.nodes):
            if n.name:
                named.setdefault(n.name, []).append(k)
        a, b = (position.get(r, min(named.get(r, [0]))) for r in (first, last))
        if a > b:
            raise ProgramError(
                f"statement {first!r} comes after {last!r} in {graph.name}",
                hint=f"write the earlier statement first: {last}..{first}",
            )
        return region_by_range(graph, first, last)
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    if not ids:
        raise ProgramError(f"bad region {spec!r}", hint="write FIRST..LAST or ID,ID,...")
    for ref in ids:
        if ref not in {n.id for n in graph.nodes}:
            _check_ref(graph, ref)  # an error, unless ref is a name: resolved below
    named = {n.name: n.id for n in graph.nodes if n.name}
    return make_region(graph, [r if r in {n.id for n in graph.nodes} else named[r] for r in ids])


def whole_region(graph: Graph) -> Region:
    """The region of every op node of ``graph``, reading the graph's inputs
    (in signature order) and writing its output."""
    region = make_region(graph, [n.id for n in graph.nodes])
    return replace(region, inputs=graph.input_ids, outputs=(graph.output,))


# -- inference -----------------------------------------------------------------------------


def _remap(key: tuple[Any, Any], part_inputs: tuple[str, ...], out_pos: int, region: Region) -> tuple[Any, Any]:
    """A pair of a per-output program as a pair of the region. The program of
    one output reads only the region inputs that output needs, so its input
    index ``a`` is the region input ``part_inputs[a]``; its output is the
    region's output ``out_pos``. (Pairs keyed by value ids stay as they are.)"""
    a, b = key
    if isinstance(a, int):
        a = region.inputs.index(part_inputs[a])
    if isinstance(b, int):
        b = out_pos
    return a, b


def region_properties(program: Program, graph_name: str, region: Region, instance: Instance) -> RegionProperties:
    """The properties of ``region`` (of the graph ``graph_name``) in the
    analysed ``instance`` of that graph (see :func:`~alphanas.lang.regions.instances_of`)."""
    parts = extract(program, graph_name, region, instance)
    depth_values: dict[Any, int] = {}
    mixing_values: dict[Any, Any] = {}
    outputs = []
    for pos, out in enumerate(region.outputs):
        part = parts[out]
        inst = analyze(part)
        part_inputs = part.model.input_ids
        for key, d in infer_depth(part, inst).items():
            depth_values[_remap(key, part_inputs, pos, region)] = d
        for key, m in infer_mixing(part, inst).items():
            mixing_values[_remap(key, part_inputs, pos, region)] = m
        outputs.append(tuple(inst.output_shape))
    shapes = Shapes(tuple(tuple(instance.shapes[v]) for v in region.inputs), tuple(outputs))
    labels = (tuple(region.inputs), tuple(region.outputs))
    return RegionProperties(
        region,
        shapes,
        Depth(depth_values, labels),
        Mixing.of(mixing_values, labels),
        region_resources(program, graph_name, region, instance),
    )


def properties_in_every_instance(program: Program, graph_name: str, region: Region) -> list[RegionProperties]:
    """The properties of a region in every distinct instance of its graph
    (one for the model), in the order of first call."""
    graph_of(program, graph_name)
    return [region_properties(program, graph_name, region, inst) for inst in instances_of(program, graph_name)]


def whole_graph_properties(program: Program, instance: Instance) -> RegionProperties:
    """The properties of a whole analysed graph: a block instance (from
    :func:`~alphanas.lang.regions.block_instances`) or the model (``analyze(program)``).
    Inferred on the instance directly, without extracting a program."""
    graph = instance.graph
    region = whole_region(graph)
    return RegionProperties(
        region,
        infer_shapes(program, instance),
        infer_depth(program, instance),
        infer_mixing(program, instance),
        region_resources(program, graph.name, region, instance),
    )


# -- order, distance, mutation ---------------------------------------------------------------


def satisfies(candidate: RegionProperties, target: RegionProperties) -> bool:
    """Equal shapes, and depth and mixing satisfying the target's."""
    return (
        shape_mod.satisfies(candidate.shapes, target.shapes)
        and depth_mod.satisfies(candidate.depth, target.depth)
        and mixing_mod.satisfies(candidate.mixing, target.mixing)
    )


def distance(
    candidate: RegionProperties, target: RegionProperties, weights: Mapping[str, float] | None = None
) -> float:
    """``w_shape·d_shape + w_depth·d_depth + w_mixing·d_mixing`` (weights
    default to :data:`DEFAULT_WEIGHTS`; all must be positive for the sum to be
    zero iff :func:`satisfies`)."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    return (
        w["shape"] * shape_mod.distance(candidate.shapes, target.shapes)
        + w["depth"] * depth_mod.distance(candidate.depth, target.depth)
        + w["mixing"] * mixing_mod.distance(candidate.mixing, target.mixing)
    )


def mutate(
    target: RegionProperties,
    rng: Any,
    depth_delta: int = 2,
    p_depth: float = 0.5,
    p_mixing: float = 0.2,
    p_drop: float = 0.0,
    p_lift: float = 0.0,
) -> RegionProperties:
    """A new target: each depth pair moves by ±1..``depth_delta`` with
    probability ``p_depth``; each nonzero mixing entry drops to NONE with
    probability ``p_mixing``, each mixing pair is dropped with probability
    ``p_drop`` and each entry between per-sample axes rises a level with
    probability ``p_lift``; shapes, region and resources are kept. ``rng`` is a
    :class:`random.Random`: the same seed gives the same result."""
    return replace(
        target,
        shapes=shape_mod.mutate(target.shapes, rng),
        depth=depth_mod.mutate(target.depth, rng, delta_max=depth_delta, p=p_depth),
        mixing=mixing_mod.mutate(target.mixing, rng, p=p_mixing, drop=p_drop, lift=p_lift),
    )


# -- output --------------------------------------------------------------------------------


def _label(key: tuple[Any, Any], region: Region) -> tuple[int, str, int, str]:
    """(input position, input id, output position, output id) of a pair key."""
    a, b = key
    if isinstance(a, int):
        ia, a = a, region.inputs[a]
    else:
        ia = region.inputs.index(a) if a in region.inputs else -1
    if isinstance(b, int):
        ib, b = b, region.outputs[b]
    else:
        ib = region.outputs.index(b) if b in region.outputs else -1
    return ia, str(a), ib, str(b)


def _by_position(items: Any, region: Region) -> list[tuple[tuple[int, str, int, str], Any]]:
    """Pairs with their labels, ordered by (input position, output position)."""
    labelled = [(_label(key, region), v) for key, v in items]
    return sorted(labelled, key=lambda t: (t[0][0], t[0][2], t[0][1], t[0][3]))


def _level(v: Any) -> str:
    return str(v) if int(v) else "none"


def to_json(props: RegionProperties) -> dict[str, Any]:
    """The properties as JSON-able data."""
    r = props.region
    res = props.resources
    depth = []
    for (ia, a, ib, b), d in _by_position(props.depth.items(), r):
        depth.append({"input": a, "input_index": ia, "output": b, "output_index": ib, "depth": d})
    mixing = []
    for (ia, a, ib, b), m in _by_position(props.mixing.items(), r):
        mixing.append({
            "input": a, "input_index": ia, "output": b, "output_index": ib,
            "rows": list(axis_names(len(m) - 1)), "columns": list(axis_names(len(m[0]) - 1)),
            "matrix": [[_level(v) for v in row] for row in m],
        })
    return {
        "region": {"graph": r.graph, "nodes": list(r.order), "inputs": list(r.inputs), "outputs": list(r.outputs)},
        "shapes": {"inputs": [list(s) for s in props.shapes.inputs], "outputs": [list(s) for s in props.shapes.outputs]},
        "depth": depth,
        "mixing": mixing,
        "resources": {
            "params": int(res.params), "flops": int(res.flops), "matmul_flops": int(res.matmul_flops),
            "other_flops": int(res.other_flops), "activations": int(res.activations),
            "peak_memory": int(res.peak_memory),
        },
    }


def _fmt(s: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, s)) + "]"


def render(props: RegionProperties) -> str:
    """Readable text: shapes, depth per pair, mixing tables, resources."""
    r = props.region
    ops = f"{r.order[0]}..{r.order[-1]}" if len(r.order) > 1 else r.order[0]
    lines = [f"region of {r.graph}: {ops} ({len(r)} ops)", "", "shapes (per sample)"]
    for v, s in zip(r.inputs, props.shapes.inputs):
        lines.append(f"  input  {v}: {_fmt(s)}")
    for v, s in zip(r.outputs, props.shapes.outputs):
        lines.append(f"  output {v}: {_fmt(s)}")
    lines += ["", "depth (most alternations of linear and nonlinear ops on a path)"]
    if not len(props.depth):
        lines.append("  (no input reaches an output)")
    for (_, a, _, b), d in _by_position(props.depth.items(), r):
        lines.append(f"  {a} -> {b}: {d}")
    lines += ["", "mixing (rows: input axes, columns: output axes)"]
    for k, ((_, a, _, b), m) in enumerate(_by_position(props.mixing.items(), r)):
        if k:
            lines.append("")
        rows, cols = axis_names(len(m) - 1), axis_names(len(m[0]) - 1)
        w = max(len(s) for s in (*rows, *cols, "many"))
        lines.append(f"  {a} -> {b}")
        lines.append("  " + " " * w + "".join(f"  {c:>{w}}" for c in cols))
        for name, row in zip(rows, m):
            lines.append(f"  {name:<{w}}" + "".join(f"  {v!s:>{w}}" for v in row))
    res = props.resources
    lines += [
        "",
        "resources (per sample)",
        f"  parameters:  {int(res.params):,}",
        f"  FLOPs:       {int(res.flops):,} (conv/matmul {int(res.matmul_flops):,} + other {int(res.other_flops):,})",
        f"  peak memory: {int(res.peak_memory):,} elements (live activations)",
    ]
    return "\n".join(lines)
