"""NAS-Bench-201 in the language (``alphanas/nb201.py``, the grammar and the
seed program in ``grammars/spaces/``): arch strings to cells and back, the
network against NAS-Bench-201's published parameter and FLOP counts, against
an independent plain-PyTorch implementation (parameters, FLOPs by torch's
counter, outputs with the same weights)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import lark
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from alphanas import analyze, parse, print_program
from alphanas.benchmarks.nb201 import (
    CELL_GRAMMAR,
    DEFAULT_ARCH,
    OPS,
    SEED,
    NB201Error,
    arch_of,
    arch_string,
    cell_body,
    edges_of,
    network,
    network_text,
)
from alphanas.lang.printer import print_graph
from alphanas.pytorch.codegen import build

torch.set_num_threads(1)

EXCERPT = Path(__file__).parent / "data" / "nb201_excerpt.csv"

ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NO_CONV = [
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|avg_pool_3x3~1|skip_connect~2|",
]
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def excerpt_archs() -> list[str]:
    import csv

    with EXCERPT.open(newline="") as f:
        return [row["arch"] for row in csv.DictReader(f)]


def random_arch(rng: random.Random) -> str:
    return arch_string([[rng.choice(list(OPS)) for _ in range(i)] for i in (1, 2, 3)])


# -- arch strings, cells and the grammar ------------------------------------------------------


def test_arch_strings_round_trip_through_the_network() -> None:
    for arch in excerpt_archs():
        program = network(arch)
        assert arch_of(program) == arch
        # and through the canonical printer
        assert arch_of(parse(print_program(program))) == arch


def test_the_seed_file_is_the_network_of_the_default_cell() -> None:
    assert network_text(DEFAULT_ARCH) == SEED.read_text()
    seed = parse(SEED.read_text())
    assert arch_of(seed) == DEFAULT_ARCH
    assert seed == network(DEFAULT_ARCH)
    # one shared cell block, called 15 times; two reductions
    assert len(seed.instances("cell")) == 15 and len(seed.instances("reduction")) == 2
    assert network(BEST, classes=100) == network(BEST).with_model_params(classes=100)


def test_cell_bodies_are_what_the_printer_writes() -> None:
    """A printed cell block, line by line without its indentation, is
    cell_body: so the grammar's sentences are canonical text."""
    for arch in [*NO_CONV, ALL_3X3, BEST]:
        printed = print_graph(network(arch).block("cell")).split("\n")
        assert printed[0] == "block cell(x, c: int) {" and printed[-1] == "}"
        assert [line.strip() for line in printed[1:-1]] == cell_body(arch).split("\n")


def _grammar() -> lark.Lark:
    return lark.Lark(CELL_GRAMMAR.read_text(), start="cell", parser="earley", keep_all_tokens=True)


def test_the_grammar_derives_every_cell_and_nothing_else() -> None:
    grammar = _grammar()
    for arch in excerpt_archs():
        grammar.parse(cell_body(arch))
    not_cells = [
        cell_body(BEST).replace("relu(x)", "relu(relu(x))", 1),  # not an NB201 op
        cell_body(NO_CONV[1]).replace("identity(x)", "batchnorm(conv2d(relu(x), c, k=1, bias=false))", 1),
        cell_body(BEST).replace("return n3", "return n2"),
        "\n".join(cell_body(BEST).split("\n")[1:]),  # no n1
    ]
    for text in not_cells:
        with pytest.raises(lark.exceptions.LarkError):
            grammar.parse(text)


def test_the_grammar_s_edges_are_the_ops_table() -> None:
    """Each edge rule offers exactly the five fragments of OPS, so the space
    has 5^6 = 15,625 cells, one per NAS-Bench-201 architecture."""
    grammar = _grammar()
    literal = {t.name: t.pattern.value for t in grammar.terminals}
    for rule, source in (("edge_x", "x"), ("edge_n1", "n1"), ("edge_n2", "n2")):
        alternatives = [r.expansion for r in grammar.rules if r.origin.name == rule]
        assert all(len(a) == 1 for a in alternatives)
        assert sorted(literal[a[0].name] for a in alternatives) == sorted(t.format(src=source) for t in OPS.values())
    uses = [s.name for r in grammar.rules if r.origin.name.startswith("node") for s in r.expansion]
    assert sorted(u for u in uses if u.startswith("edge")) == sorted(
        ["edge_x"] * 3 + ["edge_n1"] * 2 + ["edge_n2"])


