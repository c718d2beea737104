"""The mixing property: the op library's transfer matrices against the
concrete semantics (Jacobians of the built module), hand-derived matrices of
canonical cases, and composite programs where composing per-op matrices
differs from measuring the whole, each difference pinned down and explained.

Matrices are written one string per input axis (batch first), one character
per output axis (batch first): ``.`` none, ``1`` one, ``m`` many, ``A`` all.
"""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import alphanas
from alphanas import ops
from alphanas.lang.errors import ShapeError
from alphanas.properties import Level, Matrix
from alphanas.properties.concrete import probe_mixing
from alphanas.properties.mixing import (
    Mixing,
    compose,
    distance,
    identity,
    infer_mixing,
    mutate,
    render,
    satisfies,
)

torch.set_num_threads(1)  # tiny tensors: threads only add overhead

_LEVEL = {".": Level.NONE, "1": Level.ONE, "m": Level.MANY, "A": Level.ALL}


def M(*rows: str) -> Matrix:
    return tuple(tuple(_LEVEL[ch] for ch in row) for row in rows)


def _program(inputs: str, body: str, blocks: str = "") -> alphanas.Program:
    return alphanas.parse(f"{blocks}\nmodel m({inputs}) {{ {body} }}")


def _only(m: Mixing, name: str = "x") -> Matrix:
    (pair,) = [p for p in m if m.label(p)[0] == name]
    return m[pair]


# -- (a) every op's rule is exact on its own -----------------------------------------------

