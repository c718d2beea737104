"""The space grammars shipped in grammars/spaces/: each seed program is in
its space and written as the printer writes it, mutation in each mode stays
in the space, counts are what the grammar says, and random samples differ."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from alphanas.lang.analysis import analyze
from alphanas.lang.canonical import program_hash
from alphanas.lang.ir import Program
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program
from alphanas.variation.base import Child, VariationFailed
from alphanas.variation.space import ProgramSpace, SpaceMutation

SPACES_DIR = Path(__file__).resolve().parent.parent / "grammars" / "spaces"


@dataclass(frozen=True)
class Case:
    grammar: str
    seed: str
    rule: str
    graph: str | None

    @property
    def id(self) -> str:
        return self.grammar.removesuffix(".lark")

    def space(self) -> ProgramSpace:
        return ProgramSpace.load(SPACES_DIR / self.grammar, self.rule, self.graph)

    def program(self) -> Program:
        path = SPACES_DIR / self.seed
        return parse(path.read_text(), str(path))


CASES = [
    Case("resnet_like.lark", "resnet_like.arch", "body", None),
    Case("mobilenet_like.lark", "mobilenet_like.arch", "body", None),
    Case("vit_like.lark", "vit_like.arch", "body", None),
]
if (SPACES_DIR / "nb201_cell.lark").is_file() and (SPACES_DIR / "nb201.arch").is_file():
    CASES.append(Case("nb201_cell.lark", "nb201.arch", "cell", "cell"))

MODES = ("guided", "edit", "sample")


def _ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


@pytest.fixture(scope="module")
def loaded() -> dict[str, tuple[ProgramSpace, Program]]:
    """Each space and its seed, loaded once (a grammar builds two Earley parsers)."""
    return {c.id: (c.space(), c.program()) for c in CASES}


def _children(space: ProgramSpace, parent: Program, mode: str, want: int, tries: int) -> list[Child]:
    """Up to ``want`` children from the first ``tries`` seeds."""
    variation = SpaceMutation(space, mode)  # type: ignore[arg-type]
    children = []
    for seed in range(tries):
        try:
            children.append(variation.vary(parent, random.Random(seed)))
        except VariationFailed:
            continue  # a synthesis can run out of time on a loaded machine; others must not
        if len(children) == want:
            break
    return children


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_seed_is_in_its_space(case: Case, loaded) -> None:
    space, program = loaded[case.id]
    derivation = space.derive(program)
    analyze(program)
    # the body has mutation points: subtrees whose ops form a one-output region
    assert any(f.region is not None for f in derivation.fragments)


@pytest.mark.parametrize("case", [c for c in CASES if c.graph is None], ids=_ids([c for c in CASES if c.graph is None]))
def test_seed_is_written_in_canonical_form(case: Case) -> None:
    """What users read in the .arch is what the grammar derives: the seed
    file is its own canonical print, comments aside."""
    text = (SPACES_DIR / case.seed).read_text()
    code = "".join(line + "\n" for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
    assert print_program(parse(text, case.seed)) == code


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_mutation_stays_in_the_space(case: Case, mode: str, loaded) -> None:
    space, parent = loaded[case.id]
    children = _children(space, parent, mode, want=3, tries=6)
    assert len(children) == 3, f"only {len(children)} children in 6 tries"
    rules = set(space.grammar.rules)
    for child in children:
        program = child.program
        space.derive(program)  # re-derived by the grammar: still in the space
        analyze(program)  # shapes check in every instance
        assert program_hash(program) != program_hash(parent)
        assert print_program(parse(print_program(program), "<child>")) == print_program(program)
        assert child.record["rule"] in rules
        if mode == "sample":
            assert child.record["rule"] == space.rule


def test_counts() -> None:
    by_id = {c.id: c.space().grammar.count() for c in CASES}
    # right recursions (`tail`): infinite; counted up to the expansion limit
    for name in ("resnet_like", "mobilenet_like"):
        derivations, sized, finite = by_id[name]
        assert not finite and derivations > 10**9 and sized > derivations
    # the ViT space: embed = 3 patch sizes x (position encoding or not);
    # encoders = 1 to 8 blocks of 2 (MLP activation) each; slots: DIM 8
    # values, HEADS 4, HIDDEN 16, DIM once more with the position encoding
    # and once more per block
    blocks = range(1, 9)
    assert by_id["vit_like"] == (6 * sum(2**n for n in blocks),
                                 3 * (8 + 8 * 8) * sum((2 * 4 * 16 * 8) ** n for n in blocks), True)
    if "nb201_cell" in by_id:
        assert by_id["nb201_cell"] == (5**6, 5**6, True)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_random_samples_vary(case: Case, loaded) -> None:
    space, parent = loaded[case.id]
    children = _children(space, parent, "sample", want=4, tries=6)
    assert len(children) == 4
    assert len({program_hash(c.program) for c in children}) >= 3
    assert len({analyze(c.program).total.params for c in children}) >= 2


@pytest.mark.parametrize("case", [c for c in CASES if c.graph is None], ids=_ids([c for c in CASES if c.graph is None]))
def test_seed_and_a_sample_run_in_torch(case: Case, loaded) -> None:
    """The seeds are for digits: they and a sample build and give [batch, 10]."""
    import torch

    from alphanas.pytorch.codegen import build

    space, seed = loaded[case.id]
    (sample,) = _children(space, seed, "sample", want=1, tries=3)
    for program in (seed, sample.program):
        module = build(program).eval()
        with torch.no_grad():
            out = module(torch.zeros(2, *program.model.inputs[0].shape))
        assert tuple(out.shape) == (2, 10)
