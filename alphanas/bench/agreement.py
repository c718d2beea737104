"""Agreement of the abstract properties with their concrete references over
random regions.

``alphanas bench agreement`` draws regions as αNAS's mutations do
(:func:`alphanas.lang.regions.grow_region`) from the model body and every
distinct block instance of every zoo model (:data:`ZOO_FAMILIES`: convnets
at a quarter width and 64×64, ViTs with 32-pixel patches) and from random
programs (shape-keeping op DAGs on images or token sequences,
with and without a block), extracts each region as one program per output
(:func:`alphanas.lang.regions.extract`), and compares

- depth: :func:`~alphanas.properties.depth.infer_depth` against
  :func:`~alphanas.properties.concrete_depth.probe_depth`, pair by pair:
  equal, abstract below concrete (under-claimed), or abstract above concrete
  (over-claimed: must never happen);
- mixing: :func:`~alphanas.properties.mixing.infer_mixing` against
  :func:`~alphanas.properties.concrete.probe_mixing`: equal, or which side
  is entrywise higher (the other satisfies-wise below it), or incomparable;
  every differing entry is counted by its (abstract → concrete) levels.

A region agrees on a property when all its pairs (over all its outputs)
are equal. Nothing here asserts; ``tests/test_agreement.py`` does.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from alphanas.bench import write_json
from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.errors import ProgramError
from alphanas.lang.ir import Program
from alphanas.lang.parse import parse
from alphanas.lang.regions import Region, block_instances, extract, grow_region
from alphanas.properties import axis_names
from alphanas.properties.concrete import probe_mixing
from alphanas.properties.concrete_depth import probe_depth
from alphanas.properties.depth import Depth, infer_depth
from alphanas.properties.depth import combine as combine_depth
from alphanas.properties.mixing import Mixing, infer_mixing
from alphanas.properties.mixing import combine as combine_mixing

__all__ = ["FAMILIES", "RegionResult", "agreement", "random_program", "run_agreement", "sources"]

#: Every zoo model, at a cost that keeps probing quick: (zoo name, parameter
#: overrides, input shape or None for the model's own). Convnets run at a
#: quarter width and 64×64 inputs; ViTs keep 224×224 with 32-pixel patches
#: (50 tokens), since their positional embedding is sized for 224.
ZOO_FAMILIES: dict[str, tuple[str, dict[str, int], tuple[int, ...] | None]] = {
    "resnet18": ("resnet18", {"width": 16, "classes": 10}, (3, 64, 64)),
    "resnet34": ("resnet34", {"width": 16, "classes": 10}, (3, 64, 64)),
    "resnet50": ("resnet50", {"width": 16, "classes": 10}, (3, 64, 64)),
    "resnet18_cifar": ("resnet18_cifar", {"width": 16}, None),
    "resnet34_cifar": ("resnet34_cifar", {"width": 16}, None),
    "resnet50_cifar": ("resnet50_cifar", {"width": 16}, None),
    "mobilenet_v2": ("mobilenet_v2", {"classes": 10}, (3, 64, 64)),
    "vit_tiny": ("vit_tiny", {"classes": 10, "patch": 32}, None),
    "vit_small": ("vit_small", {"classes": 10, "patch": 32}, None),
    "vit_base": ("vit_base", {"classes": 10, "patch": 32}, None),
    "small_cnn": ("small_cnn", {}, None),
}

#: the program families regions are drawn from, each equally often
FAMILIES = (*ZOO_FAMILIES, "random")


def _zoo(family: str) -> Program:
    from alphanas import zoo

    name, params, shape = ZOO_FAMILIES[family]
    program = zoo.load(name, **params)
    return program.with_input_shapes(shape) if shape else program


@dataclass(frozen=True)
class Source:
    """A graph to draw regions from, in the context of one analysed instance."""

    family: str
    program: Program
    graph: str
    instance: Instance


def sources(family: str) -> list[Source]:
    """The model body and every distinct block instance of a zoo family."""
    program = _zoo(family)
    root = analyze(program)
    found = [Source(family, program, program.model.name, root)]
    found += [Source(family, program, inst.graph.name, inst) for inst in block_instances(program, root)]
    return found


# -- random programs (no Hypothesis: a seeded random.Random) -----------------------------

IMAGE_OPS_1 = [
    "relu({v})", "sigmoid({v})", "tanh({v})", "gelu({v})", "silu({v})", "hardswish({v})",
    "identity({v})", "dropout({v})", "stochastic_depth({v}, 0.2)", "batchnorm({v})",
    "conv2d({v}, 4, k=3, p=1)", "conv2d({v}, 4)", "maxpool({v}, 3, s=1, p=1)",
    "avgpool({v}, 3, s=1, p=1)", "scale({v}, 0.5)", "groupnorm({v}, 2)", "softmax({v}, dim=0)",
    "conv2d({v}, 4, k=3, p=1, groups=4)", "mul({v}, sigmoid(conv2d(mean({v}, [1, 2], keep=true), 4)))",
]
IMAGE_OPS_2 = ["add({v}, {w})", "mul({v}, {w})", "conv2d(concat({v}, {w}), 4)"]
TOKEN_OPS_1 = [
    "attention({v}, 2)", "layernorm({v})", "dense({v}, 8)", "gelu({v})", "softmax({v}, dim=1)",
    "relu({v})", "dropout({v})", "identity({v})", "scale({v}, 2.0)", "transpose(transpose({v}, 0, 1), 0, 1)",
]
TOKEN_OPS_2 = ["add({v}, {w})", "mul({v}, {w})", "dense(concat({v}, {w}, dim=1), 8)"]


def random_program(rng: random.Random) -> Program:
    """A random DAG of shape-keeping ops on [4, 6, 6] images or [5, 8] token
    sequences, with an optional block (called one or more times) and an
    optional second input (the generator of ``tests/test_depth.py``, on a
    seeded ``random.Random``)."""
    tokens = rng.random() < 0.5
    ops_1, ops_2 = (TOKEN_OPS_1, TOKEN_OPS_2) if tokens else (IMAGE_OPS_1, IMAGE_OPS_2)
    shape = "[5, 8]" if tokens else "[4, 6, 6]"
    blocks, call_form = "", None
    if rng.random() < 0.5:
        body, vals = [], ["x", "y"]
        for k in range(rng.randint(1, 4)):
            form = rng.choice(ops_1 + ops_2)
            body.append(f"  b{k} = " + form.format(v=rng.choice(vals), w=rng.choice(vals)))
            vals.append(f"b{k}")
        blocks = "block blk(x, y) {\n" + "\n".join(body) + f"\n  return {vals[-1]}\n}}\n"
        call_form = "blk({v}, {w})"
    two = rng.random() < 0.5
    vals = ["x", "y"] if two else ["x"]
    body = []
    for k in range(rng.randint(2, 8)):
        form = rng.choice(ops_1 + ops_2 + ([call_form] * 3 if call_form else []))
        body.append(f"  v{k} = " + form.format(v=rng.choice(vals), w=rng.choice(vals)))
        vals.append(f"v{k}")
    inputs = f"x: {shape}, y: {shape}" if two else f"x: {shape}"
    text = f"{blocks}model net({inputs}) {{\n" + "\n".join(body) + f"\n  return {vals[-1]}\n}}\n"
    return parse(text)


def _random_source(rng: random.Random) -> Source:
    program = random_program(rng)
    root = analyze(program)
    graphs = [Source("random", program, program.model.name, root)]
    graphs += [Source("random", program, inst.graph.name, inst) for inst in block_instances(program, root)]
    return rng.choice(graphs)


# -- comparing -----------------------------------------------------------------------------


@dataclass
class RegionResult:
    family: str
    graph: str
    ops: list[str]
    inputs: list[str]
    outputs: list[str]
    depth: str  #: "equal", "under" (abstract < concrete somewhere), "over" (abstract > concrete somewhere)
    mixing: str  #: "equal", "abstract_higher", "concrete_higher", "incomparable"
    #: differing mixing entries: (pair label, input axis, output axis, abstract, concrete)
    entries: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    depth_pairs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def compare_depth(a: Depth, c: Depth) -> tuple[str, Counter]:
    counts: Counter = Counter()
    for pair in sorted(set(a) | set(c)):
        x, y = a.get(pair, -1), c.get(pair, -1)
        counts["equal" if x == y else "over" if x > y else "under"] += 1
    verdict = "over" if counts["over"] else "under" if counts["under"] else "equal"
    return verdict, counts


def compare_mixing(a: Mixing, c: Mixing) -> tuple[str, list[tuple[str, str, str, str, str]]]:
    entries = []
    higher = {"abstract": False, "concrete": False}
    for pair in sorted(set(a) | set(c)):
        ma, mc = a.get(pair), c.get(pair)
        if ma is None or mc is None or len(ma) != len(mc) or len(ma[0]) != len(mc[0]):
            higher["abstract" if mc is None else "concrete"] = True
            entries.append(("{}->{}".format(*a.label(pair)), "?", "?", str(ma is not None), str(mc is not None)))
            continue
        rows, cols = axis_names(len(ma) - 1), axis_names(len(ma[0]) - 1)
        for i, (ra, rc) in enumerate(zip(ma, mc)):
            for j, (va, vc) in enumerate(zip(ra, rc)):
                if va != vc:
                    higher["abstract" if va > vc else "concrete"] = True
                    entries.append(("{}->{}".format(*a.label(pair)), rows[i], cols[j], str(va), str(vc)))
    if not entries:
        return "equal", entries
    if higher["abstract"] and higher["concrete"]:
        return "incomparable", entries
    return ("abstract_higher" if higher["abstract"] else "concrete_higher"), entries


def check_region(source: Source, region: Region) -> RegionResult:
    """Abstract against concrete, depth and mixing, for one region (all its
    outputs, combined by position)."""
    start = time.perf_counter()
    programs = extract(source.program, source.graph, region, source.instance)
    parts = [programs[o] for o in region.outputs]
    ad = combine_depth([infer_depth(p) for p in parts], region.inputs)
    cd = combine_depth([probe_depth(p) for p in parts], region.inputs)
    am = combine_mixing([infer_mixing(p) for p in parts], region.inputs)
    cm = combine_mixing([probe_mixing(p) for p in parts], region.inputs)
    depth, _ = compare_depth(ad, cd)
    mixing, entries = compare_mixing(am, cm)
    nodes = {n.id: n for n in _graph(source).nodes}
    return RegionResult(
        family=source.family,
        graph=source.graph,
        ops=[nodes[v].op for v in region.order],
        inputs=list(region.inputs),
        outputs=list(region.outputs),
        depth=depth,
        mixing=mixing,
        entries=entries,
        depth_pairs={"{}->{}".format(*ad.label(p)): d for p, d in ad.items()},
        seconds=time.perf_counter() - start,
    )


def _graph(source: Source):
    p = source.program
    return p.model if source.graph == p.model.name else p.block(source.graph)


def draw_regions(n_regions: int, seed: int, families: tuple[str, ...] = FAMILIES) -> Iterator[tuple[Source, Region]]:
    """``n_regions`` (source, region) draws: a family uniformly, then a graph
    of it (model body or block instance) uniformly, then a grown region."""
    rng = random.Random(seed)
    cache: dict[str, list[Source]] = {}
    drawn = 0
    while drawn < n_regions:
        family = rng.choice(families)
        if family == "random":
            source = _random_source(rng)
        else:
            if family not in cache:
                cache[family] = sources(family)
            source = rng.choice(cache[family])
        graph = _graph(source)
        if not graph.nodes:
            continue
        region = grow_region(graph, rng)
        if not region.inputs:  # a lone `param`: not a program
            continue
        drawn += 1
        yield source, region


def agreement(n_regions: int, seed: int = 0, families: tuple[str, ...] = FAMILIES, examples: int = 5) -> dict[str, Any]:
    """Draw ``n_regions`` regions and compare abstract with concrete (see the
    module's docstring); the report holds the rates, the breakdowns and a few
    examples of each kind of disagreement."""
    start = time.perf_counter()
    results: list[RegionResult] = []
    errors: list[str] = []
    for source, region in draw_regions(n_regions, seed, families):
        try:
            results.append(check_region(source, region))
        except (ProgramError, RuntimeError) as e:  # recorded, never hidden
            errors.append(f"{source.family}/{source.graph} {list(region.order)}: {type(e).__name__}: {e}")
    n = max(1, len(results))
    depth = Counter(r.depth for r in results)
    mixing = Counter(r.mixing for r in results)
    transitions: Counter = Counter()
    for r in results:
        for _, _, _, va, vc in r.entries:
            transitions[f"{va} -> {vc}"] += 1
    per_family = {}
    for fam in families:
        rs = [r for r in results if r.family == fam]
        if rs:
            per_family[fam] = {
                "regions": len(rs),
                "depth_equal": sum(r.depth == "equal" for r in rs) / len(rs),
                "mixing_equal": sum(r.mixing == "equal" for r in rs) / len(rs),
            }
    shown: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if r.mixing != "equal" and len(shown.setdefault(r.mixing, [])) < examples:
            shown[r.mixing].append(
                {"family": r.family, "graph": r.graph, "ops": r.ops, "outputs": r.outputs, "entries": r.entries[:8]}
            )
    return {
        "regions": len(results),
        "seed": seed,
        "errors": errors,
        "depth": {"agreement": depth["equal"] / n, **{k: depth[k] for k in ("equal", "under", "over")}},
        "mixing": {
            "agreement": mixing["equal"] / n,
            **{k: mixing[k] for k in ("equal", "abstract_higher", "concrete_higher", "incomparable")},
            "entry_transitions": dict(transitions.most_common()),
            "examples": shown,
        },
        "per_family": per_family,
        "seconds": time.perf_counter() - start,
        "results": [r.__dict__ for r in results],
    }


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def run_agreement(argv: list[str]) -> int:
    """``alphanas bench agreement [--regions N] [--seed S] [--json FILE]``."""
    parser = argparse.ArgumentParser(prog="alphanas bench agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=_positive, default=300, help="regions to draw (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="write the report (with every region) as JSON")
    args = parser.parse_args(argv)
    report = agreement(args.regions, args.seed)
    d, m = report["depth"], report["mixing"]
    print(f"{report['regions']} regions (seed {args.seed}), {report['seconds']:.1f} s")
    print(f"depth:  {d['agreement']:.1%} equal; abstract < concrete in {d['under']}, abstract > concrete in {d['over']}")
    print(
        f"mixing: {m['agreement']:.1%} equal; abstract higher in {m['abstract_higher']}, "
        f"concrete higher in {m['concrete_higher']}, incomparable in {m['incomparable']}"
    )
    for fam, row in report["per_family"].items():
        print(f"  {fam:<13} {row['regions']:>4} regions  depth {row['depth_equal']:.1%}  mixing {row['mixing_equal']:.1%}")
    if m["entry_transitions"]:
        print("differing mixing entries (abstract -> concrete): "
              + ", ".join(f"{k}: {v}" for k, v in m["entry_transitions"].items()))
    for kind, cases in m["examples"].items():
        for case in cases[:2]:
            print(f"  {kind}: {case['family']}/{case['graph']} {' '.join(case['ops'])}: {case['entries'][:3]}")
    for e in report["errors"]:
        print(f"error: {e}")
    if args.json:
        write_json(args.json, report)
    return 0