#: (op, inputs, body): single-op programs, tiny shapes
OP_CASES = [
    ("conv2d", "x: [4, 5, 5]", "conv2d(x, 6, k=3, s=2, p=1, groups=2)"),
    ("conv2d", "x: [3, 5, 6]", "conv2d(x, 2, k=3, bias=false)"),
    ("conv2d", "x: [2, 7, 7]", "conv2d(x, 3, k=3, d=2, p=2)"),
    ("conv2d", "x: [4, 5, 5]", "conv2d(x, 4, k=3, p=1, groups=4)"),
    ("conv2d", "x: [2, 6, 5]", "conv2d(x, 3, s=2)"),
    ("conv2d", "x: [2, 5, 4]", "conv2d(x, 2, k=5, s=3, p=2)"),
    ("dense", "x: [6]", "dense(x, 4)"),
    ("dense", "x: [3, 5]", "dense(x, 2, bias=false)"),
    ("batchnorm", "x: [4, 3, 3]", "batchnorm(x)"),
    ("batchnorm", "x: [5]", "batchnorm(x, affine=false)"),
    ("batchnorm", "x: [3, 4]", "batchnorm(x)"),
    ("layernorm", "x: [4, 5]", "layernorm(x)"),
    ("layernorm", "x: [3, 4, 5]", "layernorm(x, dims=2)"),
    ("groupnorm", "x: [6, 3, 3]", "groupnorm(x, 3)"),
    ("groupnorm", "x: [4, 5]", "groupnorm(x, 2, affine=false)"),
    ("relu", "x: [3, 4, 5]", "relu(x)"),
    ("relu6", "x: [3, 4]", "relu6(x)"),
    ("gelu", "x: [3, 4]", "gelu(x)"),
    ("silu", "x: [3, 4]", "silu(x)"),
    ("hardswish", "x: [3, 4]", "hardswish(x)"),
    ("hardsigmoid", "x: [3, 4]", "hardsigmoid(x)"),
    ("sigmoid", "x: [5]", "sigmoid(x)"),
    ("tanh", "x: [2, 3, 4]", "tanh(x)"),
    ("softmax", "x: [4, 5]", "softmax(x)"),
    ("softmax", "x: [4, 5]", "softmax(x, dim=0)"),
    ("maxpool", "x: [2, 6, 6]", "maxpool(x, 2)"),
    ("maxpool", "x: [2, 6, 5]", "maxpool(x, 3, s=2, p=1)"),
    ("maxpool", "x: [2, 5, 5]", "maxpool(x, 3, s=2, ceil=true)"),
    ("maxpool", "x: [2, 4, 4]", "maxpool(x, 2, s=3, p=1, ceil=true)"),
    ("avgpool", "x: [2, 6, 6]", "avgpool(x, 2)"),
    ("avgpool", "x: [2, 6, 7]", "avgpool(x, 3, s=2, p=1, ceil=true)"),
    ("adaptive_avgpool", "x: [3, 5, 5]", "adaptive_avgpool(x, 1)"),
    ("adaptive_avgpool", "x: [3, 7, 5]", "adaptive_avgpool(x, 2)"),
    ("adaptive_maxpool", "x: [2, 7, 5]", "adaptive_maxpool(x, 3)"),
    ("mean", "x: [3, 4, 5]", "mean(x, [1, 2])"),
    ("mean", "x: [3, 4, 5]", "mean(x, [0, -1], keep=true)"),
    ("add", "x: [3, 4, 5], y: [1, 5]", "add(x, y)"),
    ("add", "x: [3, 4], y: [3, 4], z: [3, 1]", "add(x, y, z)"),
    ("mul", "x: [3, 4, 5], y: [3, 1, 1]", "mul(x, y)"),
    ("concat", "x: [3, 4, 5], y: [3, 2, 5]", "concat(x, y, dim=1)"),
    ("concat", "x: [3, 4], y: [2, 4]", "concat(x, y)"),
    ("concat", "x: [2, 3], y: [2, 1], z: [2, 2]", "concat(x, y, z, dim=-1)"),
    ("identity", "x: [3, 4]", "identity(x)"),
    ("zero", "x: [3, 4, 5]", "zero(x)"),
    ("dropout", "x: [3, 4]", "dropout(x, 0.3)"),
    ("flatten", "x: [3, 4, 5]", "flatten(x)"),
    ("flatten", "x: [2, 3, 4, 5]", "flatten(x, 1, 2)"),
    ("flatten", "x: [4, 1, 1]", "flatten(x)"),
    ("reshape", "x: [3, 4, 5]", "reshape(x, [12, 5])"),
    ("reshape", "x: [6, 4]", "reshape(x, [4, 3, 2])"),
    ("permute", "x: [3, 4, 5]", "permute(x, [2, 0, 1])"),
    ("permute", "x: [3, 4]", "permute(x, [-1, 0])"),
    ("transpose", "x: [3, 4, 5]", "transpose(x, 0, 2)"),
    ("slice", "x: [5, 4]", "slice(x, 0, 1, 3)"),
    ("slice", "x: [3, 7]", "slice(x, 1, 0, 100, step=3)"),
    ("slice", "x: [6, 2]", "slice(x, 0, -2, 6)"),
    ("scale", "x: [3, 4]", "scale(x, 0.125)"),
    ("param", "x: [4, 5]", 'add(x, param([4, 5], init="normal"))'),
    ("param", "x: [4, 5]", "concat(param([1, 5]), x, dim=0)"),
    ("attention", "x: [5, 8]", "attention(x, 2)"),
    ("attention", "x: [1, 6]", "attention(x, 1, dropout=0.1)"),
    ("stochastic_depth", "x: [3, 4]", "stochastic_depth(x, 0.2)"),
]


def test_every_op_has_a_mixing_case() -> None:
    assert {op for op, _, _ in OP_CASES} == set(ops.all_ops())


def test_every_op_defines_its_rule() -> None:
    for name, op in ops.all_ops().items():
        assert type(op).mixing is not ops.Op.mixing, name


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c[2])
def test_op_rule_equals_probe(case: tuple[str, str, str]) -> None:
    _, inputs, body = case
    program = _program(inputs, f"return {body}")
    assert infer_mixing(program) == probe_mixing(program)


