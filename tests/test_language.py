"""The language: round trips through the printer, the meaning of lowering
(defaults, folding, bindings, rebinding, blocks), and shape inference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alphanas import Program, analyze, parse, print_program
from alphanas.cli import main
from alphanas.lang.ir import Arith, Sym

# -- round trips ---------------------------------------------------------------------------

#: Handwritten programs that, together, use every syntactic form.
PROGRAMS = {
    "blocks-defaults-keywords": """\
# a tiny resnet
block basic(x, c: int, s: int = 1) {
  y = relu(batchnorm(conv2d(x, c, k=3, s=s, p=1, bias=false)))
  y = batchnorm(conv2d(y, c, k=3, p=1, bias=false))
  return relu(add(x, y))
}
model resnet_tiny(x: [3, 32, 32]) {
  h = relu(batchnorm(conv2d(x, 16, k=3, p=1, bias=false)))
  h = basic(h, 16)
  h = basic(h, c=8 * 2, s=1)
  return dense(mean(h, [1, 2]), 10)
}
""",
    "arithmetic": """\
block arith(x, c: int, d: int = 2) {
  a = conv2d(x, (c + 1) * 2 - c // 2)
  b = conv2d(x, c - (c - 1) + d * (c + d))
  e = conv2d(x, c - -1, k=-(-3), p=(1))
  f = conv2d(x, -c + 3 * c)
  g = conv2d(x, c // (d * 1) + c // d * 2)
  return concat(a, b, e, f, g)
}
model m(x: [3, 8, 8], width: int = 4) {
  return arith(x, width * 2 - 1, d=-(-1) + 2 * 3 // 2)
}
""",
    "literals-comments-trailing-commas": """\
# leading comment
model m(
  x: [3, 8, 8],  # the image
  classes: int = 10,
) {
  y = batchnorm(x, eps=1e-06, momentum=0.01, affine=false,)
  y = dropout(y, p=.25)  # short float
  y = batchnorm(y, 1E-3)
  y = gelu(y, approximate="tanh")
  y = maxpool(y, 3, s=2, p=1, ceil=true)
  s = mean(y, [1, 2,], keep=true)
  y = mul(y, sigmoid(s))
  y = reshape(y, [3, 5 * 5])  # maxpool: 8 -> 5
  return dense(flatten(y), classes, bias=true)
}
""",
    "several-inputs-and-nested-blocks": """\
block mix(a, b, c: int) {
  return add(conv2d(a, c), conv2d(b, c))
}
block twice(x, y, c: int) {
  h = mix(x, y, c)
  return mix(h, relu(h), c=c)
}
model m(x: [3, 8, 8], y: [5, 8, 8]) {
  z = twice(x, y, 6)
  z = concat(z, y, dim=-3)
  return softmax(flatten(z), dim=0)
}
""",
    "rebinding-dead-and-odd-names": """\
model m(x: [3, 8, 8]) {
  out = relu(x)
  relu = relu(out)
  dead = tanh(x)
  y = relu(relu)
  y = add(y, relu(y), out)
  y_relu = sigmoid(y)
  return add(y_relu, relu(y))
}
""",
    "return-an-input": "model m(x: [3, 8, 8]) {\n  return x\n}\n",
    "keyword-for-positional": "model m(x: [3, 8, 8]) {\n  return conv2d(x, out=8, k=3)\n}\n",
}


@pytest.mark.parametrize("text", PROGRAMS.values(), ids=PROGRAMS.keys())
def test_printing_is_a_fixed_point_and_round_trips(text: str) -> None:
    program = parse(text)
    printed = print_program(program)
    again = parse(printed)
    assert again == program
    assert print_program(again) == printed


@pytest.mark.parametrize("text", PROGRAMS.values(), ids=PROGRAMS.keys())
def test_handwritten_programs_analyse(text: str) -> None:
    assert analyze(parse(text)).output_shape


def test_printer_writes_the_canonical_form() -> None:
    messy = """\
# comment
block unused(x) {
  return x
}
block b(x, c: int, s: int = 1,) {
  y = conv2d(x, out=c * 1, bias=true, k=3, p=1, s=s)   # defaults spelled out are kept
  return relu(batchnorm(y, eps=0.00001))
}
model m(x: [3, 8, 8], classes: int = 10) {
  h = b(x, 4, 1)
  h = b(h, c=2 + 2, s=2,)
  pooled = mean(h, [1, 2])
  return dense(pooled, classes)
}
"""
    expected = """\
block b(x, c: int, s: int = 1) {
  y = conv2d(x, c * 1, k=3, s=s, p=1, bias=true)
  return relu(batchnorm(y, eps=1e-05))
}

model m(x: [3, 8, 8], classes: int = 10) {
  h = b(x, 4, s=1)
  h = b(h, 4, s=2)
  pooled = mean(h, [1, 2])
  return dense(pooled, classes)
}
"""
    assert print_program(parse(messy)) == expected


# -- lowering --------------------------------------------------------------------------------


def model_text(body: str, inputs: str = "x: [3, 8, 8]") -> str:
    return f"model m({inputs}) {{\n{body}\n}}\n"


def single(expr: str, inputs: str = "x: [3, 8, 8]") -> Program:
    return parse(model_text(f"  return {expr}", inputs))


def test_defaults_are_filled_in() -> None:
    assert single("conv2d(x, 8)") == single("conv2d(x, 8, k=1, s=1)")
    node = single("conv2d(x, 8)").model.nodes[-1]
    assert node.attrs == (("out", 8), ("k", 1), ("s", 1), ("p", 0), ("d", 1), ("groups", 1), ("bias", True))


def test_positional_and_keyword_arguments_mean_the_same() -> None:
    assert single("conv2d(x, 8, 3, 2)") == single("conv2d(x, k=3, out=8, s=2)")
    assert single("conv2d(x, 8, 3)") != single("conv2d(x, 8, 5)")


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("2 * 3 + 1", 7),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 2 - 3", 5),
        ("10 - (2 - 3)", 11),
        ("7 // 2", 3),
        ("20 // 2 // 5", 2),
        ("-3 + 10", 7),
        ("-(2 + 3) + 10", 5),
        ("2 * -3 + 10", 4),
        ("10 - -2", 12),
        ("3 * (7 // 2) - 1", 8),
    ],
)
def test_integer_arithmetic_is_folded(expr: str, value: int) -> None:
    assert single(f"conv2d(x, {expr})").model.nodes[-1].attr("out") == value


def test_arithmetic_over_block_parameters_stays_symbolic() -> None:
    program = parse(
        "block b(x, c: int, d: int = 1) {\n  return conv2d(x, (c + 1) * d - c // 2)\n}\n"
        + model_text("  return b(x, 4)")
    )
    out = program.block("b").nodes[-1].attr("out")
    c, d = Sym("c"), Sym("d")
    assert out == Arith("-", Arith("*", Arith("+", c, 1), d), Arith("//", c, 2))
    assert analyze(program).output_shape == (3, 8, 8)  # (4 + 1) * 1 - 4 // 2


def test_block_calls_bind_arguments_and_defaults(tiny_resnet: str) -> None:
    program = parse(tiny_resnet)
    calls = [n for n in program.model.nodes if n.op == "basic"]
    # `basic(h, 16)` and `basic(h, c=8 * 2)`: same bindings, default s filled in
    assert [n.attrs for n in calls] == [(("c", 16), ("s", 1)), (("c", 16), ("s", 1))]
    block = program.block("basic")
    assert [p.name for p in block.params] == ["c", "s"]
    assert block.params[1].default == 1
    assert block.nodes[0].attr("s") == Sym("s")


def test_rebinding_resolves_to_the_latest_definition() -> None:
    program = parse(model_text("  y = relu(x)\n  y = sigmoid(y)\n  y = add(y, tanh(y))\n  return y"))
    nodes = {n.id: n for n in program.model.nodes}
    out = nodes[program.model.output]
    assert out.op == "add"
    first, nested = (nodes[i] for i in out.inputs)
    assert first.op == "sigmoid" and nested.op == "tanh"
    assert nested.inputs == (first.id,)  # tanh(y) reads the y bound just before
    assert nodes[first.inputs[0]].op == "relu"
    assert [n.name for n in program.model.nodes] == ["y", "y", None, "y"]


def test_nested_calls_become_nodes_before_their_reader() -> None:
    program = single("dense(flatten(relu(x)), 4)")
    assert [n.op for n in program.model.nodes] == ["relu", "flatten", "dense"]
    assert [n.name for n in program.model.nodes] == [None, None, None]
    ids = [n.id for n in program.model.nodes]
    assert len(set(ids)) == len(ids)
    assert program.model.nodes[1].inputs == (ids[0],)


def test_unused_blocks_are_dropped_and_used_ones_kept_in_definition_order() -> None:
    program = parse(
        "block unused(x) {\n  return x\n}\n"
        "block inner(x) {\n  return relu(x)\n}\n"
        "block outer(x) {\n  return inner(x)\n}\n"
        + model_text("  return outer(x)")
    )
    assert program.block_names == ("inner", "outer")
    with pytest.raises(KeyError):
        program.block("unused")


def test_block_instances_share_one_definition(tiny_resnet: str) -> None:
    program = parse(tiny_resnet)
    assert program.block_names == ("basic",)
    assert program.instances("basic") == [("resnet_tiny", "h_1"), ("resnet_tiny", "h_2")]
    inst = analyze(program)
    # the same block, bindings and input shapes: analysed once, shared
    assert inst.calls["h_1"] is inst.calls["h_2"]
    assert inst.calls["h_1"].graph is program.block("basic")


def test_calls_with_different_bindings_are_different_instances() -> None:
    program = parse(
        "block b(x, c: int) {\n  return conv2d(x, c)\n}\n"
        + model_text("  h = b(x, 4)\n  return b(h, 6)")
    )
    inst = analyze(program)
    first, second = (inst.calls[n.id] for n in program.model.nodes)
    assert first is not second
    assert (first.output_shape, second.output_shape) == ((4, 8, 8), (6, 8, 8))
    assert dict(second.bindings) == {"c": 6}


def test_model_int_parameters_are_symbols_with_overridable_defaults() -> None:
    program = parse("model m(x: [3, 8, 8], classes: int = 10) {\n  return dense(mean(x, [1, 2]), classes)\n}\n")
    assert program.model.nodes[-1].attr("out") == Sym("classes")
    assert analyze(program).output_shape == (10,)
    assert analyze(program.with_model_params(classes=3)).output_shape == (3,)


# -- shape inference ----------------------------------------------------------------------------


def shape(expr: str, inputs: str = "x: [3, 8, 8]") -> tuple[int, ...]:
    return analyze(single(expr, inputs)).output_shape


@pytest.mark.parametrize(
    ("inputs", "expr", "expected"),
    [
        # conv2d: out = (size + 2p - d(k - 1) - 1) // s + 1
        ("x: [3, 32, 32]", "conv2d(x, 8, k=3, s=2, p=1)", (8, 16, 16)),
        ("x: [3, 7, 9]", "conv2d(x, 4, k=3, s=2)", (4, 3, 4)),
        ("x: [3, 32, 32]", "conv2d(x, 8, k=3, d=2)", (8, 28, 28)),
        ("x: [3, 10, 10]", "conv2d(x, 6, k=5, s=3, p=2, d=2)", (6, 2, 2)),
        ("x: [4, 8, 8]", "conv2d(x, 8, k=3, p=1, groups=4)", (8, 8, 8)),
        ("x: [3, 224, 224]", "maxpool(conv2d(x, 64, k=7, s=2, p=3), 3, s=2, p=1)", (64, 56, 56)),
        # pooling: the stride defaults to the window; ceil mode rounds up but
        # drops a last window that would start in the right padding (torch)
        ("x: [4, 7, 7]", "maxpool(x, 2)", (4, 3, 3)),
        ("x: [4, 7, 7]", "maxpool(x, 2, ceil=true)", (4, 4, 4)),
        ("x: [1, 5, 5]", "maxpool(x, 2, s=2, p=1, ceil=true)", (1, 3, 3)),
        ("x: [1, 6, 6]", "maxpool(x, 3, s=2, p=1, ceil=true)", (1, 4, 4)),
        ("x: [2, 9, 9]", "avgpool(x, 3, s=2)", (2, 4, 4)),
        ("x: [8, 7, 5]", "adaptive_avgpool(x, 1)", (8, 1, 1)),
        ("x: [8, 7, 5]", "adaptive_maxpool(x, 2)", (8, 2, 2)),
        # flatten, mean, reshape, dense
        ("x: [8, 4, 4]", "flatten(x)", (128,)),
        ("x: [8, 4, 4]", "flatten(x, start=1)", (8, 16)),
        ("x: [8, 4, 4]", "flatten(x, start=0, end=1)", (32, 4)),
        ("x: [8, 4, 6]", "mean(x, [1, 2])", (8,)),
        ("x: [8, 4, 6]", "mean(x, [1, 2], keep=true)", (8, 1, 1)),
        ("x: [8, 4, 6]", "mean(x, [-1])", (8, 4)),
        ("x: [8, 4, 6]", "mean(x, [0])", (4, 6)),
        ("x: [4, 4, 4]", "reshape(x, [16, 4])", (16, 4)),
        ("x: [16, 2, 2]", "dense(mean(x, [1, 2]), 10)", (10,)),
        ("x: [4, 4, 4]", "dense(reshape(x, [4, 16]), 10)", (4, 10)),
        # concat along channels (default) or another axis
        ("x: [3, 8, 8], y: [5, 8, 8]", "concat(x, y)", (8, 8, 8)),
        ("x: [3, 8, 2], y: [3, 8, 5]", "concat(x, y, dim=-1)", (3, 8, 7)),
        # broadcasting: squeeze-excite multiplies [C, H, W] by [C, 1, 1]
        ("x: [16, 8, 8]", "mul(x, sigmoid(mean(x, [1, 2], keep=true)))", (16, 8, 8)),
        ("x: [16, 8, 8]", "mul(x, reshape(sigmoid(dense(mean(x, [1, 2]), 16)), [16, 1, 1]))", (16, 8, 8)),
        ("x: [8, 4, 4]", "add(mean(x, [1, 2], keep=true), x)", (8, 4, 4)),
    ],
)
def test_shape_inference(inputs: str, expr: str, expected: tuple[int, ...]) -> None:
    assert shape(expr, inputs) == expected


def test_costs_of_a_convolution_and_a_dense_layer() -> None:
    conv = analyze(single("conv2d(x, 8, k=3, p=1)", "x: [3, 32, 32]")).total
    assert conv.params == 8 * 3 * 3 * 3 + 8
    assert conv.matmul_flops == 2 * (8 * 32 * 32) * (3 * 3 * 3)  # one multiply-add = 2 FLOPs
    assert conv.other_flops == 8 * 32 * 32  # the bias
    depthwise = analyze(single("conv2d(x, 8, k=3, p=1, groups=8, bias=false)", "x: [8, 4, 4]")).total
    assert depthwise.params == 8 * 9
    dense = analyze(single("dense(x, 10)", "x: [16]")).total
    assert (dense.params, dense.matmul_flops, dense.other_flops) == (170, 2 * 10 * 16, 10)


def test_block_instance_costs_add_up(tiny_resnet: str) -> None:
    inst = analyze(parse(tiny_resnet))
    block = inst.calls["h_1"]
    assert block.total.params == 2 * (16 * 16 * 9) + 2 * (2 * 16)  # two convs, two batchnorms
    assert inst.total.params == sum(inst.costs[n.id].params for n in inst.graph.nodes)


def test_zoo_resnets_match_torchvision_parameter_counts() -> None:
    from alphanas import zoo

    for name, params in (("resnet18", 11_689_512), ("resnet50", 25_557_032)):
        inst = analyze(zoo.load(name))
        assert inst.output_shape == (1000,)
        assert inst.total.params == params


# -- the benchmark smoke test -------------------------------------------------------------------


def test_frontend_benchmark_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "frontend", "--repeats", "2"]) == 0
    table = capsys.readouterr().out
    assert "resnet50" in table and "parse+analyze" in table
    assert main(["bench", "frontend", "--repeats", "2", "--models", "small_cnn", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    stages = {r["stage"] for r in report["results"]}
    assert {"parse", "analyze", "parse+analyze", "print", "hash", "codegen"} <= stages
    assert all(r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] for r in report["results"])


def test_benchmark_list_names_the_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "list"]) == 0
    listed = capsys.readouterr().out
    assert "frontend" in listed and "import" in listed


def test_unknown_benchmark_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fronted"]) == 2
    err = capsys.readouterr().err
    assert "frontend" in err and "Traceback" not in err
