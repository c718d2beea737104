"""The synthesizer: soundness, infeasibility, determinism and diversity, grammar spaces.

Soundness is checked independently of :mod:`synth.verify`: the returned text
is parsed and analysed again here, the depth is compared with the concrete
probe on the built torch module (:func:`probe_depth`, a path search on the
traced graph), the mixing with the abstract inference, the budgets with
the analysis, and the module is run on a batch.
"""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphanas import analyze, parse
from alphanas.bench.agreement import random_program
from alphanas.properties import mixing as mixing_mod
from alphanas.properties.api import whole_graph_properties
from alphanas.properties.concrete_depth import probe_depth
from alphanas.properties.depth import Depth
from alphanas.pytorch.codegen import build
from alphanas.variation.base import VariationFailed
from alphanas.variation.property_mutation import MutationSettings, propose
from synth import Budgets, CoreSpace, Problem, synthesize
from synth.grammar import GrammarSpace, SpaceError

CELL = """\
cell: unit | "relu(add(x0, " unit "))" | "relu(batchnorm(conv2d(" cell ", " CH ", k=" K ", s=" S ", p=" P ", bias=false)))"
unit: "relu(batchnorm(conv2d(x0, " CH ", k=" K ", s=" S ", p=" P ", bias=false)))"
CH: "8" | "16" | "32"
K: "1" | "3"
S: "1" | "2"
P: "0" | "1"
"""


def check_region(text: str, problem: Problem) -> None:
    """Everything a returned region must satisfy, checked from its text."""
    program = parse(text)
    inst = analyze(program)
    assert tuple(inst.output_shape) == tuple(problem.output)
    assert tuple(tuple(inst.shapes[i]) for i in program.model.input_ids) == tuple(problem.inputs)
    concrete = probe_depth(program)
    for pair, target in problem.depth.items():
        assert concrete.get(pair, 0) >= target, (pair, concrete, target)
    props = whole_graph_properties(program, inst)
    assert mixing_mod.satisfies(props.mixing, problem.mixing)
    measured = {"params": props.resources.params, "flops": props.resources.flops, "memory": props.resources.peak_memory}
    for name, bound in problem.budgets.items():
        assert measured[name] <= bound
    module = build(program)
    xs = [torch.randn(2, *s) for s in problem.inputs]
    with torch.no_grad():
        assert tuple(module(*xs).shape) == (2, *problem.output)


def _problem_from(seed: int) -> tuple[Problem, int, bool]:
    """A (possibly mutated) problem from a random region of a random program."""
    rng = random.Random(seed)
    program = random_program(rng)
    proposal = propose(program, rng, MutationSettings())
    mutated = rng.random() < 0.5
    problem = proposal.problem if mutated else Problem.from_properties(proposal.properties)
    return problem, proposal.max_ops, mutated


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6))
def test_every_synthesized_region_reverifies(seed: int) -> None:
    try:
        problem, max_ops, mutated = _problem_from(seed)
    except VariationFailed:
        return
    result = synthesize(problem, seed=seed, max_ops=max_ops, time_limit=2.0)
    if result.ok:
        check_region(result.text, problem)
    else:
        assert not mutated or result.reasons, "an infeasible answer says why"
        assert mutated, f"a self problem (the region's own properties) was not solved: {result.render()}"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.integers(1, 6))
def test_impossible_depth_is_reported_never_a_wrong_region(seed: int, extra: int) -> None:
    try:
        problem, max_ops, _ = _problem_from(seed)
    except VariationFailed:
        return
    deep = Depth({(i, 0): max_ops + extra for i in range(len(problem.inputs))})
    result = synthesize(Problem(problem.inputs, problem.output, deep), seed=seed, max_ops=max_ops)
    assert not result.ok and result.proven
    assert f"depth >= {max_ops + extra}" in result.reasons[0]


