"""Property-guided mutation (αNAS): choose a region, abstract it into
properties, mutate them, synthesize a replacement, splice it in.

One child, step by step (:class:`PropertyMutation`):

1. **Choose** a graph (the model body or a block) and grow a random region
   in it (:func:`alphanas.lang.regions.grow_region`, αNAS's growth). Regions with
   more than one output, or holding a learned tensor (an op with no tensor
   input), are drawn again: the synthesizer makes one-output regions of ops
   that read tensors. So are regions holding a block call: as in αNAS, a
   block is mutated inside its own definition (and duplicated or deleted
   whole), not replaced from the outside.
2. **Abstract**: infer the region's properties in the context of every
   distinct instance of its graph, and take one instance's
   (:func:`alphanas.properties.api.properties_in_every_instance`).
3. **Mutate** the properties (depth ±1..2, mixing entries relaxed or whole
   pairs dropped; optionally, entries raised a level: ``p_lift``), keep
   the shapes; a global parameter or FLOP budget becomes the region's budget
   (what is left of it once the rest of the program is counted).
4. **Synthesize** a region meeting the mutated properties with
   :func:`synth.synthesize` (re-verified there).
5. **Splice**: a block is copied under a new name with the region replaced,
   and the instance's calls call the copy (each other instance too with
   probability ``p_share``, when its shapes allow it): as in αNAS, a
   mutation of a block is seen by the instance it was made for.
6. **Re-verify** the child: printed, re-parsed, shape-checked, and not
   equal to its parent up to canonical form.

Block duplication and deletion (αNAS's other two operators) insert a second
call of a shape-preserving block call, or remove one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from alphanas import ops
from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.canonical import program_hash
from alphanas.lang.checked import Checked, check
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Graph, Node, Program, Sym
from alphanas.lang.regions import Region, block_instances, grow_region, instances_of
from alphanas.properties import api as props_api
from alphanas.properties.api import RegionProperties
from alphanas.variation.base import NO_CONTEXT, VARIATIONS, Child, VariationContext, VariationFailed
from synth.work import DEFAULT_STEPS

if TYPE_CHECKING:
    from synth.synthesize import Space as SynthSpace

__all__ = [
    "MutationSettings",
    "Pick",
    "PropertyMutation",
    "Proposal",
    "delete_block",
    "duplicate_block",
    "mutate_target",
    "pick_region",
    "propose",
    "size_limit",
    "splice",
]


@dataclass(frozen=True)
class MutationSettings:
    """The knobs of property-guided mutation (defaults: αNAS's CIFAR ones)."""

    p_duplicate: float = 0.2
    p_delete: float = 0.2
    p_grow: float = 0.75
    max_fraction: float = 0.8
    depth_delta: int = 2
    p_depth: float = 0.5
    p_mixing: float = 0.2
    #: a mixing pair (one input to one output) is dropped from the target
    #: whole: αNAS's published mutation, which deletes pairings
    p_drop: float = 0.2
    #: a mixing entry between per-sample axes asks for one level more
    #: (not in published αNAS, whose mixing targets only relax)
    p_lift: float = 0.0
    #: in a space whose rule's derivations are listed, the derivation meeting
    #: the target most tightly is taken with this probability (else any)
    p_tight: float = 1.0
    #: the same for a parent drawn for the first objective alone (None: ``p_tight``).
    #: A lower value lets such children drift: properties are lower bounds, so
    #: the derivations meeting a target lean to the rich end of the space
    p_tight_first_objective: float | None = None
    #: other instances of a mutated block take the new block too
    p_share: float = 0.2
    #: structures may have this many ops more than the region they replace
    slack: int = 2
    #: the synthesizer's budget, in work (:mod:`synth.work`): the same children on any machine
    synth_steps: int = DEFAULT_STEPS
    #: seconds: a safety net only (a synthesis it stops is marked ``timed_out`` in the child's record)
    synth_time_limit: float = 30.0
    #: global budgets of the whole program (None: none)
    max_params: int | None = None
    max_flops: int | None = None
    attempts: int = 8

    def __post_init__(self) -> None:
        # the registry turns a ValueError into a config error at the option's key
        for name in ("p_duplicate", "p_delete", "p_grow", "p_depth", "p_mixing", "p_drop", "p_lift", "p_tight",
                     "p_tight_first_objective", "p_share", "max_fraction"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} = {value} is not a probability: it must be between 0 and 1")
        if self.p_duplicate + self.p_delete > 1.0:
            raise ValueError(f"p_duplicate + p_delete = {self.p_duplicate + self.p_delete} is more than 1: "
                             "they are the shares of the draws that duplicate or delete a block")
        if self.max_fraction == 0.0:
            raise ValueError("max_fraction = 0 leaves no region to mutate: it must be above 0")
        for name in ("depth_delta", "slack"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)} must be 0 or more")
        for name in ("synth_steps", "attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)} must be at least 1")
        if not self.synth_time_limit > 0:
            raise ValueError(f"synth_time_limit = {self.synth_time_limit} must be a positive number of seconds")
        for name in ("max_params", "max_flops"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)} must be at least 1")


