"""NAS-Bench-Macro in the language: the network's costs against the table,
its space as a grammar, and the table as an evaluator.

Reads ``tests/data/nbmacro_excerpt.json``: 40 real records of
NAS-Bench-Macro's CIFAR-10 table (the best network ``22212220``, the
all-identity, all-3×3 and all-5×5 networks and 36 drawn with seed 19),
copied unchanged from ``../shared/data/nbmacro/nas-bench-macro_cifar10.json``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from alphanas import analyze, parse, parse_file
from alphanas.benchmarks import nbmacro
from alphanas.evaluation.evaluator import EvalContext, Fidelity
from alphanas.evaluation.table import TableEvaluator, load_table

EXCERPT = Path(__file__).parent / "data" / "nbmacro_excerpt.json"
RECORDS: dict[str, dict] = json.loads(EXCERPT.read_text())
BEST = "22212220"


def evaluate(evaluator: TableEvaluator, program):
    return evaluator.evaluate(program, Fidelity(), EvalContext())


@pytest.mark.parametrize("arch", sorted(RECORDS))
def test_the_networks_parameters_equal_the_tables(arch: str) -> None:
    total = analyze(nbmacro.network(arch)).total
    assert total.params == RECORDS[arch]["params"]
    # the table's FLOPs are the multiply-adds of the convolutions and the
    # classifier (one per multiply-add); alphanas counts 2 FLOPs per
    # multiply-add there and adds batch norm, ReLU, pooling and the adds
    assert total.matmul_flops == 2 * RECORDS[arch]["flops"]
    assert total.flops > 2 * RECORDS[arch]["flops"]


def test_arch_strings_read_back_from_the_program() -> None:
    for arch in RECORDS:
        assert nbmacro.arch_of(nbmacro.network(arch)) == arch
        assert nbmacro.arch_of(parse(nbmacro.network_text(arch))) == arch
    assert nbmacro.arch_of(parse_file(nbmacro.SEED)) == "22222222"


def test_what_is_not_the_network_is_refused_with_the_place() -> None:
    text = nbmacro.network_text("01201201")
    with pytest.raises(nbmacro.NBMacroError, match="layer 3"):
        nbmacro.arch_of(parse(text.replace("k=5, s=2, p=2, groups=384", "k=3, s=2, p=1, groups=384", 1)))
    with pytest.raises(nbmacro.NBMacroError, match="head"):
        nbmacro.arch_of(parse(text.replace("1280", "1024")))
    with pytest.raises(nbmacro.NBMacroError, match="stem"):
        nbmacro.arch_of(parse(text.replace("conv2d(x, 32", "conv2d(x, 16")))
    with pytest.raises(nbmacro.NBMacroError, match="8 digits"):
        nbmacro.network_text("0120120")


def test_the_grammar_file_is_the_one_the_module_writes_and_derives_every_network() -> None:
    from alphanas.variation.space import ProgramSpace

    assert nbmacro.GRAMMAR.read_text() == nbmacro.grammar_text()
    space = ProgramSpace.load(nbmacro.GRAMMAR, nbmacro.RULE)
    for arch in random.Random(0).sample(sorted(RECORDS), 8):
        derivation = space.derive(nbmacro.network(arch))
        layers = [f for f in derivation.fragments if f.rule.startswith("layer")]
        assert [f.rule for f in layers] == [f"layer{k}" for k in range(1, 9)]
        for fragment, layer, digit in zip(layers, nbmacro.LAYERS, arch):
            assert fragment.text.split() == nbmacro.layer_text(layer, int(digit)).split()
    assert space.grammar.count()[0] == 3 ** 8


def test_the_table_evaluator_scores_a_network_by_its_row() -> None:
    evaluator = TableEvaluator(EXCERPT, key="nbmacro")
    assert TableEvaluator.metrics_for({"table": EXCERPT, "key": "nbmacro"}) == {
        "mean_acc": "max", "table_params": "min", "table_flops": "min", "params": "min", "flops": "min"}
    result = evaluate(evaluator, nbmacro.network(BEST))
    assert result.ok, result.reason
    assert result.metrics["mean_acc"] == RECORDS[BEST]["mean_acc"]
    assert result.metrics["params"] == result.metrics["table_params"] == RECORDS[BEST]["params"]
    assert "test_acc" not in result.metrics and "std" not in result.metrics  # lists and unknown directions
    table = load_table(EXCERPT)
    assert max(table.column("mean_acc")) == RECORDS[BEST]["mean_acc"]


def test_what_the_table_cannot_score_fails_with_a_reason() -> None:
    evaluator = TableEvaluator(EXCERPT, key="nbmacro")
    missing = next(a for a in ("12121212", "21212121", "10101010") if a not in RECORDS)
    result = evaluate(evaluator, nbmacro.network(missing))
    assert not result.ok and f"{missing} is not in the table" in result.reason
    result = evaluate(evaluator, nbmacro.network(BEST, classes=100))
    assert not result.ok and "10-class" in result.reason
    other = parse(nbmacro.network_text(BEST).replace("relu(batchnorm(conv2d(h, 1280", "relu6(batchnorm(conv2d(h, 1280"))
    result = evaluate(evaluator, other)
    assert not result.ok and "head" in result.reason


def test_guided_mutation_makes_networks_of_the_space() -> None:
    from alphanas.variation.base import VariationContext
    from alphanas.variation.build import build_variation
    from alphanas.variation.space import ProgramSpace

    space = ProgramSpace.load(nbmacro.GRAMMAR, nbmacro.RULE)
    variation = build_variation("alphanas", {"synth_time_limit": 5.0}, space)
    rng = random.Random(3)
    parent = parse_file(nbmacro.SEED)
    made = set()
    for _ in range(4):
        child = variation.vary(parent, rng, VariationContext(space=space))
        arch = nbmacro.arch_of(child.program)
        assert arch != "22222222" and sum(a != b for a, b in zip(arch, "22222222")) == 1  # one layer re-derived
        made.add(arch)
    assert made
