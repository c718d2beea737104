"""The depth property: hand-derived cases, the abstract inference against the
concrete reference (zoo models, their block instances, random programs), and
the order, distance and mutation operators."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hypothesis_parser import program_specs, render

from alphanas import analyze, parse, zoo
from alphanas.lang.regions import block_instances, instance_program
from alphanas.properties.concrete_depth import UnknownNode, classify, probe_depth, trace
from alphanas.properties.depth import Depth, distance, infer_depth, mutate, satisfies
from alphanas.properties.depth import render as render_depth


def depths(text: str) -> dict[tuple[str, str], int]:
    """The abstract depth, checked against the concrete one, by labels."""
    program = parse(text)
    abstract = infer_depth(program)
    assert abstract == probe_depth(program)
    return labelled(abstract)


def labelled(depth: Depth) -> dict[tuple[str, str], int]:
    return {depth.label(pair): d for pair, d in depth.items()}


def model(body: str, inputs: str = "x: [4, 8, 8]", blocks: str = "") -> str:
    return f"{blocks}\nmodel net({inputs}) {{\n{body}\n}}\n"


# -- hand-derived cases ---------------------------------------------------------------


def test_conv_bn_relu_conv_is_three_runs() -> None:
    # L, L, N, L -> runs L, N, L
    text = model("  h = relu(batchnorm(conv2d(x, 4, k=3, p=1)))\n  return conv2d(h, 4)")
    assert depths(text) == {("x", "out"): 3}


def test_a_single_op_is_one_run() -> None:
    assert depths(model("  return conv2d(x, 4)")) == {("x", "out"): 1}
    assert depths(model("  return relu(x)")) == {("x", "out"): 1}
    assert depths(model("  return relu(sigmoid(tanh(x)))")) == {("x", "out"): 1}


RESIDUAL = """\
  y = relu(batchnorm(conv2d(x, 4, k=3, p=1)))
  y = batchnorm(conv2d(y, 4, k=3, p=1))
  return {result}
"""


def test_residual_block_takes_the_main_path_not_the_skip() -> None:
    # main path: L(conv, bn) N(relu) L(conv, bn, add) = 3; skip: L(add) = 1
    assert depths(model(RESIDUAL.format(result="add(x, y)"))) == {("x", "out"): 3}
    # a relu after the add: one more run on both paths
    assert depths(model(RESIDUAL.format(result="relu(add(x, y))"))) == {("x", "out"): 4}
    # the skip path alone
    assert depths(model("  return add(x, dropout(x))")) == {("x", "out"): 1}


def test_squeeze_excite_counts_the_gate_path() -> None:
    # gate: mean L, conv L, relu N, conv L, sigmoid N, mul L -> 5; the direct x -> mul path is 1
    body = """\
  s = mean(x, [1, 2], keep=true)
  s = sigmoid(conv2d(relu(conv2d(s, 2)), 4))
  return mul(x, s)"""
    assert depths(model(body)) == {("x", "out"): 5}


def test_attention_block() -> None:
    # layernorm L, attention N, add L -> 3; then layernorm L, dense L, gelu N, dense L, add L -> +2
    body = """\
  h = add(x, attention(layernorm(x), 2))
  return add(h, dense(gelu(dense(layernorm(h), 16)), 8))"""
    assert depths(model(body, inputs="x: [5, 8]")) == {("x", "out"): 5}


def test_pooling_chain() -> None:
    # maxpool N, avgpool L, adaptive_avgpool L, adaptive_maxpool N -> N L N = 3
    body = "  return adaptive_maxpool(adaptive_avgpool(avgpool(maxpool(x, 3, s=1, p=1), 2), 2), 1)"
    assert depths(model(body)) == {("x", "out"): 3}


def test_neutral_ops_count_for_nothing() -> None:
    assert depths(model("  return identity(dropout(x))")) == {("x", "out"): 0}
    assert depths(model("  return stochastic_depth(x, 0.1)")) == {("x", "out"): 0}
    # N, (neutral), N: one run
    assert depths(model("  return relu(identity(dropout(relu(x))))")) == {("x", "out"): 1}
    # L, (neutral), L: one run
    assert depths(model("  return conv2d(dropout(conv2d(x, 4)), 4)")) == {("x", "out"): 1}


def test_an_output_that_ignores_an_input_has_no_entry() -> None:
    text = model("  return relu(conv2d(x, 4))", inputs="x: [4, 8, 8], y: [4, 8, 8]")
    assert depths(text) == {("x", "out"): 2}
    text = model("  return add(relu(x), y)", inputs="x: [4, 8, 8], y: [4, 8, 8]")
    assert depths(text) == {("x", "out"): 2, ("y", "out"): 1}


def test_block_calls_count_through_their_bodies() -> None:
    blocks = "block unit(x, c: int) {\n  return relu(conv2d(x, c))\n}\n"
    # relu N, then the block L N: the caller's N and the block's L alternate
    assert depths(model("  return unit(relu(x), 4)", blocks=blocks)) == {("x", "out"): 3}
    # conv L, then the block L N: the runs at the junction merge
    assert depths(model("  return unit(conv2d(x, 4), 4)", blocks=blocks)) == {("x", "out"): 2}
    # two calls in a row: L N | L N
    assert depths(model("  return unit(unit(x, 4), 4)", blocks=blocks)) == {("x", "out"): 4}


def test_a_neutral_block_and_an_ignored_block_input() -> None:
    blocks = """\
