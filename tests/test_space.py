"""Space grammars over whole programs (alphanas.variation.space): membership, the
derivation's fragments, the three mutation modes staying inside the space,
exact counts, and the `alphanas space` diagnostics."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphanas.cli import main
from alphanas.lang.analysis import analyze
from alphanas.lang.canonical import program_hash
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program
from alphanas.lang.regions import instances_of
from alphanas.properties import api as props_api
from alphanas.variation.base import Aim, VariationContext, VariationFailed
from alphanas.variation.space import ProgramSpace, SpaceMutation, squeezed_grammar
from alphanas.variation.space_diagnostics import context_from_program, diagnose
from synth.grammar import SpaceError

# A model-body space for 8×8 digits: one to three units, each a conv unit,
# a residual unit or a pooling; widths and kernels are slots. Literals are
# written loosely (extra blanks, k=1 spelled out) on purpose.
GRAMMAR = """\
// a tiny CNN space
body: first more* "return dense(flatten(adaptive_avgpool(h, 1)), 10)"
first: "h = relu(batchnorm(conv2d(x, " CH ", k=" K ", p=" P ", bias=false)))\\n"
more: "h = " unit "\\n"
unit: conv | residual | pool
conv: "relu(batchnorm(conv2d(h,  " CH ", k=" K ", p=" P ", bias=false)))"
residual: "relu(add(h, batchnorm(conv2d(h, " CH ", k=3, p=1, bias=false))))"
pool: "maxpool(h, 2)"
CH: "8" | "16" | "32"
K: "1" | "3"
P: "0" | "1"
"""

SEED = """\
model tiny(x: [1, 8, 8]) {
  h = relu(batchnorm(conv2d(x, 16, k=3, p=1, bias=false)))
  h = relu(batchnorm(conv2d(h, 16, k=1, p=0, bias=false)))
  h = maxpool(h, 2)
  return dense(flatten(adaptive_avgpool(h, 1)), 10)
}
"""

# A block-body space: the body of `cell(x, c: int)` uses the block's parameter.
CELL = """\
cell: "n1 = " edge_x "\\n" "n2 = add(" edge_x ", " edge_n1 ")\\n" "return n2"
edge_x: "identity(x)" | "zero(x)" | "batchnorm(conv2d(relu(x), c, k=3, p=1, bias=false))"
edge_n1: "identity(n1)" | "zero(n1)" | "batchnorm(conv2d(relu(n1), c, k=1, bias=false))"
"""

CELL_SEED = """\
block cell(x, c: int) {
  n1 = batchnorm(conv2d(relu(x), c, k=3, p=1, bias=false))
  n2 = add(identity(x), batchnorm(conv2d(relu(n1), c, k=1, bias=false)))
  return n2
}
model net(x: [3, 8, 8]) {
  h = batchnorm(conv2d(x, 8, k=3, p=1, bias=false))
  h = cell(h, 8)
  h = cell(h, 8)
  return dense(flatten(adaptive_avgpool(h, 1)), 10)
}
"""


@pytest.fixture(scope="module")
def space() -> ProgramSpace:
    return ProgramSpace(GRAMMAR, "body", "tiny.lark")


@pytest.fixture(scope="module")
def cell_space() -> ProgramSpace:
    return ProgramSpace(CELL, "cell", "cell.lark", graph="cell")


def test_squeezed_grammar_takes_blanks_out_of_literals_only() -> None:
    text = 'a: "x = " B "\\n" | "  "  // a "quoted, spaced" comment\nB: "1" | "2"\n'
    squeezed = squeezed_grammar(text)
    assert '"x="' in squeezed and '"\\n"' not in squeezed
    assert '// a "quoted, spaced" comment' in squeezed  # comments are left alone
    assert '"  "' not in squeezed  # a literal of blanks only disappears


def test_seed_is_in_the_space_and_its_fragments_are_regions(space: ProgramSpace) -> None:
    d = space.derive(parse(SEED))
    rules = [f.rule for f in d.fragments]
    assert rules[0] == "body" and "conv" in rules and "pool" in rules
    root = d.fragments[0]
    assert root.region is not None and len(root.nodes) == len(d.graph.nodes)
    pool = next(f for f in d.fragments if f.rule == "pool")
    assert pool.text == "maxpool(h, 2)" and len(pool.nodes) == 1


def test_a_program_outside_the_space_is_located() -> None:
    space = ProgramSpace(GRAMMAR, "body", "tiny.lark")
    outside = SEED.replace("maxpool(h, 2)", "avgpool(h, 2)")
    with pytest.raises(SpaceError) as err:
        space.derive(parse(outside))
    assert err.value.loc is not None and err.value.loc.line == 4  # the avgpool statement
    assert "not a sentence of tiny.lark:body" in err.value.message
    assert not space.contains(parse(outside))


def test_spelled_out_defaults_survive_printing(space: ProgramSpace) -> None:
    # the grammar writes k=1 and p=0; the printer must keep them, or the
    # printed program would leave the space
    d = space.derive(parse(SEED))
    assert "k=1, p=0" in d.text


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6))
def test_sampled_programs_are_derived_by_the_grammar(space: ProgramSpace, seed: int) -> None:
    child = SpaceMutation(space, "sample").vary(parse(SEED), random.Random(seed)).program
    analyze(child)
    assert space.contains(child)
    assert child.model.name == "tiny"


@pytest.mark.parametrize("mode", ["guided", "edit", "sample"])
def test_every_mode_stays_in_the_space(space: ProgramSpace, cell_space: ProgramSpace, mode: str) -> None:
    for sp, seed_text in ((space, SEED), (cell_space, CELL_SEED)):
        parent = parse(seed_text)
        made = 0
        rng = random.Random(7)
        for _ in range(12):
            try:
                child = SpaceMutation(sp, mode).vary(parent, rng)  # type: ignore[arg-type]
            except VariationFailed:
                continue
            made += 1
            assert sp.contains(child.program)
            assert program_hash(child.program) != program_hash(parent)
            analyze(child.program)
            assert child.record["rule"] in sp.grammar.rules
            parent = child.program
        assert made >= 8, f"{mode} made only {made} children in {sp.name}"


def test_guided_children_reach_their_target(space: ProgramSpace) -> None:
    parent = parse(SEED)
    rng = random.Random(3)
    checked = 0
    for _ in range(8):
        try:
            child = SpaceMutation(space, "guided").vary(parent, rng)
        except VariationFailed:
            continue
        target, after = child.record["target"], child.record["after"]
        # depth is a lower bound: every (input, output) pair reaches its target
        reached = {(e["input_index"], e["output_index"]): e["depth"] for e in after["depth"]}
        for e in target["depth"]:
            assert reached[(e["input_index"], e["output_index"])] >= e["depth"]
        checked += 1
    assert checked >= 3


def test_block_spaces_change_every_instance(cell_space: ProgramSpace) -> None:
    parent = parse(CELL_SEED)
    child = SpaceMutation(cell_space, "edit").vary(parent, random.Random(1)).program
    assert child.block("cell") != parent.block("cell")
    calls = [n for n in child.model.nodes if n.op == "cell"]
    assert len(calls) == 2  # both instances call the one (changed) definition
    assert "c," in child.text or "c)" in child.text  # the body still uses the parameter


def test_same_seed_same_child(space: ProgramSpace) -> None:
    def outcome(seed: int) -> tuple[str, str]:
        try:
            return "child", program_hash(SpaceMutation(space, "guided").vary(parse(SEED), random.Random(seed)).program)
        except VariationFailed as err:
            return "failed", str(err)

    outcomes = [outcome(seed) for seed in range(6)]
    assert outcomes == [outcome(seed) for seed in range(6)]
    children = {digest for kind, digest in outcomes if kind == "child"}
    assert len(children) >= 2  # and the seed matters


def _brute_force(space: ProgramSpace) -> int:
    return sum(1 for _ in space.grammar.sentences(random.Random(0)))


def test_counts_agree_with_enumeration(cell_space: ProgramSpace) -> None:
    derivations, with_slots, finite = cell_space.grammar.count()
    assert finite and derivations == with_slots == 3 * 3 * 3 == _brute_force(cell_space)
    bounded = ProgramSpace(GRAMMAR.replace("more*", "more?"), "body")
    derivations, with_slots, finite = bounded.grammar.count()
    assert finite and derivations == _brute_force(bounded) == 1 + 3  # no unit, or one of three
    # slots: first unit 3×2×2 choices; conv 12, residual 3, pool 1
    assert with_slots == 12 * (1 + 12 + 3 + 1)


def test_recursive_grammars_count_to_their_limit(space: ProgramSpace) -> None:
    derivations, _, finite = space.grammar.count()
    assert not finite and derivations > 10


def test_diagnosis_of_a_block_space(cell_space: ProgramSpace) -> None:
    program = parse(CELL_SEED)
    context = context_from_program(cell_space, program, "seed")
    assert context.in_space and context.constants == {"c": 8} and context.inputs == ((8, 8, 8),)
    d = diagnose(cell_space, context, {"params": None}, samples=2, draws=30)
    assert d.empty is False and d.cheapest is not None and d.cheapest["params"] == 0
    assert d.fitting == d.drawn == 30 and len(d.samples) == 2
    # a budget under the cheapest conv cell leaves the conv-free cells
    d = diagnose(cell_space, context, {"params": 10}, samples=0, draws=30)
    assert d.empty is False and d.cheapest["params"] <= 10 and d.fitting < d.drawn


def test_a_space_empty_under_the_budget_is_proven(tmp_path: Path) -> None:
    grammar = tmp_path / "convs.lark"
    grammar.write_text('body: "return dense(flatten(conv2d(x, " CH ", k=3, p=1)), 10)"\nCH: "4" | "8"\n')
    program = tmp_path / "m.arch"
    program.write_text("model m(x: [1, 8, 8]) {\n  return dense(flatten(conv2d(x, 4, k=3, p=1)), 10)\n}\n")
    space = ProgramSpace.load(grammar, "body")
    d = diagnose(space, context_from_program(space, parse(program.read_text()), "m"), {"params": 100})
    assert d.empty and d.proven and d.reasons
    assert main(["space", str(grammar), "--program", str(program), "--max-params", "100"]) == 1
    assert main(["space", str(grammar), "--program", str(program)]) == 0


def test_space_cli_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", str(tmp_path / "missing.lark")]) == 2
    assert "no such grammar file" in capsys.readouterr().err
    grammar = tmp_path / "g.lark"
    grammar.write_text(GRAMMAR)
    assert main(["space", str(grammar), "--rule", "bdy"]) == 2
    err = capsys.readouterr().err
    assert "no rule 'bdy'" in err and "did you mean 'body'" in err and "Traceback" not in err
    assert main(["space", str(grammar), "--input", "x=1,8,8"]) == 2
    assert "--input and --output go together" in capsys.readouterr().err


def test_space_cli_reports_size_and_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grammar = tmp_path / "g.lark"
    grammar.write_text(GRAMMAR)
    assert main(["space", str(grammar), "--input", "x=1,8,8", "--output", "10", "--samples", "2",
                 "--draws", "20"]) == 0
    out = capsys.readouterr().out
    assert "infinitely many" in out and "sample 2:" in out and "return dense" in out


def _search_in_space(tmp_path: Path, grammar: str, seed: str, space: str, population: int) -> list[Any]:
    """Every candidate of an 8-child αNAS search (NSGA-II, analytic
    objectives) in the space ``space`` (the TOML of ``[space]`` but the grammar)."""
    from alphanas.search.config import load_config
    from alphanas.search.loop import run_search
    from alphanas.search.store import Store

    (tmp_path / "space.lark").write_text(grammar)
    (tmp_path / "seed.arch").write_text(seed)
    (tmp_path / "search.toml").write_text(
        f'seed_program = "seed.arch"\nrun_dir = "run"\npopulation = {population}\n'
        f'objectives = ["params", "flops"]\n[space]\ngrammar = "space.lark"\n{space}\n'
        '[strategy]\nvariation = "alphanas"\nselection = "nsga2"\n[budget]\nchildren = 8\n'
        '[executor]\nkind = "serial"\n[evaluator]\nkind = "analytic"\n')
    run_search(load_config(tmp_path / "search.toml"), progress=False)
    with Store.open(tmp_path / "run") as store:
        return store.candidates()


def test_search_in_a_space_keeps_every_child_inside(tmp_path: Path) -> None:
    candidates = [c for c in _search_in_space(tmp_path, GRAMMAR, SEED, 'rule = "body"', 6) if c.status == "ok"]
    space = ProgramSpace(GRAMMAR, "body")
    assert len(candidates) >= 4  # the seed and children (a small space also yields duplicates, not evaluated)
    for c in candidates:
        assert space.contains(parse(c.program)), c.program


def test_a_seed_outside_the_space_is_a_config_error(tmp_path: Path) -> None:
    from alphanas.search.config import ConfigError, load_config, load_seed_program

    (tmp_path / "tiny.lark").write_text(GRAMMAR)
    (tmp_path / "tiny.arch").write_text(SEED.replace("maxpool(h, 2)", "avgpool(h, 2)"))
    (tmp_path / "search.toml").write_text(
        'seed_program = "tiny.arch"\nrun_dir = "run"\nobjectives = ["params"]\n'
        '[space]\ngrammar = "tiny.lark"\nrule = "body"\n[evaluator]\nkind = "analytic"\n')
    with pytest.raises(ConfigError) as err:
        load_seed_program(load_config(tmp_path / "search.toml"))
    assert "not in the space" in err.value.message


def test_properties_of_a_fragment_are_those_of_its_region(space: ProgramSpace) -> None:
    d = space.derive(parse(SEED))
    conv = next(f for f in d.fragments if f.rule == "conv")
    props = props_api.region_properties(d.program, d.graph.name, conv.region, analyze(d.program))
    assert [list(s) for s in props.shapes.inputs] == [[16, 8, 8]]


def test_template_rules_load_and_deep_grammars_say_they_are_counted_in_part() -> None:
    from synth.grammar import GrammarSpace

    templated = GrammarSpace('cell: pool{"x0"} | "relu(x0)"\npool{e}: "avgpool(" e ", 2)"\n', "cell")
    assert templated.count() == (2, 2, True)
    # eight nested levels need more than a limit of 5 expansions: not recursive, not complete
    deep = GrammarSpace("\n".join([f'r{i}: "relu(" r{i + 1} ")" | "x0"' for i in range(8)] + ['r8: "x0"']),
                        "r0", max_expansions=5)
    derivations, _, complete = deep.count()
    assert not complete and not deep.is_recursive("r0") and derivations == 5


class _HasFirst:
    """A search's ``seen`` that has the parent and the first ``limit``
    other programs it is asked about, and nothing else."""

    def __init__(self, parent: str, limit: int) -> None:
        self.has = {parent}
        self.limit = limit + 1

    def __contains__(self, digest: object) -> bool:
        if digest not in self.has and len(self.has) < self.limit:
            self.has.add(str(digest))
        return digest in self.has


def test_guided_mutation_asks_only_for_properties_some_derivation_has(cell_space: ProgramSpace) -> None:
    # an edge's five (here three) derivations reach few property values, so
    # an unconstrained mutated target is usually out of reach of all of them
    parent = parse(CELL_SEED)
    mutation = SpaceMutation(cell_space, "guided")
    for seed in range(16):
        child = mutation.vary(parent, random.Random(seed))
        reached = {(e["input_index"], e["output_index"]): e["depth"] for e in child.record["after"]["depth"]}
        for e in child.record["target"]["depth"]:
            assert reached.get((e["input_index"], e["output_index"]), 0) >= e["depth"]


def test_a_walk_through_programs_the_search_has_reaches_a_new_one(cell_space: ProgramSpace) -> None:
    parent = parse(CELL_SEED)
    seen = _HasFirst(program_hash(parent), limit=2)  # both other derivations of the first edge chosen
    child = SpaceMutation(cell_space, "edit").vary(parent, random.Random(0), VariationContext(seen=seen))
    assert child.made_from is not None and child.made_from in seen.has
    assert child.made_from != program_hash(parent)
    assert program_hash(child.program) not in seen.has
    assert child.record["walk"] >= 1
    with pytest.raises(VariationFailed, match="steps through programs the search has"):
        SpaceMutation(cell_space, "edit").vary(parent, random.Random(0), VariationContext(seen=_HasFirst(program_hash(parent), 10**6)))


def test_a_search_records_the_program_a_walk_started_from_as_the_parent(tmp_path: Path) -> None:
    every = _search_in_space(tmp_path, CELL, CELL_SEED, 'rule = "cell"\ngraph = "cell"', 4)
    candidates = {c.id: c for c in every}
    ok = [c for c in candidates.values() if c.status == "ok"]
    assert len(ok) == 9  # the space has 3 × 3 cells: a full budget explores every one
    walked = [c for c in ok if c.record and c.record.get("walk")]
    assert walked, "a space this small is explored only by walking through evaluated cells"
    for c in walked:
        parent = candidates[c.parent_id]
        assert c.generation == parent.generation + 1
        assert c.record["fragment"] in parent.program  # the record describes a change of the recorded parent
        assert c.record["replacement"] in c.program


def test_dropping_mixing_pairs_from_the_target_lets_guided_mutation_reach_cheaper_cells(
        cell_space: ProgramSpace) -> None:
    # mixing targets are lower bounds: relaxing entries one by one keeps a
    # convolution's channel mixing asked for, so no child loses a convolution;
    # αNAS's published mutation deletes whole (input, output) pairings instead
    from alphanas.variation.property_mutation import MutationSettings

    def convs(program: Any) -> int:
        return cell_space.derive(program).text.count("conv2d")  # the rest of the program is the parent's

    parent = parse(CELL_SEED)
    before = convs(parent)
    for p_drop, expect_fewer in ((0.0, False), (1.0, True)):
        mutation = SpaceMutation(cell_space, "guided", MutationSettings(p_mixing=0.0, p_drop=p_drop))
        children = []
        for seed in range(16):
            try:
                children.append(mutation.vary(parent, random.Random(seed)))
            except VariationFailed:
                continue
        assert len(children) >= 8
        if p_drop == 1.0:
            assert all(not c.record["target"]["mixing"] for c in children)
        fewer = [c for c in children if convs(c.program) < before]
        assert bool(fewer) == expect_fewer, f"p_drop={p_drop}: {len(fewer)} of {len(children)} lost a convolution"


ALL_CONV3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _nb201_space() -> ProgramSpace:
    from alphanas.benchmarks import nb201

    return ProgramSpace.load(nb201.CELL_GRAMMAR, "cell", nb201.CELL_BLOCK)


def test_the_property_order_layers_the_nb201_edges_from_none_to_the_3x3_convolution() -> None:
    """What "tightest" means on NAS-Bench-201's five edges: the property
    order alone, with no cost model, ranks them as their cost does."""
    from alphanas.benchmarks import nb201
    from alphanas.variation.space import _property_layers
    from synth import Problem

    space = _nb201_space()
    d = space.derive(parse(nb201.network_text(ALL_CONV3X3)))
    fragment = next(f for f in d.fragments if f.rule == "edge_x")
    instance = instances_of(d.program, d.graph.name)[0]
    props = props_api.region_properties(d.program, d.graph.name, fragment.region, instance)
    shapes = Problem(tuple(tuple(s) for s in props.shapes.inputs), tuple(props.shapes.outputs[0]))
    listed = SpaceMutation(space)._reachable(space.fragment_space(fragment, d.graph, instance, "smallest"), shapes)
    assert listed is not None and len(listed) == 5
    by_op = {op: text.format(src="x") for op, text in nb201.OPS.items()}
    layers = [sorted(r.sentence for r in layer) for layer in _property_layers([r for _, r in listed])]
    assert layers == [[by_op["none"]], [by_op["skip_connect"]],
                      sorted([by_op["avg_pool_3x3"], by_op["nor_conv_1x1"]]), [by_op["nor_conv_3x3"]]]


def test_tight_guided_children_follow_a_relaxed_target_down_to_cheaper_cells() -> None:
    """Properties are lower bounds and a 3×3 convolution meets nearly every
    target. With every mixing pair dropped and the depth moved, taking any
    derivation that meets the target rarely gives an edge nothing (`none`);
    taking the tightest gives it whenever the depth went down far enough."""
    from alphanas.benchmarks import nb201
    from alphanas.variation.property_mutation import MutationSettings

    space = _nb201_space()
    parent = parse(nb201.network_text(ALL_CONV3X3))

    def nones(p_tight: float) -> int:
        mutation = SpaceMutation(space, "guided", MutationSettings(p_tight=p_tight, p_drop=1.0, p_depth=1.0))
        count = made = 0
        for seed in range(24):
            try:
                child = mutation.vary(parent, random.Random(seed))
            except VariationFailed:
                continue
            made += 1
            count += sum(op == "none" for node in nb201.edges_of(nb201.arch_of(child.program)) for op in node)
        assert made >= 16
        return count

    tight, loose = nones(1.0), nones(0.0)
    assert tight > 2 * loose, (tight, loose)


def test_a_parent_drawn_for_accuracy_gets_its_own_tightness() -> None:
    """``p_tight_first_objective`` replaces ``p_tight`` for a parent drawn
    for the first objective alone, and only for it: each aim's children
    equal, draw for draw, those of a mutation with that tightness."""
    from alphanas.benchmarks import nb201
    from alphanas.variation.property_mutation import MutationSettings

    space = _nb201_space()
    parent = parse(nb201.network_text(ALL_CONV3X3))
    both = SpaceMutation(space, "guided", MutationSettings(p_drop=1.0, p_depth=1.0, p_tight_first_objective=0.0))
    tight = SpaceMutation(space, "guided", MutationSettings(p_drop=1.0, p_depth=1.0, p_tight=1.0))
    loose = SpaceMutation(space, "guided", MutationSettings(p_drop=1.0, p_depth=1.0, p_tight=0.0))

    def child(mutation: SpaceMutation, seed: int, aim: Aim = "front") -> str:
        try:
            return print_program(mutation.vary(parent, random.Random(seed), VariationContext(aim=aim)).program)
        except VariationFailed as err:
            return str(err)

    front = [child(both, s, aim="front") for s in range(12)]
    accuracy = [child(both, s, aim="first_objective") for s in range(12)]
    assert front == [child(tight, s) for s in range(12)]
    assert accuracy == [child(loose, s) for s in range(12)]
    assert front != accuracy  # the two tightnesses make different children
