"""The op library checked against PyTorch, one table of example calls.

For every case: the program is parsed, analysed and built, and run on a batch
of 2; the inferred shape, parameter count and matmul FLOPs must be what torch
shows, and the op's shape and cost rules must give the same answers when its
sizes are Z3 variables (what the synthesizer evaluates). Every registered op
needs at least one case, and every op that can reject an input needs a
negative case, so a new op without tests fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torchvision
import z3
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import alphanas
from alphanas import ops
from alphanas.lang.analysis import Instance
from alphanas.lang.ir import Node
from alphanas.ops import CONCRETE, Attrs, Check
from alphanas.ops.modules import LearnedTensor, StochasticDepth
from alphanas.pytorch.codegen import build, module_source

torch.set_num_threads(1)  # tiny tensors: threads only add overhead

BATCH = 2

Reference = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class Case:
    op: str
    text: str
    #: what the op computes, on the batched inputs (checked where given)
    reference: Reference | None = None

    @property
    def id(self) -> str:
        body = self.text.split("{", 1)[1].rsplit("}", 1)[0].strip()
        return f"{self.op}: {body}"


def _m(inputs: str, body: str) -> str:
    return f"model m({inputs}) {{ {body} }}"


CASES = [
    # convolutions: stride, padding, dilation, groups, depthwise, bias on and off
    Case("conv2d", _m("x: [8, 9, 9]", "return conv2d(x, 6, k=3, s=2, p=1, groups=2)")),
    Case("conv2d", _m("x: [3, 7, 7]", "return conv2d(x, 5, k=3, bias=false)")),
    Case("conv2d", _m("x: [3, 9, 9]", "return conv2d(x, 4, k=3, d=2, p=2)")),
    Case("conv2d", _m("x: [6, 8, 8]", "return conv2d(x, 6, k=3, p=1, groups=6, bias=false)")),
    Case("conv2d", _m("x: [4, 9, 6]", "return conv2d(x, 7, s=2)")),
    Case("conv2d", _m("x: [2, 11, 10]", "return conv2d(x, 4, k=5, s=3, p=2, d=1)")),
    Case("dense", _m("x: [10]", "return dense(x, 7)")),
    Case("dense", _m("x: [5, 6]", "return dense(x, 3, bias=false)")),
    Case("batchnorm", _m("x: [4, 5, 5]", "return batchnorm(x)")),
    Case("batchnorm", _m("x: [6]", "return batchnorm(x, affine=false)")),
    Case("batchnorm", _m("x: [3, 7]", "return batchnorm(x, eps=0.001)")),
    Case("layernorm", _m("x: [5, 6]", "return layernorm(x)")),
    Case("layernorm", _m("x: [3, 4, 5]", "return layernorm(x, dims=2, eps=1e-6)")),
    Case("layernorm", _m("x: [3, 4]", "return layernorm(x, affine=false)")),
    Case("groupnorm", _m("x: [6, 4, 4]", "return groupnorm(x, 3)")),
    Case("groupnorm", _m("x: [4, 5]", "return groupnorm(x, 2, affine=false)")),
    Case("relu", _m("x: [3, 4, 5]", "return relu(x)"), torch.relu),
    Case("relu6", _m("x: [3, 4, 5]", "return relu6(x)"), nn.functional.relu6),
    Case("gelu", _m("x: [3, 4, 5]", "return gelu(x)"), nn.functional.gelu),
    Case("gelu", _m("x: [7]", 'return gelu(x, approximate="tanh")'),
         lambda x: nn.functional.gelu(x, approximate="tanh")),
    Case("silu", _m("x: [3, 4, 5]", "return silu(x)"), nn.functional.silu),
    Case("hardswish", _m("x: [3, 4, 5]", "return hardswish(x)"), nn.functional.hardswish),
    Case("hardsigmoid", _m("x: [3, 4, 5]", "return hardsigmoid(x)"), nn.functional.hardsigmoid),
    Case("sigmoid", _m("x: [3, 4, 5]", "return sigmoid(x)"), torch.sigmoid),
    Case("tanh", _m("x: [3, 4, 5]", "return tanh(x)"), torch.tanh),
    Case("softmax", _m("x: [4, 5]", "return softmax(x)"), lambda x: x.softmax(-1)),
    Case("softmax", _m("x: [4, 5]", "return softmax(x, dim=0)"), lambda x: x.softmax(1)),
    Case("maxpool", _m("x: [3, 8, 8]", "return maxpool(x, 2)")),
    Case("maxpool", _m("x: [3, 8, 7]", "return maxpool(x, 3, s=2, p=1)")),
    Case("maxpool", _m("x: [2, 8, 8]", "return maxpool(x, 3, s=2, ceil=true)")),
    # ceil mode where torch drops the last window (it would start in the padding)
    Case("maxpool", _m("x: [2, 4, 4]", "return maxpool(x, 2, s=3, p=1, ceil=true)")),
    Case("avgpool", _m("x: [3, 8, 8]", "return avgpool(x, 2)")),
    Case("avgpool", _m("x: [2, 6, 7]", "return avgpool(x, 3, s=2, p=1, ceil=true)")),
    Case("adaptive_avgpool", _m("x: [3, 7, 7]", "return adaptive_avgpool(x, 1)")),
    Case("adaptive_avgpool", _m("x: [3, 7, 5]", "return adaptive_avgpool(x, 2)")),
    Case("adaptive_maxpool", _m("x: [2, 7, 5]", "return adaptive_maxpool(x, 3)")),
    Case("mean", _m("x: [3, 4, 5]", "return mean(x, [1, 2])"), lambda x: x.mean((2, 3))),
    Case("mean", _m("x: [3, 4, 5]", "return mean(x, [0, -1], keep=true)"),
         lambda x: x.mean((1, 3), keepdim=True)),
    Case("add", _m("x: [3, 4, 5], y: [1, 5]", "return add(x, y)"),
         lambda x, y: x + y[:, None]),
    Case("add", _m("x: [3, 4], y: [3, 4], z: [3, 1]", "return add(x, y, z)"),
         lambda x, y, z: x + y + z),
    Case("mul", _m("x: [3, 4, 5], y: [3, 1, 1]", "return mul(x, y)"), lambda x, y: x * y),
    Case("concat", _m("x: [3, 4, 5], y: [3, 2, 5]", "return concat(x, y, dim=1)"),
         lambda x, y: torch.cat([x, y], 2)),
    Case("concat", _m("x: [3, 4], y: [2, 4]", "return concat(x, y)"),
         lambda x, y: torch.cat([x, y], 1)),
    Case("concat", _m("x: [2, 3], y: [2, 1], z: [2, 2]", "return concat(x, y, z, dim=-1)"),
         lambda x, y, z: torch.cat([x, y, z], 2)),
    Case("identity", _m("x: [3, 4]", "return identity(x)"), lambda x: x),
    Case("zero", _m("x: [3, 4, 5]", "return zero(x)"), torch.zeros_like),
    Case("dropout", _m("x: [3, 4]", "return dropout(x, 0.3)"), lambda x: x),
    Case("flatten", _m("x: [3, 4, 5]", "return flatten(x)"), lambda x: x.reshape(BATCH, -1)),
    Case("flatten", _m("x: [2, 3, 4, 5]", "return flatten(x, 1, 2)"),
         lambda x: x.reshape(BATCH, 2, 12, 5)),
    Case("reshape", _m("x: [3, 4, 5]", "return reshape(x, [12, 5])"),
         lambda x: x.reshape(BATCH, 12, 5)),
    Case("permute", _m("x: [3, 4, 5]", "return permute(x, [2, 0, 1])"),
         lambda x: x.permute(0, 3, 1, 2)),
    Case("permute", _m("x: [3, 4]", "return permute(x, [-1, 0])"), lambda x: x.transpose(1, 2)),
    Case("transpose", _m("x: [3, 4, 5]", "return transpose(x, 0, 2)"),
         lambda x: x.transpose(1, 3)),
    Case("transpose", _m("x: [3, 4, 5]", "return transpose(x, -1, 1)"),
         lambda x: x.transpose(2, 3)),
    Case("slice", _m("x: [5, 4]", "return slice(x, 0, 1, 3)"), lambda x: x[:, 1:3]),
    Case("slice", _m("x: [3, 4, 6]", "return slice(x, -1, 2, 9223372036854775807)"),
         lambda x: x[:, :, :, 2:]),
    Case("slice", _m("x: [3, 7]", "return slice(x, 1, 0, 100, step=3)"), lambda x: x[:, :, 0::3]),
    Case("slice", _m("x: [6, 2]", "return slice(x, 0, -2, 6)"), lambda x: x[:, -2:]),
    Case("slice", _m("x: [3, 5]", "return slice(x, 1, -9, -1, step=2)"), lambda x: x[:, :, 0:4:2]),
    Case("scale", _m("x: [3, 4]", "return scale(x, 0.125)"), lambda x: x / 8),
    Case("param", _m("x: [4, 5]", 'return add(x, param([4, 5], init="normal"))')),
    Case("param", _m("x: [4, 5]", "return concat(param([1, 5]), x, dim=0)"),
         lambda x: torch.cat([torch.zeros(BATCH, 1, 5), x], 1)),
    Case("param", _m("x: [3, 2, 2]", 'return mul(param([3, 1, 1], init="ones"), x)'), lambda x: x),
    Case("attention", _m("x: [6, 8]", "return attention(x, 2)")),
    Case("attention", _m("x: [5, 12]", "return attention(x, 4, bias=false)")),
    Case("attention", _m("x: [1, 6]", "return attention(x, 1, dropout=0.1)")),
    Case("stochastic_depth", _m("x: [3, 4]", "return stochastic_depth(x, 0.2)"), lambda x: x),
    Case("stochastic_depth", _m("x: [3, 4, 4]", 'return stochastic_depth(x, 0.5, mode="batch")'),
         lambda x: x),
]


def test_every_op_has_a_case() -> None:
    assert {c.op for c in CASES} == set(ops.all_ops())


def _program(case: Case) -> tuple[alphanas.Program, Instance, Node]:
    program = alphanas.parse(case.text, f"{case.op}.arch")
    inst = alphanas.analyze(program)
    nodes = [n for n in program.model.nodes if n.op == case.op]
    assert len(nodes) == 1, f"a case applies its op once: {case.text}"
    return program, inst, nodes[0]


def _inputs(inst: Instance) -> list[torch.Tensor]:
    return [torch.randn(BATCH, *inst.shapes[i.id]) for i in inst.graph.inputs]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_agrees_with_torch(case: Case) -> None:
    program, inst, _ = _program(case)
    torch.manual_seed(0)
    model = build(program, inst).eval()
    xs = _inputs(inst)
    # FlopCounterMode sees attention's score and value products only with the
    # "math" kernel: CPU's default fused kernel (_scaled_dot_product_flash_
    # attention_for_cpu) has no FLOP formula and counts 0, and under no_grad
    # nn.MultiheadAttention takes its fast path (_native_multi_head_attention)
    # which hides even the projections. So: grad enabled, math kernel.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out = model(*xs)
    assert tuple(out.shape) == (BATCH, *inst.output_shape)
    assert sum(p.numel() for p in model.parameters()) == inst.total.params
    assert inst.total.matmul_flops * BATCH == counter.get_total_flops()
    if case.reference is not None:
        torch.testing.assert_close(out, case.reference(*xs))


def test_the_cases_exercise_matmul_flops() -> None:
    """The FLOP assertion above is not vacuous: conv2d, dense and attention
    cases count matmul FLOPs, and attention counts more than its projections."""
    for case in CASES:
        if case.op in ("conv2d", "dense", "attention"):
            assert _program(case)[1].total.matmul_flops > 0, case.text
    _, inst, _ = _program(CASES[[c.op for c in CASES].index("attention")])
    length, dim = inst.output_shape
    assert inst.total.matmul_flops == 2 * (4 * length * dim * dim + 2 * length * length * dim)


# -- symbolic agreement ---------------------------------------------------------------


class CollectingCheck(Check):
    """A symbolic check, as the synthesizer's: collects Z3 conditions."""

    def __init__(self) -> None:
        self.conditions: list[tuple[Any, str]] = []

    def require_symbolic(self, condition: Any, message: str) -> None:
        self.conditions.append((condition, message))


