"""The random-edit baseline: every child re-parses, shape-checks, keeps the
model's output shape, differs from its parent, and depends only on the RNG."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import TINY_RESNET

from alphanas import analyze, parse, print_program, zoo
from alphanas.lang.canonical import program_hash
from alphanas.lang.ir import Program
from alphanas.pytorch.codegen import build
from alphanas.variation.base import Variation, VariationFailed
from alphanas.variation.random_edit import EDITS, RandomEdit


def _programs() -> dict[str, Program]:
    return {
        "tiny_resnet": parse(TINY_RESNET),
        "small_cnn": zoo.load("small_cnn", width=8),
        "resnet18_cifar": zoo.load("resnet18_cifar", width=16),
        "vit_tiny": zoo.load("vit_tiny"),
    }


PROGRAMS = _programs()


def test_random_edit_is_a_variation() -> None:
    assert isinstance(RandomEdit(), Variation)
    assert RandomEdit.name == "random_edit"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_children_reparse_shape_check_and_differ(name: str) -> None:
    parent = PROGRAMS[name]
    out_shape = analyze(parent).output_shape
    kinds = set()
    for seed in range(25):
        child = RandomEdit().vary(parent, random.Random(seed))
        text = print_program(child.program)
        again = parse(text)
        assert print_program(again) == text  # the canonical text is a fixed point
        assert program_hash(again) == program_hash(child.program)
        assert program_hash(child.program) != program_hash(parent)
        assert analyze(again).output_shape == out_shape
        assert child.operator == "random_edit"
        assert child.record["edit"] in EDITS
        assert child.record["graph"] in {g.name for g in parent.graphs()}
        kinds.add(child.record["edit"])
    assert kinds == set(EDITS)


def test_same_rng_same_child() -> None:
    parent = PROGRAMS["resnet18_cifar"]
    for seed in range(5):
        a = RandomEdit().vary(parent, random.Random(seed))
        b = RandomEdit().vary(parent, random.Random(seed))
        assert print_program(a.program) == print_program(b.program)
        assert a.record == b.record


@pytest.mark.parametrize("kind", EDITS)
def test_each_kind_of_edit(kind: str) -> None:
    parent = PROGRAMS["tiny_resnet"]
    before = {g.name: len(g.nodes) for g in parent.graphs()}
    for seed in range(10):
        child = RandomEdit(edits=(kind,)).vary(parent, random.Random(seed))
        r = child.record
        assert r["edit"] == kind
        graph = next(g for g in child.program.graphs() if g.name == r["graph"])
        if kind == "insert":
            assert len(graph.nodes) == before[r["graph"]] + 1
            assert r["op"] in {n.op for n in graph.nodes}
        elif kind == "delete":
            assert len(graph.nodes) < before[r["graph"]]
        else:
            assert r["old"] != r["new"]
            assert len(graph.nodes) == before[r["graph"]]


def test_change_keeps_the_shape_with_a_matching_argument() -> None:
    """A new kernel size gets a padding (or another size) that restores the
    op's output shape, when one exists."""
    parent = parse("model m(x: [3, 16, 16]) {\n  return relu(conv2d(x, 8, k=3, p=1))\n}\n")
    adjusted = 0
    for seed in range(40):
        child = RandomEdit(edits=("change",)).vary(parent, random.Random(seed))
        if child.record["param"] == "k" and child.record["adjusted"]:
            adjusted += 1
            assert analyze(child.program).output_shape == (8, 16, 16)
    assert adjusted > 0


def test_budgets_are_respected_or_the_variation_fails() -> None:
    parent = PROGRAMS["small_cnn"]
    limit = analyze(parent).total.params
    for seed in range(10):
        child = RandomEdit(max_params=limit).vary(parent, random.Random(seed))
        assert analyze(child.program).total.params <= limit
    with pytest.raises(VariationFailed, match=r"no valid random edit in 5 attempts: .*budget"):
        RandomEdit(max_params=1, max_attempts=5).vary(parent, random.Random(0))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="edits"):
        RandomEdit(edits=("swap",))
    with pytest.raises(ValueError, match="max_attempts"):
        RandomEdit(max_attempts=0)


def test_children_build_and_run() -> None:
    parent = PROGRAMS["small_cnn"]
    rng = random.Random(7)
    for _ in range(8):  # a chain of edits: each child is the next parent
        parent = RandomEdit().vary(parent, rng).program
        with torch.no_grad():
            out = build(parent).eval()(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10)
