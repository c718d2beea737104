"""The ``zero`` op (NAS-Bench-201's ``none`` edge): shape, costs, PyTorch
form, and its properties against the concrete references. The op-library
tables of ``test_ops.py`` and ``test_mixing.py`` cover it as well."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import torch

from alphanas import analyze, ops, parse
from alphanas.cli import main
from alphanas.properties import Level
from alphanas.properties.concrete import probe_mixing
from alphanas.properties.concrete_depth import probe_depth
from alphanas.properties.depth import infer_depth
from alphanas.properties.mixing import infer_mixing
from alphanas.pytorch.codegen import build, module_source

torch.set_num_threads(1)


def model(body: str, inputs: str = "x: [4, 6, 6]") -> str:
    return f"model m({inputs}) {{\n{body}\n}}\n"


def test_shape_and_costs_are_those_of_a_free_op() -> None:
    inst = analyze(parse(model("  return zero(x)")))
    assert inst.output_shape == (4, 6, 6)
    assert (inst.total.params, inst.total.matmul_flops, inst.total.other_flops) == (0, 0, 0)
    # in a sum it costs nothing: the add's FLOPs are all there is
    both = analyze(parse(model("  return add(zero(x), x)"))).total
    assert both.flops == analyze(parse(model("  return add(x, x)"))).total.flops


def test_builds_to_zeros_that_keep_the_graph_connected() -> None:
    program = parse(model("  return add(zero(relu(x)), conv2d(x, 4, k=3, p=1))"))
    module = build(program).eval()
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    zero_only = build(parse(model("  return zero(x)"))).eval()
    out = zero_only(x)
    assert torch.equal(out, torch.zeros(2, 4, 6, 6))
    out.sum().backward()  # autograd runs through it, with a zero gradient
    assert torch.equal(x.grad, torch.zeros_like(x))
    # the zero branch adds nothing: the output is the convolution alone
    only_conv = build(parse(model("  return conv2d(x, 4, k=3, p=1)"))).eval()
    only_conv.load_state_dict(dict(zip(only_conv.state_dict(), module.state_dict().values())))
    torch.testing.assert_close(module(x), only_conv(x))
    source, _ = module_source(program)
    assert ".mul(0.0)" in source  # NAS-Bench-201's Zero: x.mul(0.)


def test_mixing_is_none_everywhere_and_agrees_with_the_gradient_probe() -> None:
    program = parse(model("  return zero(conv2d(x, 4, k=3, p=1))"))
    mixing = infer_mixing(program)
    assert all(v == Level.NONE for row in mixing[(0, 0)] for v in row)
    assert mixing == probe_mixing(program)
    # a zero branch contributes nothing to a sum: the other branch's mixing is all
    joined = parse(model("  return add(zero(x), conv2d(x, 4, k=3, p=1))"))
    alone = parse(model("  return conv2d(x, 4, k=3, p=1)"))
    assert infer_mixing(joined) == infer_mixing(alone) == probe_mixing(joined)


def test_depth_counts_it_for_nothing_on_both_sides() -> None:
    cases = {
        "  return zero(x)": 0,
        "  return relu(zero(relu(x)))": 1,  # N, (nothing), N: one run
        "  return conv2d(zero(relu(x)), 4)": 2,  # N, (nothing), L
        "  return add(zero(x), relu(conv2d(x, 4)))": 3,  # L N L on the conv path
    }
    for body, expected in cases.items():
        program = parse(model(body))
        abstract = infer_depth(program)
        assert dict(abstract.items()) == {(0, 0): expected}, body
        assert abstract == probe_depth(program), body


def test_never_proposed_by_synthesis_but_listed_in_the_op_library() -> None:
    op = ops.lookup("zero")
    assert op is not None and not op.synthesize and op.depth_kind == "neutral"
    assert op.variants([(4, 6, 6)]) == ()
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["ops"]) == 0
    assert "zero(x0)" in out.getvalue()