def _symbolic(op: ops.Op, ins: Sequence[tuple[int, ...]], attrs: Attrs) -> tuple[list, Attrs, list]:
    """Input shapes and arguments with Z3 variables for every size (input axes
    longer than 1, and the op's int size parameters), and the substitution
    back to the concrete values."""
    subst: list[tuple[z3.ArithRef, z3.IntNumRef]] = []

    def var(name: str, value: int) -> z3.ArithRef:
        v = z3.Int(name)
        subst.append((v, z3.IntVal(value)))
        return v

    # length-1 axes stay concrete: broadcasting reads them structurally
    shapes = [tuple(var(f"in{i}_{j}", n) if n != 1 else n for j, n in enumerate(s)) for i, s in enumerate(ins)]
    values = dict(attrs)
    for p in op.params:
        if p.size and p.kind == "int" and values[p.name] is not None:
            values[p.name] = var(p.name, values[p.name])
    return shapes, Attrs(values), subst


def _concrete(value: Any, subst: list) -> Any:
    if isinstance(value, z3.ExprRef):
        value = z3.simplify(z3.substitute(value, *subst))
        assert z3.is_int_value(value), f"not concrete after substitution: {value}"
        return value.as_long()
    return value


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rules_agree_symbolically(case: Case) -> None:
    _, inst, node = _program(case)
    op = ops.lookup(case.op)
    assert op is not None
    ins, out = inst.node_shapes(node)
    attrs = inst.attrs[node.id]
    assert tuple(op.shape(CONCRETE, ins, attrs)) == out
    sym_ins, sym_attrs, subst = _symbolic(op, ins, attrs)
    check = CollectingCheck()
    sym_out = op.shape(check, sym_ins, sym_attrs)
    assert [_concrete(n, subst) for n in sym_out] == list(out)
    for condition, message in check.conditions:
        assert z3.is_true(z3.simplify(z3.substitute(condition, *subst))), message
    cost, sym_cost = op.cost(ins, attrs, out), op.cost(sym_ins, sym_attrs, tuple(sym_out))
    for field in ("params", "matmul_flops", "other_flops", "activations"):
        assert _concrete(getattr(sym_cost, field), subst) == getattr(cost, field), field