def test_param_has_no_inputs_to_mix() -> None:
    assert ops.lookup("param").mixing((), ops.Attrs({"shape": (4,), "init": "zeros"}), (4,)) == ()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    c=st.integers(1, 4), h=st.integers(1, 7), w=st.integers(1, 6), k=st.integers(1, 4),
    s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), per=st.integers(1, 2),
    depthwise=st.booleans(),
)
def test_conv2d_rule_equals_probe(c, h, w, k, s, p, d, per, depthwise) -> None:
    groups = c if depthwise else 1
    call = f"conv2d(x, {groups * per}, k={k}, s={s}, p={p}, d={d}, groups={groups})"
    program = _program(f"x: [{c}, {h}, {w}]", f"return {call}")
    try:
        alphanas.analyze(program)
    except ShapeError:
        assume(False)
    assert infer_mixing(program) == probe_mixing(program)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool"]),
    c=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 6), k=st.integers(1, 4),
    s=st.integers(1, 3), p=st.integers(0, 2), ceil=st.booleans(),
)
def test_pool_rule_equals_probe(kind, c, h, w, k, s, p, ceil) -> None:
    if kind.startswith("adaptive"):
        call = f"{kind}(x, {k})"
    else:
        call = f"{kind}(x, {k}, s={s}, p={p}, ceil={str(ceil).lower()})"
    program = _program(f"x: [{c}, {h}, {w}]", f"return {call}")
    try:
        alphanas.analyze(program)
    except ShapeError:
        assume(False)
    assert infer_mixing(program) == probe_mixing(program, patience=10)


# -- (b) canonical cases, derived by hand ------------------------------------------------

#: (inputs, body, expected matrix of x). Rows: batch, then x's axes; columns:
#: batch, then the output's axes. Derivations are in the comments.
CANONICAL = [
    # 1x1 conv: channels all-to-all (also into the batch column: moving along
    # the batch from the centre reads every channel); height/width one-to-one.
    ("x: [4, 5, 5]", "conv2d(x, 6)", M("1...", "AAAA", "..1.", "...1")),
    # 3x3 conv: a window of 3 rows of 5: many-to-one
    ("x: [4, 5, 5]", "conv2d(x, 6, k=3, p=1)", M("1...", "AAAA", "..m.", "...m")),
    # a 5x5 window on a 5-wide axis covers it: all, in every column
    ("x: [4, 5, 5]", "conv2d(x, 6, k=5, p=2)", M("1...", "AAAA", "AAAA", "AAAA")),
    # strided 1x1: rows 0, 2, 4 are read, rows 1 and 3 feed nothing, so
    # height is not paired with anything (NONE, not ONE)
    ("x: [4, 5, 5]", "conv2d(x, 6, s=2)", M("1...", "AAAA", "....", "....")),
    # strided 3x3 with padding: the windows overlap and cover the axis
    ("x: [4, 5, 5]", "conv2d(x, 6, k=3, s=2, p=1)", M("1...", "AAAA", "..m.", "...m")),
    # depthwise: channel c from channel c only; grouped (2 per group): many
    ("x: [4, 5, 5]", "conv2d(x, 4, k=3, p=1, groups=4)", M("1...", ".1..", "..m.", "...m")),
    ("x: [4, 5, 5]", "conv2d(x, 4, k=3, p=1, groups=2)", M("1...", ".m..", "..m.", "...m")),
    # dense on the last axis of tokens × features: features all, tokens one
    ("x: [3, 4]", "dense(x, 6)", M("1..", ".1.", "AAA")),
    ("x: [4]", "dense(x, 6)", M("1.", "AA")),
    # global pooling: height and width all-to-one into every output axis
    ("x: [4, 5, 5]", "adaptive_avgpool(x, 1)", M("1...", ".1..", "AAAA", "AAAA")),
    ("x: [4, 5, 5]", "mean(x, [1, 2])", M("1.", ".1", "AA", "AA")),
    # attention: every token and feature of a sample feeds every output
    ("x: [5, 8]", "attention(x, 2)", M("1..", "AAA", "AAA")),
    # residual block: the join of the identity (one) and the conv (many)
    ("x: [4, 5, 5]", "relu(add(x, conv2d(x, 4, k=3, p=1)))", M("1...", "AAAA", "..m.", "...m")),
    # reshape [3, 4, 5] -> [12, 5]: channels and height merge into tokens,
    # width stays the features
    ("x: [3, 4, 5]", "reshape(x, [12, 5])", M("1..", ".1.", ".1.", "..1")),
    # flatten: every axis one-to-one into the features; size-1 axes are all
    ("x: [3, 4, 5]", "flatten(x)", M("1.", ".1", ".1", ".1")),
    ("x: [4, 1, 1]", "flatten(x)", M("1.", ".1", "AA", "AA")),
]