block passthrough(x) {
  return dropout(x)
}
block left(x, y) {
  return relu(x)
}
"""
    body = "  return left(passthrough(relu(x)), conv2d(y, 4))"
    text = model(body, inputs="x: [4, 8, 8], y: [4, 8, 8]", blocks=blocks)
    # relu N, passthrough (nothing), relu N: one run; y never reaches the output
    assert depths(text) == {("x", "out"): 1}


def test_the_maximum_is_over_paths_not_a_sum_of_branches() -> None:
    # two branches of different depths joined by add: the deeper one counts
    body = """\
  a = relu(conv2d(relu(conv2d(x, 4)), 4))
  b = conv2d(x, 4)
  return add(a, b)"""
    assert depths(model(body)) == {("x", "out"): 5}


# -- abstract against concrete ------------------------------------------------------------


#: small sizes, so that building the torch modules is cheap
SMALL = {"width": 16, "classes": 10}


def _small(name: str):
    program = zoo.load(name)
    names = {p.name for p in program.model.params}
    return program.with_model_params(**{k: v for k, v in SMALL.items() if k in names})


def test_abstract_equals_concrete_on_every_zoo_model_and_block_instance() -> None:
    agreed = 0
    for name in zoo.names():
        if name.startswith("vit_") and name != "vit_tiny":
            continue  # same structure as vit_tiny, larger weights to build
        program = _small(name)
        inst = analyze(program)
        assert infer_depth(program, inst) == probe_depth(program), name
        agreed += 1
        for sub in block_instances(program, inst):
            region = instance_program(program, sub)
            abstract, concrete = infer_depth(region), probe_depth(region)
            assert abstract == concrete, (name, sub.graph.name, dict(sub.bindings))
            agreed += 1
    assert agreed > 40


def test_known_zoo_depths() -> None:
    # resnet18: stem L N (maxpool N), 8 basic blocks of L N L N, then pool/flatten/dense L
    assert dict(infer_depth(_small("resnet18")).items()) == {(0, 0): 2 + 8 * 4 + 1}
    assert dict(infer_depth(_small("resnet50")).items()) == {(0, 0): 99}


@pytest.mark.parametrize("name", ["resnet50", "vit_small"])
def test_inference_is_fast_on_large_models(name: str) -> None:
    program = zoo.load(name)
    inst = analyze(program)
    infer_depth(program, inst)
    start = time.perf_counter()
    for _ in range(10):
        infer_depth(program, inst)
    assert (time.perf_counter() - start) / 10 < 0.01


def test_deep_nesting_and_wide_joins_stay_linear() -> None:
    # 400 residual units of two branches each: 2^400 paths, one pass
    lines = ["  h = add(relu(conv2d(h, 4)), h)" for _ in range(400)]
    text = model("  h = identity(x)\n" + "\n".join(lines) + "\n  return h")
    program = parse(text)
    start = time.perf_counter()
    d = infer_depth(program)
    assert time.perf_counter() - start < 0.5
    # each unit: conv L, relu N, add L; consecutive units merge at the add/conv junction
    assert dict(d.items()) == {(0, 0): 1 + 400 * 2}
    assert d.label((0, 0)) == ("x", program.model.output)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=program_specs())
def test_abstract_equals_concrete_on_random_programs(spec) -> None:
    program = parse(render(spec))
    abstract, concrete = infer_depth(program), probe_depth(program)
    # the hard requirement: never claim more than the concrete path search
    for pair, d in abstract.items():
        assert d <= concrete.get(pair, -1), (pair, d, concrete)
    assert abstract == concrete


IMAGE_OPS_1 = [
    "relu({v})", "sigmoid({v})", "tanh({v})", "gelu({v})", "silu({v})", "hardswish({v})",
    "identity({v})", "dropout({v})", "stochastic_depth({v}, 0.2)", "batchnorm({v})",
    "conv2d({v}, 4, k=3, p=1)", "conv2d({v}, 4)", "maxpool({v}, 3, s=1, p=1)",
    "avgpool({v}, 3, s=1, p=1)", "scale({v}, 0.5)", "groupnorm({v}, 2)", "softmax({v}, dim=0)",
]
IMAGE_OPS_2 = ["add({v}, {w})", "mul({v}, {w})", "conv2d(concat({v}, {w}), 4)"]
#: the same on [5, 8] token sequences: attention, layer norms, dense layers
TOKEN_OPS_1 = [
    "attention({v}, 2)", "layernorm({v})", "dense({v}, 8)", "gelu({v})", "softmax({v}, dim=1)",
    "relu({v})", "dropout({v})", "identity({v})", "scale({v}, 2.0)", "transpose(transpose({v}, 0, 1), 0, 1)",
]
TOKEN_OPS_2 = ["add({v}, {w})", "mul({v}, {w})", "dense(concat({v}, {w}, dim=1), 8)"]


@st.composite
def dag_programs(draw) -> str:
    """Random DAGs of shape-keeping ops on [4, 6, 6] images or [5, 8] token
    sequences, with an optional block (called one or more times) and a
    second input."""
    tokens = draw(st.booleans())
    ops_1, ops_2 = (TOKEN_OPS_1, TOKEN_OPS_2) if tokens else (IMAGE_OPS_1, IMAGE_OPS_2)
    shape = "[5, 8]" if tokens else "[4, 6, 6]"
    blocks = ""
    callables = list(ops_1)
    if draw(st.booleans()):
        body = []
        vals = ["x", "y"]
        for k in range(draw(st.integers(1, 4))):
            form = draw(st.sampled_from(ops_1 + ops_2))
            body.append(f"  b{k} = " + form.format(v=draw(st.sampled_from(vals)), w=draw(st.sampled_from(vals))))
            vals.append(f"b{k}")
        blocks = "block blk(x, y) {\n" + "\n".join(body) + f"\n  return {vals[-1]}\n}}\n"
        call_form = "blk({v}, {w})"
    else:
        call_form = None
    two = draw(st.booleans())
    vals = ["x", "y"] if two else ["x"]
    body = []
    for k in range(draw(st.integers(1, 8))):
        forms = callables + ops_2 + ([call_form] * 3 if call_form else [])
        form = draw(st.sampled_from(forms))
        body.append(f"  v{k} = " + form.format(v=draw(st.sampled_from(vals)), w=draw(st.sampled_from(vals))))
        vals.append(f"v{k}")
    inputs = f"x: {shape}, y: {shape}" if two else f"x: {shape}"
    return model("\n".join(body) + f"\n  return {vals[-1]}", inputs=inputs, blocks=blocks)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=dag_programs())
def test_abstract_equals_concrete_on_random_dags(text: str) -> None:
    program = parse(text)
    abstract, concrete = infer_depth(program), probe_depth(program)
    for pair, d in abstract.items():
        assert d <= concrete.get(pair, -1), (pair, d, concrete)
    assert abstract == concrete, text


def test_the_reference_refuses_what_it_does_not_know() -> None:
    import torch
    from torch import nn

    class Odd(nn.Module):
        def forward(self, x):
            return torch.erf(x)

    with pytest.raises(UnknownNode, match="erf"):
        classify(trace(Odd()))

    class OddModule(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = nn.PReLU()

        def forward(self, x):
            return self.m(x)

    with pytest.raises(UnknownNode, match="PReLU"):
        classify(trace(OddModule()))


# -- order, distance, mutation ---------------------------------------------------------


def test_satisfies_is_a_lower_bound_and_distance_is_zero_iff_satisfied() -> None:
    target = Depth({(0, 0): 4, (1, 0): 0})
    assert satisfies(Depth({(0, 0): 4, (1, 0): 2}), target)
    assert satisfies(Depth({(0, 0): 9}), target)  # a missing pair is depth 0
    assert not satisfies(Depth({(0, 0): 3, (1, 0): 0}), target)
    assert distance(Depth({(0, 0): 3, (1, 0): 0}), target) == pytest.approx(0.25 / 2)
    assert distance(Depth({(1, 0): 5}), target) == pytest.approx(1 / 2)
    assert distance(Depth({}), Depth({})) == 0.0


@given(
    st.dictionaries(st.sampled_from([0, 1, 2]), st.integers(0, 6)),
    st.dictionaries(st.sampled_from([0, 1, 2]), st.integers(0, 6), min_size=1),
)
def test_distance_zero_iff_satisfies(cand: dict, target: dict) -> None:
    c = Depth({(k, 0): v for k, v in cand.items()})
    t = Depth({(k, 0): v for k, v in target.items()})
    d = distance(c, t)
    assert 0.0 <= d <= 1.0
    assert (d == 0.0) == satisfies(c, t)


@given(st.dictionaries(st.sampled_from([0, 1, 2]), st.integers(0, 6), min_size=1), st.integers(0, 10**6))
def test_mutate_stays_non_negative_moves_by_at_most_delta_and_is_reproducible(values: dict, seed: int) -> None:
    target = Depth({(k, 0): v for k, v in values.items()})
    a = mutate(target, random.Random(seed))
    assert a == mutate(target, random.Random(seed))
    assert set(a) == set(target)
    for pair, v in a.items():
        assert v >= 0
        assert abs(v - target[pair]) <= 2
        if target[pair] >= 2:
            assert v != target[pair]  # p=1 and a nonzero step: every pair moves (unless clipped)
    assert mutate(target, random.Random(seed), p=0.0) == target


def test_mutate_reaches_every_step() -> None:
    target = Depth({(0, 0): 5})
    seen = {mutate(target, random.Random(s))[(0, 0)] for s in range(200)}
    assert seen == {3, 4, 6, 7}
    seen = {mutate(target, random.Random(s), delta_max=1)[(0, 0)] for s in range(50)}
    assert seen == {4, 6}


def test_render() -> None:
    d = Depth({(1, 0): 3, (0, 0): 1}, (("a", "x"), ("out",)))
    assert render_depth(d) == "a -> out: 1\nx -> out: 3"
    assert render_depth(Depth({(0, 0): 2})) == "in0 -> out0: 2"
    assert "no input" in render_depth(Depth({}))


def test_pairs_are_positional() -> None:
    """Value ids do not matter: a region and its replacement (other ids)
    compare pair by pair; labels are for display only."""
    a = infer_depth(parse(model("  return relu(conv2d(x, 4))", inputs="x: [4, 8, 8], y: [4, 8, 8]")))
    b = infer_depth(parse(model("  return relu(conv2d(p, 4))", inputs="p: [4, 8, 8], q: [4, 8, 8]")))
    assert a == b and hash(a) == hash(b) and dict(a.items()) == {(0, 0): 2}
    assert a.labels != b.labels and a.label((0, 0))[0] == "x" and b.label((0, 0))[0] == "p"
    assert satisfies(b, a) and distance(b, a) == 0
    assert mutate(a, random.Random(0)).labels == a.labels


def test_combine_numbers_outputs() -> None:
    from alphanas.properties.depth import combine

    one = Depth({(0, 0): 2}, (("x",), ("u",)))
    two = Depth({(0, 0): 1, (1, 0): 3}, (("x", "y"), ("v",)))
    both = combine([one, two])
    assert dict(both.items()) == {(0, 0): 2, (0, 1): 1, (1, 1): 3}
    assert both.labels == (("x", "y"), ("u", "v"))