def test_symbolic_conditions_are_collected_not_decided() -> None:
    """With symbolic sizes, conv2d's divisibility becomes a condition for the
    solver, and an unsatisfiable instance is recognised as such."""
    op = ops.lookup("conv2d")
    assert op is not None
    c, g = z3.Ints("c g")
    check = CollectingCheck()
    attrs = Attrs({"out": 6, "k": 3, "s": 1, "p": 1, "d": 1, "groups": g, "bias": True})
    op.shape(check, [(c, 8, 8)], attrs)
    solver = z3.Solver()
    solver.add(*(cond for cond, _ in check.conditions), c == 5, g == 2)
    assert solver.check() == z3.unsat


# -- invalid inputs ----------------------------------------------------------------------

#: ops that accept every input shape and every argument value of the right type
ALWAYS_VALID = {"relu", "relu6", "silu", "hardswish", "hardsigmoid", "sigmoid", "tanh", "identity", "zero", "scale"}

NEGATIVE = [
    ("conv2d", _m("x: [6, 8, 8]", "return conv2d(x, 4, k=3, groups=4)"), "not divisible by groups"),
    ("conv2d", _m("x: [6, 8]", "return conv2d(x, 4)"), "[C, H, W]"),
    ("conv2d", _m("x: [3, 4, 4]", "return conv2d(x, 4, k=7)"), "larger than the padded input"),
    ("dense", _m("x: [6]", "return dense(x, 0)"), "out=0"),
    ("batchnorm", _m("x: [2, 3, 4, 5]", "return batchnorm(x)"), "rank 4"),
    ("layernorm", _m("x: [4, 5]", "return layernorm(x, dims=3)"), "dims=3"),
    ("groupnorm", _m("x: [6, 4, 4]", "return groupnorm(x, 4)"), "not divisible by groups=4"),
    ("gelu", _m("x: [4]", 'return gelu(x, approximate="fast")'), "approximate"),
    ("softmax", _m("x: [4, 5]", "return softmax(x, dim=2)"), "dim=2"),
    ("maxpool", _m("x: [4, 5]", "return maxpool(x, 2)"), "[C, H, W]"),
    ("maxpool", _m("x: [2, 8, 8]", "return maxpool(x, 3, p=2)"), "padding 2"),
    ("avgpool", _m("x: [2, 3, 3]", "return avgpool(x, 5)"), "larger than the padded input"),
    ("adaptive_avgpool", _m("x: [4, 5]", "return adaptive_avgpool(x, 1)"), "[C, H, W]"),
    ("adaptive_maxpool", _m("x: [2, 4, 5]", "return adaptive_maxpool(x, 0)"), "size"),
    ("mean", _m("x: [2, 4, 5]", "return mean(x, [3])"), "out of range"),
    ("mean", _m("x: [2, 4, 5]", "return mean(x, [1, -2])"), "repeat"),
    ("add", _m("x: [3, 4], y: [3, 5]", "return add(x, y)"), "do not broadcast"),
    ("mul", _m("x: [3, 4], y: [2, 1]", "return mul(x, y)"), "do not broadcast"),
    ("concat", _m("x: [3, 4], y: [2, 5]", "return concat(x, y)"), "differ on axis 1"),
    ("concat", _m("x: [3, 4], y: [3]", "return concat(x, y)"), "differ in rank"),
    ("dropout", _m("x: [3]", "return dropout(x, 1.0)"), "p=1.0"),
    ("flatten", _m("x: [2, 3, 4]", "return flatten(x, 2, 1)"), "comes after"),
    ("reshape", _m("x: [3, 4]", "return reshape(x, [5, 2])"), "12 elements"),
    ("permute", _m("x: [3, 4, 5]", "return permute(x, [0, 0, 1])"), "not a permutation"),
    ("permute", _m("x: [3, 4, 5]", "return permute(x, [1, 0])"), "each of the 3 axes"),
    ("permute", _m("x: [3, 4]", "return permute(x, [0, 2])"), "out of range"),
    ("transpose", _m("x: [3, 4]", "return transpose(x, 0, 2)"), "out of range"),
    ("slice", _m("x: [3, 4]", "return slice(x, 1, 4, 9)"), "selects nothing"),
    ("slice", _m("x: [3, 4]", "return slice(x, 1, 2, 1)"), "selects nothing"),
    ("slice", _m("x: [3, 4]", "return slice(x, 0, 0, 2, step=0)"), "step=0"),
    ("slice", _m("x: [3, 4]", "return slice(x, 2, 0, 1)"), "out of range"),
    ("param", _m("x: [3]", "return add(x, param([3, 0]))"), "must be positive"),
    ("param", _m("x: [3]", 'return add(x, param([3], init="uniform"))'), "init"),
    ("attention", _m("x: [4, 10]", "return attention(x, 3)"), "not divisible by heads=3"),
    ("attention", _m("x: [3, 4, 4]", "return attention(x, 2)"), "[L, D]"),
    ("attention", _m("x: [4, 8]", "return attention(x, 2, dropout=1.0)"), "dropout"),
    ("stochastic_depth", _m("x: [4]", "return stochastic_depth(x, 1.5)"), "p=1.5"),
    ("stochastic_depth", _m("x: [4]", 'return stochastic_depth(x, 0.1, mode="col")'), "mode"),
]