@dataclass(frozen=True)
class Pick:
    """A region chosen for mutation, in one instance of its graph."""

    graph: str
    region: Region
    instance: Instance


@dataclass(frozen=True)
class Proposal:
    """A chosen region, its properties and the mutated synthesis problem."""

    pick: Pick
    properties: RegionProperties
    target: RegionProperties
    problem: Any  # synth.Problem
    max_ops: int


def _holds_learned_tensor(graph: Graph, region: Region) -> bool:
    nodes = {n.id: n for n in graph.nodes}
    for v in region.order:
        op = ops.lookup(nodes[v].op)
        if op is not None and op.arity == 0:
            return True
    return False


def pick_region(program: Program, rng: random.Random, settings: MutationSettings = MutationSettings()) -> Pick:
    """A random region to mutate (see the module docstring, step 1)."""
    graphs = [g for g in program.graphs() if g.nodes]
    for _ in range(64):
        g = rng.choice(graphs)
        region = grow_region(g, rng, p_grow=settings.p_grow, max_fraction=settings.max_fraction)
        if len(region.outputs) != 1 or not region.inputs or _holds_learned_tensor(g, region):
            continue
        if any(program.block_names and n in region.nodes and g.node(n).op in program.block_names for n in region.order):
            continue  # block calls are mutated inside their block, or duplicated and deleted whole
        instances = instances_of(program, g.name)
        if not instances:
            continue
        return Pick(g.name, region, rng.choice(instances))
    raise VariationFailed("no region with one output and tensor inputs was found in 64 draws")


def flat_size(program: Program, pick: Pick) -> int:
    """The number of library ops the region runs (a block call counts its body)."""
    total = 0
    for v in pick.region.order:
        sub = pick.instance.calls.get(v)
        total += sum(1 for _ in sub.walk()) if sub is not None else 1
    return total


def size_limit(program: Program, pick: Pick, target: RegionProperties, slack: int) -> int:
    """The most ops a replacement may have: the region's size plus ``slack``,
    and enough for its target depth."""
    deepest = max((d for _, d in target.depth.items()), default=0)
    return max(flat_size(program, pick) + slack, deepest + 1, 2)


def region_budgets(program: Program, pick: Pick, props: RegionProperties, settings: MutationSettings) -> Any:
    """What the global budgets leave for the region."""
    from synth import Budgets

    if settings.max_params is None and settings.max_flops is None:
        return Budgets()
    total = analyze(program).total
    res = props.resources
    params = flops = None
    if settings.max_params is not None:
        params = max(0, settings.max_params - (int(total.params) - int(res.params)))
    if settings.max_flops is not None:
        flops = max(0, settings.max_flops - (int(total.flops) - int(res.flops)))
    return Budgets(params=params, flops=flops)


def mutate_target(props: RegionProperties, rng: random.Random, settings: MutationSettings) -> RegionProperties:
    """The region's properties mutated with the settings' probabilities."""
    return props_api.mutate(props, rng, depth_delta=settings.depth_delta, p_depth=settings.p_depth,
                            p_mixing=settings.p_mixing, p_drop=settings.p_drop, p_lift=settings.p_lift)