def test_a_budget_below_the_cheapest_region_is_infeasible_and_explained() -> None:
    space = GrammarSpace(CELL, "cell")
    problem = Problem(((8, 16, 16),), (32, 8, 8), budgets=Budgets(params=100))
    result = synthesize(problem, space, seed=0, max_ops=9, time_limit=5.0)
    assert not result.ok
    assert result.proven, "the grammar's sentences within the limit were all tried"
    text = " ".join(result.reasons)
    assert "parameters <= 100" in text
    assert "needs at least" in text  # the cheapest region without the budget, in numbers


def test_budgets_are_met_by_construction() -> None:
    free = synthesize(Problem(((16, 16, 16),), (32, 8, 8)), seed=3, objective="cheapest")
    assert free.ok
    cheapest = int(free.properties.resources.params)
    problem = Problem(((16, 16, 16),), (32, 8, 8), budgets=Budgets(params=cheapest))
    result = synthesize(problem, seed=3)
    assert result.ok and result.properties.resources.params <= cheapest
    check_region(result.text, problem)


def test_same_seed_same_region_and_seeds_vary() -> None:
    problem = Problem(((16, 8, 8),), (16, 8, 8), Depth({(0, 0): 2}))
    first = synthesize(problem, seed=7)
    again = synthesize(problem, seed=7)
    assert first.ok and again.ok and first.text == again.text
    texts = {synthesize(problem, seed=s).text for s in range(12)}
    assert len(texts) >= 4, texts


def test_sample_and_filter_baseline_is_also_sound() -> None:
    problem = Problem(((16, 8, 8),), (32, 4, 4), Depth({(0, 0): 2}))
    result = synthesize(problem, seed=1, sizes="sample")
    assert result.ok
    check_region(result.text, problem)


def test_many_input_regions_merge_their_branches() -> None:
    problem = Problem(((16, 8, 8), (32, 4, 4)), (32, 4, 4), Depth({(0, 0): 1, (1, 0): 1}))
    result = synthesize(problem, seed=0, max_ops=4)
    assert result.ok, result
    check_region(result.text, problem)
    assert "x0" in result.text and "x1" in result.text


def test_grammar_space_regions_are_sentences_of_the_grammar() -> None:
    space = GrammarSpace(CELL, "cell")
    problem = Problem(((8, 16, 16),), (16, 8, 8), Depth({(0, 0): 2}))
    for seed in range(4):
        result = synthesize(problem, space, seed=seed, max_ops=9)
        assert result.ok
        check_region(result.text, problem)
        space.parse(result.sentence)  # raises if the grammar does not derive it
        again = parse(f"model region(x0: [8, 16, 16]) {{\n  return {result.sentence}\n}}\n")
        assert again == result.program  # the sentence is the region


def test_grammar_errors_name_the_line() -> None:
    with pytest.raises(SpaceError) as err:
        GrammarSpace('cell: "relu(x0, " N ")"\nN: /[0-9]+/\n', "cell", "bad.lark")
    assert "bad.lark:2" in err.value.render() and "domain N" in err.value.render()
    with pytest.raises(SpaceError, match="no rule"):
        GrammarSpace(CELL, "cel", "cell.lark")


@pytest.mark.parametrize(("text", "where", "says"), [
    ('cell: edge "+" edge\nedge: "relu(x0)"\n  | "x0" |\nfoo: ((\n', "4:8", "Expecting a value"),
    ('cell: "relu(x0)" ))\n', "1:18", "Unexpected token"),
    ('cell: "relu(x0\n', "1:7", "Unexpected input"),
    ('// bar is not a rule\ncell: edge\nedge: "x0" | bar\n', "3:14", "Rule 'bar' used but not defined"),
    ('cell: "x0"\nedge: "x0"\ncell: "relu(x0)"\n', "3:1", "defined more than once"),
])
def test_a_grammar_that_does_not_load_is_located_where_it_fails(text: str, where: str, says: str) -> None:
    """Lark gives a syntax error's position in its message and none for a
    rule used but not defined or defined twice: every one is located."""
    with pytest.raises(SpaceError) as err:
        GrammarSpace(text, "cell", "bad.lark")
    shown = err.value.render()
    assert f"bad.lark:{where}:" in shown and says in shown, shown
    assert "at line" not in shown  # the position is in the location, not repeated in the message