@pytest.mark.parametrize("case", CANONICAL, ids=lambda c: c[1])
def test_canonical(case: tuple[str, str, Matrix]) -> None:
    inputs, body, expected = case
    program = _program(inputs, f"return {body}")
    assert _only(infer_mixing(program)) == expected
    assert _only(probe_mixing(program)) == expected


# -- (c) composite programs ------------------------------------------------------------

RESIDUAL = """block res(x, c: int) {
  y = relu(batchnorm(conv2d(x, c, k=3, p=1, bias=false)))
  y = batchnorm(conv2d(y, c, k=3, p=1, bias=false))
  return relu(add(x, y))
}"""
SE = """block se(x, c: int, r: int) {
  s = sigmoid(dense(relu(dense(mean(x, [1, 2]), r)), c))
  return mul(x, reshape(s, [c, 1, 1]))
}"""
ENCODER = """block encoder(x, dim: int, heads: int, mlp: int) {
  h = add(dropout(attention(layernorm(x, eps=1e-06), heads), p=0.0), x)
  y = dense(dropout(gelu(dense(layernorm(h, eps=1e-06), mlp)), p=0.0), dim)
  return add(h, dropout(y, p=0.0))
}"""
INVERTED = """block inverted_residual(x, c: int, t: int = 6) {
  y = relu6(batchnorm(conv2d(x, c * t, bias=false)))
  y = relu6(batchnorm(conv2d(y, c * t, k=3, p=1, groups=c * t, bias=false)))
  y = batchnorm(conv2d(y, c, bias=false))
  return add(x, y)
}"""

#: composites where composing the op rules gives exactly the measured mixing
AGREE = [
    # two 3x3 convs reach 2 rows each side: on a 7-wide axis still a window
    ("residual", RESIDUAL, "x: [3, 7, 7]", "res(x, 3)", M("1...", "AAAA", "..m.", "...m")),
    # pre-norm encoder: attention already mixes everything of a sample
    ("vit encoder", ENCODER, "x: [5, 8]", "encoder(x, 8, 2, 12)", M("1..", "AAA", "AAA")),
    # expand 1x1, depthwise 3x3, project 1x1, plus the input
    # squeeze-excite: the gate of channel c reads all of x's sample and is
    # broadcast over height and width, so every output reads everything of
    # its sample. Composed, the gate's [C, 1, 1] reshape reaches the output's
    # height and width from size-1 axes only; what keeps the entries ALL is
    # that height and width feed the centre whole (the batch column), which
    # `close` propagates along the row.
    ("squeeze-excite", SE, "x: [4, 5, 5]", "se(x, 4, 2)", M("1...", "AAAA", "AAAA", "AAAA")),
    ("inverted residual", INVERTED, "x: [2, 7, 7]", "inverted_residual(x, 2, t=3)",
     M("1...", "AAAA", "..m.", "...m")),
]


@pytest.mark.parametrize("case", AGREE, ids=lambda c: c[0])
def test_composite_agrees(case) -> None:
    _, blocks, inputs, body, expected = case
    program = _program(inputs, f"return {body}", blocks)
    assert _only(infer_mixing(program)) == expected
    assert _only(probe_mixing(program)) == expected


#: composites where they differ: (name, blocks, inputs, body, abstract, concrete, stricter)
#: ``stricter`` names the side that reports more mixing (the other satisfies-wise below it).
DIFFER = [
    # Two stacked 3x3 convs on a 5-wide axis: the centre reads rows 0..4, all
    # of them (concrete ALL, and so height feeds every output axis), but the
    # composition of two MANY windows stays MANY on the diagonal only.
    ("two 3x3 convs", "", "x: [2, 5, 5]", "conv2d(conv2d(x, 2, k=3, p=1), 2, k=3, p=1)",
     M("1...", "AAAA", "..m.", "...m"), M("1...", "AAAA", "AAAA", "AAAA"), "concrete"),
    # ViT's class-token read-out without the encoder: the output is the
    # class token alone (a `param`), so it does not depend on the image
    # (concrete NONE everywhere, even batch→batch). Matrices track axes, not
    # positions: composed, the patch tokens' features still reach the
    # output features through concat and slice.
    ("class token read-out", "", "x: [3, 8, 8]",
     "dense(flatten(slice(add(concat(param([1, 6]), permute(flatten(conv2d(x, 6, k=4, s=4), start=1), [1, 0])), "
     'param([5, 6], init="normal")), 0, 0, 1)), 3)',
     M("1.", "AA", "..", ".."), M("..", "..", "..", ".."), "abstract"),
]