def test_every_op_that_can_fail_has_a_negative_case() -> None:
    assert {op for op, _, _ in NEGATIVE} == set(ops.all_ops()) - ALWAYS_VALID


@pytest.mark.parametrize(("op", "text", "phrase"), NEGATIVE, ids=[f"{o}: {p}" for o, _, p in NEGATIVE])
def test_invalid_input_is_a_shape_error_naming_the_op(op: str, text: str, phrase: str) -> None:
    program = alphanas.parse(text)
    with pytest.raises(alphanas.ShapeError) as info:
        alphanas.analyze(program)
    assert f"{op}" in info.value.message
    assert phrase in info.value.message


def test_param_takes_no_tensor_input() -> None:
    with pytest.raises(alphanas.ProgramError, match="list of integers"):
        alphanas.parse(_m("x: [3]", "return add(x, param(x, [3]))"))
    # its errors show no (empty) list of input shapes
    with pytest.raises(alphanas.ShapeError) as info:
        alphanas.analyze(alphanas.parse(_m("x: [3]", "return add(x, param([0]))")))
    assert info.value.hint is None


# -- the torch side of the new ops ------------------------------------------------------------


def test_learned_tensor_initialisations() -> None:
    torch.manual_seed(0)
    assert torch.equal(LearnedTensor([2, 3])(), torch.zeros(1, 2, 3))
    assert torch.equal(LearnedTensor([4, 1, 1], init="ones")(), torch.ones(1, 4, 1, 1))
    normal = LearnedTensor([100, 100], init="normal")()
    assert normal.shape == (1, 100, 100)
    assert abs(normal.std().item() - 0.02) < 0.002
    with pytest.raises(ValueError, match="unknown init"):
        LearnedTensor([3], init="uniform")


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_matches_torchvision_in_training(mode: str) -> None:
    ours, theirs = StochasticDepth(0.4, mode).train(), torchvision.ops.StochasticDepth(0.4, mode).train()
    x = torch.randn(64, 3, 2)
    torch.manual_seed(1)
    expected = theirs(x)
    torch.manual_seed(1)
    got = ours(x)
    assert torch.equal(got, expected)
    dropped = int((got == 0).flatten(1).all(1).sum())
    if mode == "row":
        assert 0 < dropped < 64  # some samples dropped, not all
    else:
        assert dropped in (0, 64)  # all or nothing
    assert torch.equal(ours.eval()(x), x)