def test_declared_domains_become_ranges() -> None:
    space = GrammarSpace('// domain CH: 8..64 step 8\ncell: "conv2d(x0, " CH ")"\nCH: /[0-9]+/\n', "cell")
    problem = Problem(((3, 8, 8),), (40, 8, 8))
    result = synthesize(problem, space, seed=0)
    assert result.ok and "conv2d(x0, 40)" in result.text


def test_core_space_restricted_to_some_ops() -> None:
    space = CoreSpace(allowed=["conv2d", "relu", "batchnorm"])
    result = synthesize(Problem(((8, 8, 8),), (8, 8, 8), Depth({(0, 0): 3})), space, seed=0)
    assert result.ok
    assert {n.op for n in result.program.model.nodes} <= {"conv2d", "relu", "batchnorm"}


def test_cli_synth(tmp_path, capsys) -> None:
    from alphanas.cli import main

    assert main(["synth", "--input", "16,8,8", "--output", "32,4,4", "--min-depth", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model region(x0: [16, 8, 8])") and "depth" in out
    assert main(["synth", "--input", "16,8,8", "--output", "32,4,4", "--min-depth", "9", "--max-ops", "4"]) == 1
    assert "infeasible" in capsys.readouterr().out
    grammar = tmp_path / "cell.lark"
    grammar.write_text(CELL)
    assert main(["synth", "--space", str(grammar), "--rule", "cell", "--input", "8,16,16",
                 "--output", "16,8,8", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["properties"]["shapes"]["outputs"] == [[16, 8, 8]]
    assert main(["synth", "--space", str(tmp_path / "none.lark"), "--rule", "cell", "--input", "8,16,16",
                 "--output", "16,8,8"]) == 2
    assert "no such grammar file" in capsys.readouterr().err


def test_cli_reads_mixing_targets_from_properties_json(tmp_path, capsys, write_arch) -> None:
    import json

    from alphanas.cli import main

    arch = write_arch("model m(x: [8, 8, 8]) {\n  return relu(conv2d(x, 8, k=3, p=1))\n}\n")
    assert main(["properties", str(arch), "--json"]) == 0
    target = tmp_path / "props.json"
    target.write_text(capsys.readouterr().out)
    assert main(["synth", "--input", "8,8,8", "--output", "8,8,8", "--mixing", str(target), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    wanted = json.loads(target.read_text())["instances"][0]["mixing"][0]["matrix"]
    got = data["properties"]["mixing"][0]["matrix"]
    order = {"none": 0, "one": 1, "many": 2, "all": 3}
    assert all(order[g] >= order[w] for gr, wr in zip(got, wanted) for g, w in zip(gr, wr))
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"matrix\": [[\"lots\"]]}]")
    assert main(["synth", "--input", "8,8,8", "--output", "8,8,8", "--mixing", str(bad)]) == 2
    assert "malformed" in capsys.readouterr().err


def test_accept_passes_over_refused_regions_and_the_report_counts_them() -> None:
    space = GrammarSpace(CELL, "cell", order="smallest")
    problem = Problem(((8, 16, 16),), (16, 8, 8), Depth({(0, 0): 1}))
    first = synthesize(problem, space, seed=0, max_ops=9)
    assert first.ok
    refused: list[str] = []

    def not_the_first(result) -> str | None:
        if result.text == first.text:
            refused.append(result.text)
            return "the caller has this one"
        return None

    other = synthesize(problem, space, seed=0, max_ops=9, accept=not_the_first)
    assert other.ok and other.text != first.text and refused == [first.text]
    assert other.stats.refused == 1
    check_region(other.text, problem)

    def nothing(result) -> str:
        return "the caller has this one"

    report = synthesize(problem, space, seed=0, max_ops=9, accept=nothing)
    assert not report.ok
    assert any(r.startswith("met the target but refused: the caller has this one") for r in report.reasons)