@pytest.mark.parametrize("case", DIFFER, ids=lambda c: c[0])
def test_composite_differs_as_documented(case) -> None:
    _, blocks, inputs, body, abstract, concrete, stricter = case
    program = _program(inputs, f"return {body}", blocks)
    a, c = infer_mixing(program), probe_mixing(program)
    assert _only(a) == abstract
    assert _only(c) == concrete
    high, low = (c, a) if stricter == "concrete" else (a, c)
    assert satisfies(high, low) and not satisfies(low, high)


# -- the partial order, distance, mutation, rendering -----------------------------------


def _mixing(**pairs: Matrix) -> Mixing:
    """Pairs by input position: x is input 0, y input 1."""
    index = {"x": 0, "y": 1}
    return Mixing.of({(index[k], 0): m for k, m in pairs.items()}, (("x", "y"), ("out",)))


def test_compose_takes_the_strongest_complete_path() -> None:
    conv = M("1...", "AAAA", "..m.", "...m")
    assert compose(identity(3), conv) == conv
    assert compose(conv, identity(3)) == conv
    # one then many: many; a NONE step cuts the path
    assert compose(M("1.", ".1"), M("1.", ".m")) == M("1.", ".m")
    assert compose(M("1.", "1."), M(".A", "..")) == M(".A", ".A")
    assert compose(M("1.", ".."), M("1.", ".A")) == M("1.", "..")


def test_satisfies_and_distance() -> None:
    target = _mixing(x=M("1.", ".m"))
    assert satisfies(_mixing(x=M("1.", ".A")), target)
    assert distance(_mixing(x=M("1.", ".A")), target) == 0
    assert not satisfies(_mixing(x=M("1.", ".1")), target)
    assert distance(_mixing(x=M("1.", ".1")), target) == pytest.approx(1 / 2)
    assert distance(_mixing(x=M("..", "..")), target) == 1
    assert distance(_mixing(y=M("1.", ".m")), target) == 1  # the pair is missing
    two = _mixing(x=M("1.", ".m"), y=M("AA", "AA"))
    assert distance(_mixing(x=M("1.", ".m"), y=M("A.", "..")), two) == pytest.approx((0 + 3 / 4) / 2)
    assert distance(target, Mixing.of({})) == 0


def test_mutate_relaxes() -> None:
    program = _program("x: [4, 5, 5]", "return conv2d(x, 6, k=3, p=1)")
    target = infer_mixing(program)
    rng = random.Random(0)
    for _ in range(20):
        relaxed = mutate(target, rng, p=0.5, drop=0.2)
        assert satisfies(target, relaxed)
    assert mutate(target, rng, p=0.0) == target
    none = mutate(target, rng, p=1.0)
    assert all(v == Level.NONE for row in _only(none) for v in row)
    assert len(mutate(target, rng, drop=1.0)) == 0


def test_pairs_are_positional() -> None:
    """Value ids do not matter: a region and its replacement (other ids)
    compare pair by pair; labels are for display only."""
    a = infer_mixing(_program("x: [4, 5, 5], y: [4, 5, 5]", "return add(conv2d(x, 4, k=3, p=1), y)"))
    b = infer_mixing(_program("p: [4, 5, 5], q: [4, 5, 5]", "return add(conv2d(p, 4, k=3, p=1), q)"))
    assert a == b and list(a) == [(0, 0), (1, 0)]
    assert a.label((1, 0))[0] == "y" and b.label((1, 0))[0] == "q"
    assert satisfies(b, a) and mutate(a, random.Random(0)).labels == a.labels


def test_combine_numbers_outputs() -> None:
    from alphanas.properties.mixing import combine

    u = Mixing.of({(0, 0): M("1.", ".1")}, (("x",), ("u",)))
    v = Mixing.of({(0, 0): M("1.", ".A"), (1, 0): M("1.", "..")}, (("x", "y"), ("v",)))
    both = combine([u, v])
    assert list(both) == [(0, 0), (0, 1), (1, 1)]
    assert both[(0, 1)] == M("1.", ".A") and both.labels == (("x", "y"), ("u", "v"))
    assert both.label((1, 1)) == ("y", "v")


