"""Resource properties of regions: hand-derived cases, symbolic == concrete."""

from __future__ import annotations

import random

import pytest
import z3

from alphanas import analyze, parse, zoo
from alphanas.lang.regions import grow_region, instances_of, make_region
from alphanas.properties.resources import Resources, region_resources, symbolic_resources

CBR = """\
model cbr(x: [3, 32, 32]) {
  c = conv2d(x, 16, k=3, p=1, bias=false)
  r = relu(batchnorm(c))
  return add(r, c)
}
"""

# x: 3*32*32 = 3072 elements; conv, batchnorm and relu outputs: 16*32*32 = 16384 each
N_IN, N = 3 * 32 * 32, 16 * 32 * 32


def _model_region(text, ids):
    p = parse(text)
    return p, make_region(p.model, ids), analyze(p)


def test_conv_bn_relu_by_hand():
    p, r, inst = _model_region(CBR, {"c", "r_batchnorm", "r"})
    res = region_resources(p, "cbr", r, inst)
    assert res.params == 16 * 3 * 3 * 3 + 2 * 16  # conv weights, batchnorm scale and shift
    assert res.matmul_flops == 2 * N * (3 * 3 * 3)  # one multiply-add per weight per output
    assert res.other_flops == 2 * N + N  # batchnorm (folded: mul + add), relu
    assert res.flops == res.matmul_flops + res.other_flops
    assert res.activations == 3 * N
    # c is also read by the add outside: it stays live to the end of the region
    # step c: x + c; step bn: c + bn; step relu: c + bn + relu (bn read by relu now)
    assert res.peak_memory == max(N_IN + N, 2 * N, 3 * N) == 3 * N


def test_peak_memory_frees_dead_values():
    p, r, inst = _model_region(CBR, {"r_batchnorm", "r"})
    # region input c stays live until its last use (the batchnorm)
    # step bn: c + bn; step relu: bn + relu
    res = region_resources(p, "cbr", r, inst)
    assert res.peak_memory == 2 * N
    p, r, inst = _model_region(CBR, {"c", "r_batchnorm", "r", "out"})
    # step c: x + c; bn: c + bn; relu: c + bn + relu; add: c + relu + add
    assert region_resources(p, "cbr", r, inst).peak_memory == 3 * N
    assert region_resources(p, "cbr", r, inst).other_flops == 3 * N + N  # + the add


def test_symbolic_conv_bn_relu():
    p, r, inst = _model_region(CBR, {"c", "r_batchnorm", "r"})
    s = symbolic_resources(p, "cbr", r, inst)
    assert set(s.variables) == {"c.out", "c.k", "c.s", "c.p", "c.d", "c.groups"}
    assert s.values["c.out"] == 16 and s.values["c.k"] == 3
    out = s.variables["c.out"]
    # the params only depend on the output channels and the kernel
    k = s.variables["c.k"]
    g = s.variables["c.groups"]
    solver = z3.Solver()
    solver.add(s.resources.params != out * (3 / g) * k * k + 2 * out, g == 1)
    assert solver.check() == z3.unsat
    # doubling the channels doubles the params
    sub = [(v, z3.IntVal(x)) for name, x in s.values.items() if name != "c.out" for v in [s.variables[name]]]
    doubled = z3.simplify(z3.substitute(s.resources.params, *sub, (out, z3.IntVal(32))))
    assert doubled.as_long() == 32 * 27 + 64


def _assert_symbolic_equals_concrete(p, gname, r, inst):
    c = region_resources(p, gname, r, inst)
    s = symbolic_resources(p, gname, r, inst)
    sub = s.substitution()
    for f in ("params", "matmul_flops", "other_flops", "activations", "peak_memory"):
        e = getattr(s.resources, f)
        e = z3.simplify(z3.substitute(e, *sub) if sub else e)
        assert z3.is_int_value(e) and e.as_long() == getattr(c, f), (gname, r.order, f)
    for cond in s.conditions:
        assert z3.is_true(z3.simplify(z3.substitute(cond, *sub) if sub else cond)), cond
    for v in r.order:
        for dim, want in zip(s.shapes[v], inst.shapes[v]):
            got = z3.simplify(z3.substitute(dim, *sub)) if isinstance(dim, z3.ExprRef) else dim
            assert (got.as_long() if isinstance(got, z3.ExprRef) else got) == want


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_symbolic_equals_concrete_on_random_regions(name):
    p = zoo.load(name, classes=10)
    root = analyze(p)
    rng = random.Random(7)
    graphs = p.graphs()
    for k in range(12):
        g = graphs[k % len(graphs)]
        insts = instances_of(p, g.name, root)
        inst = insts[rng.randrange(len(insts))]
        # model-level regions span block calls: keep them small (each call is walked symbolically)
        r = grow_region(g, rng, max_ops=4 if g is p.model else None)
        _assert_symbolic_equals_concrete(p, g.name, r, inst)


def test_symbolic_block_call_variables():
    p = zoo.load("resnet18", classes=10, width=16)
    m = p.model
    r = make_region(m, {"h_2"})  # basic(h_1, width)
    s = symbolic_resources(p, m.name, r, instances_of(p, m.name)[0])
    assert set(s.variables) == {"h_2.c"} and s.values == {"h_2.c": 16}
    assert any("positive" in msg for msg in s.messages)
    _assert_symbolic_equals_concrete(p, m.name, r, instances_of(p, m.name)[0])


def test_resources_type():
    assert Resources(1, 2, 3).flops == 5