def test_param_broadcasts_over_the_batch_and_is_trained() -> None:
    """The class token is one tensor for all samples, and it gets gradients."""
    program = alphanas.parse(_m("x: [4, 5]", "return concat(param([1, 5]), x, dim=0)"))
    model = build(program)
    token = next(model.parameters())
    with torch.no_grad():
        token.normal_()
    out = model(torch.randn(3, 4, 5))
    assert out.shape == (3, 5, 5)
    assert torch.equal(out[0, 0], out[2, 0])
    out.sum().backward()
    assert token.grad is not None and torch.equal(token.grad, torch.full_like(token, 3.0))


def test_generated_source_carries_the_helpers_it_uses() -> None:
    program = alphanas.parse(_m("x: [4, 5]", "return stochastic_depth(concat(param([1, 5]), x), 0.1)"))
    source, _ = module_source(program)
    for helper in ("class LearnedTensor(", "def cat_batch(", "class StochasticDepth("):
        assert helper in source


def test_attention_matches_torch_multihead_attention() -> None:
    program = alphanas.parse(_m("x: [6, 8]", "return attention(x, 2)"))
    torch.manual_seed(0)
    model = build(program).eval()
    reference = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    reference.load_state_dict({k.split(".", 1)[1]: v for k, v in model.state_dict().items()})
    x = torch.randn(BATCH, 6, 8)
    expected, _ = reference(x, x, x)
    torch.testing.assert_close(model(x), expected)


