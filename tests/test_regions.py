"""Regions: convexity, connectivity, inputs/outputs, growth, enumeration, extraction."""

from __future__ import annotations

import random

import pytest

from alphanas import analyze, parse, print_program, zoo
from alphanas.lang.errors import ProgramError
from alphanas.lang.regions import (
    Region,
    convex_closure,
    enumerate_regions,
    extract,
    grow_region,
    instances_of,
    is_convex,
    make_region,
    region_by_range,
)

CHAIN = """\
model chain(x: [4, 8, 8]) {
  a = relu(x)
  b = sigmoid(a)
  c = tanh(b)
  d = relu(c)
  return gelu(d)
}
"""

DIAMOND = """\
model diamond(x: [4, 8, 8]) {
  a = relu(x)
  b = relu(a)
  c = sigmoid(a)
  return add(b, c)
}
"""

RESIDUAL = """\
block res(x, c: int) {
  y = relu(batchnorm(conv2d(x, c, k=3, p=1, bias=false)))
  y = batchnorm(conv2d(y, c, k=3, p=1, bias=false))
  s = batchnorm(conv2d(x, c, bias=false))
  return relu(add(y, s))
}
model m(x: [3, 16, 16]) {
  h = res(x, 8)
  h = res(h, 8)
  h = res(h, 16)
  return dense(flatten(adaptive_avgpool(h, 1)), 10)
}
"""


def test_non_convex_set_is_rejected_and_closed():
    g = parse(CHAIN).model
    with pytest.raises(ProgramError, match="not connected"):
        make_region(g, {"a", "c"})
    assert not is_convex(g, {"a", "c"})
    assert convex_closure(g, {"a", "c"}) == {"a", "b", "c"}
    # diamond: {a, d} and {a, b, d} are connected (via edges) but a path a -> c -> d leaves and re-enters
    d = parse(DIAMOND).model
    out = d.output
    with pytest.raises(ProgramError, match="not convex"):
        make_region(d, {"a", "b", out})
    assert convex_closure(d, {"a", "b", out}) == {"a", "b", "c", out}


def test_connectivity_and_unknown_ids():
    d = parse(DIAMOND).model
    with pytest.raises(ProgramError, match="not connected"):
        make_region(d, {"b", "c"})
    with pytest.raises(ProgramError, match="no op node"):
        make_region(d, {"x"})
    with pytest.raises(ProgramError, match="no op node"):
        make_region(d, {"nope"})


def test_inputs_and_outputs_on_a_residual_block():
    p = parse(RESIDUAL)
    g = p.block("res")
    ids = [n.id for n in g.nodes]
    main = {n for n in ids[:5]}  # conv, bn, relu, conv, bn of the main path
    r = make_region(g, main)
    assert r.inputs == ("x",)
    assert r.outputs == (ids[4],)
    short = make_region(g, {"s_conv2d", "s"})
    assert short.inputs == ("x",) and short.outputs == ("s",)
    # the add joins the two branches: the skip edge makes x an input of both
    both = make_region(g, set(ids[:-1]))
    assert both.inputs == ("x",) and both.outputs == (ids[-2],)
    # a region whose value is read outside and by a region node
    r2 = make_region(g, {"y_conv2d", "y_batchnorm"})
    assert r2.outputs == ("y_batchnorm",)
    assert r2.order == ("y_conv2d", "y_batchnorm") and len(r2) == 2 and "y_conv2d" in r2
    # the graph output is an output of the region holding it
    last = make_region(g, {g.output})
    assert last.outputs == (g.output,) and last.inputs == (ids[-2],)
    # inputs in order of first use
    add = make_region(g, {ids[-2], g.output})
    assert add.inputs == (ids[4], "s")


def test_region_by_range():
    p = parse(RESIDUAL)
    g = p.block("res")
    r = region_by_range(g, "y_conv2d", "y")
    assert r.order[0] == "y_conv2d" and r.order[-1] == "y"
    with pytest.raises(ProgramError, match="not connected"):
        region_by_range(g, "y_1", "s_conv2d")  # two branches, not joined
    with pytest.raises(ProgramError, match="comes after"):
        region_by_range(g, "s", "y")