def test_render_names_axes() -> None:
    program = _program("x: [5, 8]", "return dense(x, 4)")
    text = render(infer_mixing(program))
    lines = text.splitlines()
    assert lines[0].startswith("x -> ")
    assert lines[1].split() == ["batch", "tokens", "features"]
    assert lines[4].split() == ["features", "all", "all", "all"]
    assert lines[3].split() == ["tokens", "-", "one", "-"]


@pytest.mark.parametrize("name", ["resnet18_cifar", "mobilenet_v2", "vit_tiny"])
def test_zoo_classifiers_mix_everything(name: str) -> None:
    """A classifier's logits read every channel and pixel of their own image
    (inferred on the full models, through their shared block instances)."""
    from alphanas import zoo

    assert _only(infer_mixing(zoo.load(name))) == M("1.", "AA", "AA", "AA")


@settings(max_examples=200, deadline=None)
@given(
    out=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    data=st.data(),
)
def test_broadcast_closed_form_equals_the_line_walk(out, data) -> None:
    """``mixrules.broadcast_matrix`` (closed form) equals ``from_deps`` over
    ``broadcast_dep`` (the generic walk) on random broadcasts."""
    from alphanas.ops import mixrules

    rank = data.draw(st.integers(1, len(out)))
    x = [data.draw(st.sampled_from([1, n])) for n in out[len(out) - rank :]]
    whole = data.draw(st.lists(st.integers(0, rank - 1), unique=True, max_size=rank))
    generic = mixrules.from_deps(x, out, mixrules.broadcast_dep(x, out, whole))
    assert mixrules.broadcast_matrix(x, out, whole) == generic


def test_close_fills_rows_read_whole_at_the_centre() -> None:
    from alphanas.properties.mixing import close

    assert close(M("1..", "A.1", ".1.")) == M("1..", "AAA", ".1.")
    assert close(M("1.", ".m")) == M("1.", ".m")
    # a class-token read-out: tokens feed the centre whole, the output's
    # tokens axis has size 1 (the slice alone reaches it from token 0 only)
    program = _program("x: [5, 8]", "return slice(attention(x, 2), 0, 0, 1)")
    assert _only(infer_mixing(program)) == _only(probe_mixing(program)) == M("1..", "AAA", "AAA")


def test_regroup_in_closed_form_equals_the_position_walk() -> None:
    """The numpy form of a reshape's matrix equals walking every position."""
    import math
    import random

    from alphanas.ops import mixrules

    rng = random.Random(0)
    for _ in range(300):
        x = tuple(rng.randint(1, 6) for _ in range(rng.randint(1, 4)))
        rest, out = math.prod(x), []
        for _ in range(rng.randint(0, 2)):
            d = rng.choice([d for d in range(1, rest + 1) if rest % d == 0])
            out.append(d)
            rest //= d
        out = (*out, rest)
        walk = mixrules.pointwise(x, out, lambda o, x=x, out=out: mixrules.unravel(mixrules.ravel(o, out), x))
        assert mixrules.regroup(x, out) == walk, (x, out)


def test_mutate_lifts_per_sample_entries_one_level() -> None:
    program = _program("x: [4, 5, 5]", "return relu(x)")  # one-to-one along every axis
    target = infer_mixing(program)
    lifted = mutate(target, random.Random(0), p=0.0, lift=1.0)
    before, after = _only(target), _only(lifted)
    for i, (row, new_row) in enumerate(zip(before, after)):
        for j, (v, w) in enumerate(zip(row, new_row)):
            if v and i > 0 and j > 0:
                assert w == min(v + 1, Level.ALL)
            else:
                assert w == v  # the batch axis and absent entries stay
    assert satisfies(lifted, target) and not satisfies(target, lifted)  # asks for more
    twice = mutate(lifted, random.Random(0), p=0.0, lift=1.0)
    assert all(w == Level.ALL for row in _only(twice)[1:] for w in row[1:] if w)
    assert mutate(twice, random.Random(0), p=0.0, lift=1.0) == twice  # nothing above ALL