# -- blocks written in the language, against torchvision's modules ------------------------------


def _copy_weights(ours: nn.Module, theirs: nn.Module) -> None:
    """Give our module non-trivial weights and statistics, then copy them, in
    registration order, into the reference (same shapes, checked)."""
    torch.manual_seed(0)
    state = ours.state_dict()
    for value in state.values():
        if value.is_floating_point():
            value.uniform_(0.5, 1.5)
    theirs_state = theirs.state_dict()
    assert [v.shape for v in state.values()] == [v.shape for v in theirs_state.values()]
    theirs.load_state_dict(dict(zip(theirs_state, state.values())))


SQUEEZE_EXCITE = """
block se(x, c: int, squeeze: int) {
  s = relu(conv2d(mean(x, [1, 2], keep=true), squeeze))
  return mul(x, sigmoid(conv2d(s, c)))
}
model m(x: [8, 5, 5]) { return se(x, 8, 2) }
"""

INVERTED_RESIDUAL = """
block inverted(x, c: int, e: int) {
  h = relu6(batchnorm(conv2d(x, c * e, bias=false)))
  h = relu6(batchnorm(conv2d(h, c * e, k=3, p=1, groups=c * e, bias=false)))
  return add(x, batchnorm(conv2d(h, c, bias=false)))
}
model m(x: [4, 6, 6]) { return inverted(x, 4, 6) }
"""


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        (SQUEEZE_EXCITE, lambda: torchvision.ops.SqueezeExcitation(8, 2)),
        (INVERTED_RESIDUAL, lambda: torchvision.models.mobilenetv2.InvertedResidual(4, 4, 1, 6)),
    ],
    ids=["squeeze_excite", "inverted_residual"],
)
def test_blocks_compute_what_torchvision_computes(text: str, reference: Callable[[], nn.Module]) -> None:
    program = alphanas.parse(text)
    inst = alphanas.analyze(program)
    ours, theirs = build(program, inst).eval(), reference().eval()
    assert inst.total.params == sum(p.numel() for p in theirs.parameters())
    _copy_weights(ours, theirs)
    x = torch.randn(BATCH, *inst.shapes["x"])
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