def propose(program: Program, rng: random.Random, settings: MutationSettings = MutationSettings()) -> Proposal:
    """Steps 1–3: a region, its properties, and the mutated problem."""
    from synth import Problem

    pick = pick_region(program, rng, settings)
    props = props_api.region_properties(program, pick.graph, pick.region, pick.instance)
    target = mutate_target(props, rng, settings)
    problem = Problem.from_properties(target, region_budgets(program, pick, props, settings))
    return Proposal(pick, props, target, problem, size_limit(program, pick, target, settings.slack))


def original_hashes(program: Program, pick: Pick) -> set[str]:
    """The canonical hash of the region as it is: a replacement equal to it
    would give a child equal to its parent."""
    from alphanas.lang.regions import extract

    parts = extract(program, pick.graph, pick.region, pick.instance)
    return {program_hash(parts[pick.region.outputs[0]])}


# -- splicing ---------------------------------------------------------------------------------


def _lift(value: Any, bindings: Mapping[str, int]) -> Any:
    """A solved size equal to exactly one of the block's parameters in this
    instance is written as that parameter, so the block stays parametric."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    names = [k for k, v in bindings.items() if v == value]
    return Sym(names[0]) if len(names) == 1 else value


def _fresh(graph: Graph, program: Program, stem: str) -> str:
    taken = {n.id for n in graph.nodes} | {n.name for n in graph.nodes if n.name} | set(graph.input_ids)
    taken |= {p.name for p in graph.params}
    k = 1
    while f"{stem}{k}" in taken:
        k += 1
    return f"{stem}{k}"


def replace_region(graph: Graph, program: Program, region: Region, body: Program, bindings: Mapping[str, int]) -> Graph:
    """``graph`` with ``region`` replaced by the synthesized ``body`` (a
    model over the region's inputs, in order)."""
    rename: dict[str, str] = {i: v for i, v in zip(body.model.input_ids, region.inputs)}
    new_nodes: list[Node] = []
    scratch = graph
    for n in body.model.nodes:
        node_id = _fresh(scratch, program, "m")
        rename[n.id] = node_id
        node = Node(node_id, n.op, tuple(rename[i] for i in n.inputs),
                    tuple((k, _lift(v, bindings)) for k, v in n.attrs), None)
        new_nodes.append(node)
        scratch = replace(scratch, nodes=(*scratch.nodes, node))
    out = rename[body.model.output]
    old_out = region.outputs[0]
    kept: list[Node] = []
    for n in graph.nodes:
        if n.id in region.nodes:
            if n.id == old_out:
                kept.extend(new_nodes)
            continue
        kept.append(replace(n, inputs=tuple(out if i == old_out else i for i in n.inputs)))
    output = out if graph.output == old_out else graph.output
    return replace(graph, nodes=tuple(_topological(kept, graph.input_ids)), output=output)


def _topological(nodes: Sequence[Node], inputs: Sequence[str]) -> list[Node]:
    """A stable topological order: each node as early as its position allows."""
    done = set(inputs)
    pending = list(nodes)
    result: list[Node] = []
    while pending:
        for k, n in enumerate(pending):
            if all(i in done for i in n.inputs):
                result.append(n)
                done.add(n.id)
                del pending[k]
                break
        else:
            raise VariationFailed("the spliced graph has a cycle")
    return result


def _call_sites(program: Program, target: Instance) -> list[tuple[str, str]]:
    """(graph, node id) of every call whose instance is ``target``."""
    sites: list[tuple[str, str]] = []
    seen: set[int] = set()

    key = _instance_key(target)

    def visit(inst: Instance) -> None:
        if id(inst) in seen:
            return
        seen.add(id(inst))
        for node_id, sub in inst.calls.items():
            if _instance_key(sub) == key and (inst.graph.name, node_id) not in sites:
                sites.append((inst.graph.name, node_id))
            visit(sub)

    visit(analyze(program))
    return sites


def _instance_key(inst: Instance) -> tuple:
    """What makes an instance distinct: its block, bindings and input shapes
    (analyses build new Instance objects; these stay equal)."""
    return (inst.graph.name, tuple(sorted(inst.bindings.items())),
            tuple(tuple(inst.shapes[i]) for i in inst.graph.input_ids))


def _new_block_name(program: Program, name: str) -> str:
    stem = name.rsplit("_m", 1)[0] if "_m" in name and name.rsplit("_m", 1)[1].isdigit() else name
    k = 1
    taken = set(program.block_names) | {program.model.name}
    while f"{stem}_m{k}" in taken:
        k += 1
    return f"{stem}_m{k}"


def _drop_unused(program: Program) -> Program:
    used: set[str] = set()
    todo = [program.model]
    names = set(program.block_names)
    while todo:
        g = todo.pop()
        for n in g.nodes:
            if n.op in names and n.op not in used:
                used.add(n.op)
                todo.append(program.block(n.op))
    return replace(program, blocks=tuple(b for b in program.blocks if b.name in used))


def _recall(program: Program, sites: Sequence[tuple[str, str]], new_name: str) -> Program:
    """Make the call nodes at ``sites`` call ``new_name``."""
    graphs = []
    for g in program.graphs():
        ids = {nid for gname, nid in sites if gname == g.name}
        graphs.append(replace(g, nodes=tuple(replace(n, op=new_name) if n.id in ids else n for n in g.nodes))
                      if ids else g)
    return replace(program, blocks=tuple(graphs[:-1]), model=graphs[-1])


def splice(program: Program, pick: Pick, body: Program, rng: random.Random, p_share: float = 0.2) -> Program:
    """The child: the region replaced by ``body`` (step 5 of the module
    docstring). The result is re-verified by :func:`checked_child`."""
    graph = props_api.graph_of(program, pick.graph)
    new_graph = replace_region(graph, program, pick.region, body, pick.instance.bindings)
    if graph.kind == "model":
        return _drop_unused(replace(program, model=new_graph))
    name = _new_block_name(program, graph.name)
    new_block = replace(new_graph, name=name)
    blocks = list(program.blocks)
    blocks.insert(blocks.index(graph) + 1, new_block)
    child = replace(program, blocks=tuple(blocks))
    sites = _call_sites(program, pick.instance)
    others = [
        s for inst in instances_of(program, graph.name)
        if _instance_key(inst) != _instance_key(pick.instance) and rng.random() < p_share
        for s in _call_sites(program, inst)
    ]
    child = _recall(child, sites, name)
    if others:
        shared = _recall(child, others, name)
        try:
            analyze(shared)
            child = shared
        except AlphanasError:
            pass  # the new block does not fit those instances' shapes: they keep the old one
    return _drop_unused(child)


def checked_child(parent: Program, child: Program, label: str = "<child>") -> Checked:
    """The child checked once (printed, re-parsed as file ``label``,
    shape-checked, hashed: :func:`alphanas.lang.checked.check`);
    VariationFailed if it fails to check or equals its parent up to
    canonical form."""
    try:
        checked = check(child, label)
    except AlphanasError as err:
        raise VariationFailed(f"the child does not check: {err.message}") from err
    if checked.hash == program_hash(parent):
        raise VariationFailed("the child equals its parent up to canonical form")
    return checked


# -- block duplication and deletion --------------------------------------------------------


def _shape_preserving_calls(program: Program) -> list[tuple[str, Node]]:
    """Block calls (in any graph) whose one input has the shape of their output."""
    found = []
    names = set(program.block_names)
    root = analyze(program)
    for inst in [root, *block_instances(program, root)]:
        for n in inst.graph.nodes:
            preserving = n.op in names and len(n.inputs) == 1 and inst.shapes[n.inputs[0]] == inst.shapes[n.id]
            if preserving and (inst.graph.name, n) not in found:
                found.append((inst.graph.name, n))
    return found


def _choose_call(program: Program, rng: random.Random, what: str) -> tuple[str, Node, Graph]:
    """A random shape-preserving block call: (graph name, call node, graph)."""
    calls = _shape_preserving_calls(program)
    if not calls:
        raise VariationFailed(f"no shape-preserving block call to {what}")
    gname, call = rng.choice(calls)
    return gname, call, props_api.graph_of(program, gname)


def duplicate_block(program: Program, rng: random.Random) -> tuple[Program, dict[str, Any]]:
    """A second call of a shape-preserving block call, right after it."""
    gname, call, g = _choose_call(program, rng, "duplicate")
    copy_id = _fresh(g, program, f"{call.id}_dup")
    copy = replace(call, id=copy_id, inputs=(call.id,), name=None)
    nodes: list[Node] = []
    for n in g.nodes:
        nodes.append(n)
        if n is call:
            nodes.append(copy)
        elif call.id in n.inputs:
            nodes[-1] = replace(n, inputs=tuple(copy_id if i == call.id else i for i in n.inputs))
    output = copy_id if g.output == call.id else g.output
    new = replace(g, nodes=tuple(nodes), output=output)
    return _put(program, new), {"graph": gname, "call": call.id, "block": call.op}


def delete_block(program: Program, rng: random.Random) -> tuple[Program, dict[str, Any]]:
    """Remove a shape-preserving block call, its users reading its input."""
    gname, call, g = _choose_call(program, rng, "delete")
    src = call.inputs[0]
    nodes = tuple(replace(n, inputs=tuple(src if i == call.id else i for i in n.inputs)) for n in g.nodes if n is not call)
    output = src if g.output == call.id else g.output
    if output in g.input_ids and not nodes:
        raise VariationFailed("deleting the call would leave an empty graph")
    new = replace(g, nodes=nodes, output=output)
    return _drop_unused(_put(program, new)), {"graph": gname, "call": call.id, "block": call.op}


def _put(program: Program, graph: Graph) -> Program:
    if graph.kind == "model":
        return replace(program, model=graph)
    return replace(program, blocks=tuple(graph if b.name == graph.name else b for b in program.blocks))


# -- the variation -----------------------------------------------------------------------------


@VARIATIONS.register("alphanas", settings=MutationSettings, space_mode="guided")
@dataclass(frozen=True)
class PropertyMutation:
    """αNAS's variation: property-guided mutation, block duplication and
    block deletion (see the module docstring); a :class:`~alphanas.variation.base.Variation`."""

    settings: MutationSettings = field(default_factory=MutationSettings)
    #: a synth space (None: the core language)
    space: SynthSpace | None = None
    name: str = "alphanas"

    def vary(self, parent: Program, rng: random.Random, context: VariationContext = NO_CONTEXT) -> Child:
        s = self.settings
        draw = rng.random()
        if draw < s.p_duplicate:
            return self._structural(parent, rng, duplicate_block, "duplicate_block", context.label)
        if draw < s.p_duplicate + s.p_delete:
            return self._structural(parent, rng, delete_block, "delete_block", context.label)
        return self.mutate(parent, rng, context.label)

    def _structural(self, parent: Program, rng: random.Random, edit: Any, name: str, label: str) -> Child:
        try:
            child, record = edit(parent, rng)
        except VariationFailed:
            return self.mutate(parent, rng, label)  # nothing to duplicate or delete: mutate instead
        checked = checked_child(parent, child, label)
        return Child(checked.program, name, record, checked=checked)

    def mutate(self, parent: Program, rng: random.Random, label: str = "<child>") -> Child:
        """Property-guided mutation, retried up to ``attempts`` times."""
        from synth import synthesize

        reasons: list[str] = []
        for _ in range(self.settings.attempts):
            proposal = propose(parent, rng, self.settings)
            result = synthesize(proposal.problem, self.space, seed=rng.randrange(2**31),
                                time_limit=self.settings.synth_time_limit, steps=self.settings.synth_steps,
                                max_ops=proposal.max_ops,
                                avoid=original_hashes(parent, proposal.pick))
            if not result.ok:
                reasons.append(result.reasons[0] if result.reasons else "no region")
                continue
            try:
                child = splice(parent, proposal.pick, result.program, rng, self.settings.p_share)
                checked = checked_child(parent, child, label)
            except VariationFailed as err:
                reasons.append(str(err))
                continue
            return Child(checked.program, "property_mutation", _record(proposal, result), checked=checked)
        raise VariationFailed(f"no mutation in {self.settings.attempts} attempts: " + "; ".join(reasons[-3:]))


def _record(proposal: Proposal, result: Any) -> dict[str, Any]:
    r = proposal.pick.region
    return {
        "graph": proposal.pick.graph,
        "region": list(r.order),
        "inputs": list(r.inputs),
        "output": r.outputs[0],
        "bindings": dict(proposal.pick.instance.bindings),
        "before": props_api.to_json(proposal.properties),
        "target": props_api.to_json(proposal.target),
        "after": props_api.to_json(result.properties),
        "replacement": result.text,
        "structure": result.structure,
        "synthesis": result.stats.as_dict(),
    }
