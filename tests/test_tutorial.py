"""examples/space_tutorial.md: its grammar, seed and search config load, the
grammar it quotes is the one in examples/, and a short search with the
config (its evaluator and folder swapped for a test's) stays in the space."""

from __future__ import annotations

import re
from pathlib import Path

from alphanas.lang.parse import parse
from alphanas.search.config import SearchConfig, load_config, tomllib
from alphanas.search.loop import run_search
from alphanas.search.store import Store
from alphanas.variation.space import ProgramSpace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOML = EXAMPLES / "tiny_space_search.toml"


def test_the_config_loads_with_its_space_and_seed() -> None:
    config = load_config(TOML)
    assert config.space is not None
    assert Path(config.space.grammar) == EXAMPLES / "tiny_space.lark"
    assert (config.space.rule, config.space.graph) == ("body", None)
    assert config.strategy.variation == "alphanas"
    space = config.space.load()
    space.derive(parse(Path(config.seed_program).read_text(), config.seed_program))


def test_the_tutorial_quotes_the_grammar_and_its_count() -> None:
    """Every ```lark block of the tutorial is a run of lines of
    tiny_space.lark, and the count it states is the grammar's."""
    tutorial = (EXAMPLES / "space_tutorial.md").read_text()
    grammar = (EXAMPLES / "tiny_space.lark").read_text()
    blocks = re.findall(r"```lark\n(.*?)```", tutorial, re.DOTALL)
    assert len(blocks) >= 5
    for block in blocks:
        assert block in grammar, block
    derivations, sized, finite = ProgramSpace.load(EXAMPLES / "tiny_space.lark", "body").grammar.count()
    assert (derivations, sized, finite) == (628, 126_168, True)
    assert "628" in tutorial and "126,168" in tutorial


def test_a_short_search_stays_in_the_space(tmp_path: Path) -> None:
    data = tomllib.loads(TOML.read_text())
    # the example as it is, but scored by the analytic evaluator (no
    # training), three children, one process, in a folder of the test's
    data.update(run_dir=str(tmp_path / "run"), objectives=["params", "flops"])
    data["evaluator"] = {"kind": "analytic"}
    data["executor"] = {"kind": "serial"}
    data["budget"] = {"children": 3}
    config = SearchConfig.from_dict(data, str(TOML), base=EXAMPLES)
    result = run_search(config, progress=False)
    assert result.children == 3 and result.failed == 0

    space = ProgramSpace.load(EXAMPLES / "tiny_space.lark", "body")
    store = Store.open(tmp_path / "run")
    try:
        made = [c for c in store.candidates() if c.program is not None]  # duplicates too
        evaluated = store.candidates("ok")
    finally:
        store.close()
    assert len(evaluated) == 4  # the seed and three children
    for candidate in made:
        space.derive(parse(candidate.program, f"candidate {candidate.id}"))
    children = [c for c in made if c.parent_id is not None]
    assert {c.operator for c in children} == {"property_mutation"}
    assert all(c.record["space"] == "tiny_space.lark:body" for c in children)