def test_grow_region_reproducible_and_within_limits():
    p = zoo.load("resnet50")
    for g in p.graphs():
        for seed in range(20):
            a = grow_region(g, random.Random(seed), p_grow=0.9, max_fraction=0.5)
            b = grow_region(g, random.Random(seed), p_grow=0.9, max_fraction=0.5)
            assert a == b
            assert 1 <= len(a) <= max(1, int(0.5 * len(g.nodes)))
            assert make_region(g, a.nodes) == a  # connected and convex
            c = grow_region(g, random.Random(seed), p_grow=1.0, max_ops=3)
            assert len(c) <= 3 and make_region(g, c.nodes) == c
    g = p.model
    r = grow_region(g, random.Random(0), p_grow=0.0, start=g.nodes[3].id)
    assert r.order == (g.nodes[3].id,)


def test_enumerate_regions_counts():
    chain = parse(CHAIN).model  # 5 nodes: n - s + 1 intervals of each size s
    for k in range(1, 6):
        regions = list(enumerate_regions(chain, k))
        assert len(regions) == sum(5 - s + 1 for s in range(1, k + 1))
        assert len({r.nodes for r in regions}) == len(regions)
    diamond = parse(DIAMOND).model
    # singletons 4; pairs ab ac bd cd; triples abc bcd (abd, acd are not convex); all four
    assert [len(list(enumerate_regions(diamond, k))) for k in range(1, 5)] == [4, 8, 10, 11]
    regions = list(enumerate_regions(diamond, 4))
    assert regions == list(enumerate_regions(diamond, 4))  # deterministic
    assert [len(r) for r in regions] == sorted(len(r) for r in regions)
    assert all(isinstance(r, Region) for r in regions)


def test_instances_of():
    p = parse(RESIDUAL)
    insts = instances_of(p, "res")
    assert [i.bindings["c"] for i in insts] == [8, 8, 16]
    assert [i.shapes["x"] for i in insts] == [(3, 16, 16), (8, 16, 16), (8, 16, 16)]
    assert instances_of(p, "m")[0].graph is p.model
    r50 = zoo.load("resnet50")
    assert len(instances_of(r50, "bottleneck")) == 4


def _check_extract(program, graph, region, inst):
    progs = extract(program, graph.name, region, inst)
    assert set(progs) == set(region.outputs)
    for out, q in progs.items():
        assert q.model.output == out
        assert parse(print_program(q)) == q
        shapes = analyze(q).shapes
        for v, s in shapes.items():
            assert tuple(s) == tuple(inst.shapes[v])
        assert {n.id for n in q.model.nodes} <= region.nodes


@pytest.mark.parametrize("name", zoo.names())
def test_extract_random_regions_of_every_zoo_model(name):
    p = zoo.load(name)
    root = analyze(p)
    rng = random.Random(20)
    graphs = p.graphs()
    done = 0
    for k in range(60):
        if done == 20:
            break
        g = graphs[k % len(graphs)]
        insts = instances_of(p, g.name, root)
        inst = insts[rng.randrange(len(insts))]
        r = grow_region(g, rng)
        if not r.inputs:  # a lone `param`: no tensor input, not a program
            with pytest.raises(ProgramError):
                extract(p, g.name, r, inst)
            continue
        _check_extract(p, g, r, inst)
        done += 1
    assert done == 20


FORK = """\
block fork(x, c: int) {
  a = conv2d(x, c, k=3, p=1)
  r = relu(batchnorm(a))
  return add(r, a)
}
model m(x: [3, 8, 8]) {
  h = fork(x, 4)
  return fork(h, 6)
}
"""


def test_extract_block_region_per_instance_and_needed_nodes():
    p = parse(FORK)
    g = p.block("fork")
    r = make_region(g, {"a", "r_batchnorm", "r"})
    assert r.inputs == ("x",) and r.outputs == ("a", "r")
    insts = instances_of(p, "fork")
    assert len(insts) == 2
    for inst in insts:
        progs = extract(p, "fork", r, inst)
        assert [n.id for n in progs["a"].model.nodes] == ["a"]
        assert [n.id for n in progs["r"].model.nodes] == ["a", "r_batchnorm", "r"]
        assert progs["r"].model.inputs[0].shape == inst.shapes["x"]
        assert progs["r"].model.nodes[0].attr("out") == inst.bindings["c"]  # c evaluated in this instance
        _check_extract(p, g, r, inst)
    # a model region calling a block keeps the block
    m = p.model
    r = make_region(m, {n.id for n in m.nodes})
    (q,) = extract(p, m.name, r, instances_of(p, m.name)[0]).values()
    assert q.block_names == ("fork",)