def test_arch_of_reads_any_spelling_of_a_cell() -> None:
    """Value names, the order of add's operands and named intermediate values
    do not matter: the edges are compared as the printer writes them."""
    text = (
        "block cell(x, c: int) {\n"
        "  first = relu(x)\n"
        "  a = batchnorm(conv2d(first, c, k=3, p=1, bias=false))\n"
        "  b = add(avgpool(a, 3, s=1, p=1), zero(x))\n"
        "  return add(batchnorm(conv2d(relu(b), c, bias=false)), identity(a), identity(x))\n"
        "}\n"
        "model m(x: [16, 8, 8]) {\n  return cell(x, 16)\n}\n"
    )
    program = parse(text)
    expected = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|skip_connect~1|nor_conv_1x1~2|"
    assert arch_of(program) == expected


@pytest.mark.parametrize(
    ("arch", "phrase"),
    [
        ("|nor_conv_3x3~0|+|none~0|none~1|", "2 node group(s)"),
        ("|nor_conv_3x3~0|+|none~0|nor_conv_5x5~1|+|none~0|none~1|none~2|", "unknown op 'nor_conv_5x5'"),
        ("|nor_conv_3x3~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must come from node 0"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has 1 edge(s)"),
        ("nor_conv_3x3~0+none~0|none~1+none~0|none~1|none~2", "not of the form"),
    ],
)
def test_a_bad_arch_string_says_what_is_wrong(arch: str, phrase: str) -> None:
    with pytest.raises(NB201Error, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        edges_of(arch)


def test_a_misspelt_op_gets_a_suggestion() -> None:
    with pytest.raises(NB201Error) as info:
        cell_body("|nor_conv_3x3~0|+|none~0|skip_conect~1|+|none~0|none~1|none~2|")
    assert "did you mean 'skip_connect'" in (info.value.hint or "")


def test_a_program_that_is_not_a_cell_is_explained() -> None:
    body = network_text(BEST)
    bad_edge = parse(body.replace("identity(x)", "relu(relu(x))", 1))
    with pytest.raises(NB201Error, match=r"relu\(relu\(x\)\).*none of NAS-Bench-201's ops"):
        arch_of(bad_edge)
    two_edges = parse(body.replace("n3 = add(identity(x), ", "n3 = add(", 1))
    with pytest.raises(NB201Error, match="add\\(\\) of 3 edges"):
        arch_of(two_edges)
    with pytest.raises(NB201Error, match="no block 'cel'"):
        arch_of(network(BEST), block="cel")
    with pytest.raises(NB201Error, match="classes"):
        network(BEST, classes=0)


# -- parameters and FLOPs: published values and a count by hand ----------------------------------

#: NATS-Bench's cost information for its topology search space (the largest
#: network, every edge nor_conv_3x3, and the smallest, no convolution in the
#: cell), per data set: parameters, and FLOPs in millions as NAS-Bench-201
#: counts them (multiply-accumulates of Conv2d and Linear layers, plus the
#: Linear's bias additions). CIFAR-10 and CIFAR-100 at 32×32, ImageNet16-120
#: at 16×16.
PUBLISHED = {
    "cifar10": {"classes": 10, "side": 32, "params": (1_531_546, 73_306), "mflops": (220.11969, 7.78305)},
    "cifar100": {"classes": 100, "side": 32, "params": (1_537_396, 79_156), "mflops": (220.12554, 7.78890)},
    "imagenet16_120": {"classes": 120, "side": 16, "params": (1_538_696, 80_456), "mflops": (55.03756, 1.95340)},
}


def hand_macs(arch: str, classes: int = 10, side: int = 32) -> int:
    """Multiply-accumulates of every convolution and the classifier, by hand.

    For CIFAR-10 (32×32, 10 classes), every edge nor_conv_3x3:
      stem 3→16, 3×3, 32×32:                          3·16·9·1024 =     442,368
      per stage (5 cells × 6 edges of C·C·9·side²):
        16 ch at 32×32: 30 · 16·16·9·1024 = 30 · 2,359,296 =        70,778,880
        32 ch at 16×16: 30 · 32·32·9·256  = 30 · 2,359,296 =        70,778,880
        64 ch at  8×8:  30 · 64·64·9·64   = 30 · 2,359,296 =        70,778,880
      reduction 16→32 (out 16×16): 16·32·9·256 + 32·32·9·256 + 16·32·256
                                 = 1,179,648 + 2,359,296 + 131,072 =  3,670,016
      reduction 32→64 (out 8×8):   32·64·9·64 + 64·64·9·64 + 32·64·64
                                 = 1,179,648 + 2,359,296 + 131,072 =  3,670,016
      classifier 64→10:                                                     640
      total                                                         220,119,680
    NAS-Bench-201 adds the classifier's 10 bias additions: 220,119,690, its
    published 220.11969 M. Without convolutions in the cell: 442,368 +
    2 · 3,670,016 + 640 = 7,783,040 (+ 10: the published 7.78305 M).
    """
    per_edge = {"nor_conv_3x3": 9, "nor_conv_1x1": 1}
    k = sum(per_edge.get(op, 0) for row in edges_of(arch) for op in row)
    total = 3 * 16 * 9 * side * side
    for stage in range(3):
        c, s = 16 << stage, side >> stage
        total += 5 * k * c * c * s * s
        if stage:
            cin, s_out = c // 2, s
            total += cin * c * 9 * s_out**2 + c * c * 9 * s_out**2 + cin * c * s_out**2
    return total + 64 * classes


@pytest.mark.parametrize("dataset", list(PUBLISHED))
def test_published_parameters_and_flops(dataset: str) -> None:
    ref = PUBLISHED[dataset]
    classes, side = ref["classes"], ref["side"]
    for arch, params, mflops in ((ALL_3X3, ref["params"][0], ref["mflops"][0]),
                                 *((a, ref["params"][1], ref["mflops"][1]) for a in NO_CONV)):
        program = network(arch, classes).with_input_shapes((3, side, side))
        total = analyze(program).total
        assert total.params == params, arch
        # alphanas counts 2 FLOPs per multiply-add of convolutions and dense
        # layers (matmul_flops) and puts bias additions, normalisation,
        # activations, pooling and adds in other_flops; NAS-Bench-201 counts
        # the multiply-adds and the classifier's bias additions
        assert total.matmul_flops == 2 * hand_macs(arch, classes, side)
        assert total.matmul_flops // 2 + classes == round(mflops * 1e6), arch


# -- an independent PyTorch implementation -------------------------------------------------------


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def relu_conv_bn(cin: int, cout: int, k: int, stride: int, pad: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout))


def reference_op(name: str, c: int, include_pad: bool) -> nn.Module:
    """NAS-Bench-201's five ops, as its paper describes them."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return relu_conv_bn(c, c, 1, 1, 0)
    if name == "nor_conv_3x3":
        return relu_conv_bn(c, c, 3, 1, 1)
    assert name == "avg_pool_3x3"
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=include_pad)


class ReferenceCell(nn.Module):
    def __init__(self, edges: Sequence[Sequence[str]], c: int, include_pad: bool) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(reference_op(op, c, include_pad) for op in row) for row in edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for row in self.edges:
            nodes.append(sum(op(nodes[j]) for j, op in enumerate(row)))
        return nodes[-1]


class ReferenceResidual(nn.Module):
    """The stride-2 ResNet basic block between stages."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(cin, cout, 3, 2, 1)
        self.conv_b = relu_conv_bn(cout, cout, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_b(self.conv_a(x))
        return self.downsample(x) + y


class ReferenceNetwork(nn.Module):
    """NAS-Bench-201's CIFAR network: stem, 3 stages of 5 cells (16, 32, 64
    channels) with residual reductions, batchnorm + relu, global pooling and
    a linear classifier. ``include_pad``: count the padding in the cell's
    average pooling (NAS-Bench-201 does not)."""

    def __init__(self, arch: str, classes: int = 10, include_pad: bool = False) -> None:
        super().__init__()
        edges = edges_of(arch)
        layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)]
        for stage, c in enumerate((16, 32, 64)):
            if stage:
                layers.append(ReferenceResidual(c // 2, c))
            layers += [ReferenceCell(edges, c, include_pad) for _ in range(5)]
        layers += [nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def some_archs() -> list[str]:
    rng = random.Random(5)
    return [ALL_3X3, BEST, DEFAULT_ARCH, NO_CONV[3], *rng.sample(excerpt_archs(), 4)]


@pytest.mark.parametrize("arch", some_archs())
def test_parameters_and_flops_agree_with_the_reference(arch: str) -> None:
    reference = ReferenceNetwork(arch).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        reference(torch.randn(2, 3, 32, 32))
    total = analyze(network(arch)).total
    assert total.params == sum(p.numel() for p in reference.parameters())
    assert 2 * total.matmul_flops == counter.get_total_flops()  # batch of 2


def _stateful_modules_in_call_order(module: nn.Module, x: torch.Tensor) -> list[nn.Module]:
    """The modules holding weights or statistics, in the order the forward
    pass calls them."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in module.modules()
             if list(m.parameters(recurse=False)) or list(m.buffers(recurse=False))]
    with torch.no_grad():
        module(x)
    for h in hooks:
        h.remove()
    return order


def _randomise(module: nn.Module, gen: torch.Generator) -> None:
    """Weights and batchnorm statistics away from their defaults, so that a
    misplaced one shows."""
    with torch.no_grad():
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen, dtype=t.dtype) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen, dtype=t.dtype) * (0.5 if t.ndim < 2 else 1 / t[0].numel() ** 0.5))


@pytest.mark.parametrize("arch", [ALL_3X3, DEFAULT_ARCH, NO_CONV[1], NO_CONV[2], BEST,
                                  "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"])
def test_outputs_equal_the_reference_with_the_same_weights(arch: str) -> None:
    """With NAS-Bench-201's weights copied in, the built network computes
    what the reference computes (evaluation mode). A cell with average
    pooling matches the reference only when both count the padding: border
    values are where alphanas's avgpool (torch's default) and NAS-Bench-201's
    (count_include_pad=False) differ."""
    pools = "avg_pool_3x3" in arch
    ours = build(network(arch)).double().eval()
    reference = ReferenceNetwork(arch, include_pad=pools).double().eval()
    _randomise(reference, torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    mine, theirs = _stateful_modules_in_call_order(ours, x), _stateful_modules_in_call_order(reference, x)
    assert [type(m) for m in mine] == [type(m) for m in theirs]
    for a, b in zip(mine, theirs):
        a.load_state_dict(b.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-9, atol=1e-9)
        if pools:
            nb201 = ReferenceNetwork(arch, include_pad=False).double().eval()
            nb201.load_state_dict(reference.state_dict())
            assert not torch.allclose(ours(x), nb201(x))


def test_bench_variation_options_are_checked_before_any_run(capsys: pytest.CaptureFixture[str]) -> None:
    from alphanas.bench.nb201 import run_nb201

    for flag, option, phrase in (
        ("--variation-option", "p_dorp=0.5", "'p_dorp' is not one of the settings"),
        ("--variation-option", "p_drop", "write KEY=VALUE"),
        ("--selection-option", "tournamnet=3", "'tournamnet' is not one of the settings"),
        ("--selection-option", "=3", "write KEY=VALUE"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            run_nb201(["--seeds", "1", flag, option, "--table", "no/such/table.csv"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert phrase in err and flag in err


def test_bench_selection_options_go_to_the_strategies_whose_selection_takes_them() -> None:
    from alphanas.bench.nb201 import strategy_with

    picks = (("first_objective_probability", 0.5), ("tournament", 3))
    assert strategy_with("random_edit_nsga2", (), picks).selection_options == picks
    assert strategy_with("alphanas_aging", (), picks).selection_options == (("tournament", 3),)
    assert strategy_with("alphanas_pareto_weighted", (), picks).selection_options == (
        ("first_objective_probability", 0.5),)


def test_a_strategys_own_options_win_over_the_harness_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from alphanas.bench import strategies
    from alphanas.bench.nb201 import strategy_with

    name, entry = strategies.strategy("alphanas_aging_tight", "alphanas", "aging", variation_options={"p_tight": 0.0})
    monkeypatch.setitem(strategies.STRATEGIES, name, entry)
    chosen = strategy_with(name, (("p_tight", 1.0), ("p_drop", 0.5)), ())
    assert dict(chosen.variation_options) == {"p_tight": 0.0, "p_drop": 0.5}
    assert (chosen.variation, chosen.selection) == ("alphanas", "aging")
