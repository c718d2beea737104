"""Property-guided mutation, block duplication and deletion: every child is
a valid program that differs from its parent, built and run as torch."""

from __future__ import annotations

import random

import pytest
import torch

from alphanas import analyze, parse, print_program, zoo
from alphanas.lang.canonical import program_hash
from alphanas.pytorch.codegen import build
from alphanas.variation.base import Variation, VariationFailed
from alphanas.variation.property_mutation import (
    MutationSettings,
    PropertyMutation,
    delete_block,
    duplicate_block,
    propose,
)


@pytest.fixture(scope="module")
def resnet() -> object:
    return zoo.load("resnet18_cifar", width=8)


def _runs(program, shape) -> None:
    module = build(program)
    with torch.no_grad():
        out = module(torch.randn(2, *shape))
    assert tuple(out.shape) == (2, *analyze(program).output_shape)


def test_children_are_valid_and_differ(resnet) -> None:
    mutation = PropertyMutation()
    assert isinstance(mutation, Variation)
    parent_hash = program_hash(resnet)
    operators = set()
    for seed in range(12):
        child = mutation.vary(resnet, random.Random(seed))
        operators.add(child.operator)
        again = parse(print_program(child.program))
        assert again == child.program
        assert program_hash(again) != parent_hash
        assert analyze(again).output_shape == analyze(resnet).output_shape
        _runs(again, (3, 32, 32))
        if child.operator == "property_mutation":
            rec = child.record
            assert rec["before"]["shapes"] == rec["after"]["shapes"]
            assert rec["replacement"].startswith("model region(")
            assert rec["synthesis"]["structures"] >= 1
    assert "property_mutation" in operators


def test_same_rng_same_child(resnet) -> None:
    mutation = PropertyMutation(MutationSettings(p_duplicate=0.0, p_delete=0.0))
    a = mutation.vary(resnet, random.Random(5))
    b = mutation.vary(resnet, random.Random(5))
    assert print_program(a.program) == print_program(b.program)


def test_mutated_block_is_renamed_for_its_instance(resnet) -> None:
    mutation = PropertyMutation(MutationSettings(p_duplicate=0.0, p_delete=0.0, p_share=0.0))
    for seed in range(20):
        child = mutation.vary(resnet, random.Random(seed))
        graph = child.record["graph"]
        if graph != resnet.model.name:
            new_blocks = set(child.program.block_names) - set(resnet.block_names)
            assert len(new_blocks) == 1 and next(iter(new_blocks)).startswith(graph + "_m")
            return
    pytest.fail("no block was mutated in 20 children")


def test_budgets_flow_into_synthesis(resnet) -> None:
    total = int(analyze(resnet).total.params)
    settings = MutationSettings(max_params=total)
    for seed in range(6):
        proposal = propose(resnet, random.Random(seed), settings)
        own = int(proposal.properties.resources.params)
        assert proposal.problem.budgets.params == own  # what is left once the rest is counted


def test_duplicate_and_delete_change_the_number_of_calls(resnet) -> None:
    calls = sum(1 for n in resnet.model.nodes if n.op in resnet.block_names)
    dup, _ = duplicate_block(resnet, random.Random(0))
    assert sum(1 for n in dup.model.nodes if n.op in dup.block_names) == calls + 1
    _runs(dup, (3, 32, 32))
    shorter, _ = delete_block(resnet, random.Random(0))
    assert sum(1 for n in shorter.model.nodes if n.op in shorter.block_names) == calls - 1
    _runs(shorter, (3, 32, 32))


def test_a_program_without_blocks_still_mutates() -> None:
    program = parse(
        "model m(x: [4, 8, 8]) {\n  h = relu(conv2d(x, 8, k=3, p=1))\n  return dense(flatten(mean(h, [1, 2])), 5)\n}\n"
    )
    child = PropertyMutation().vary(program, random.Random(1))
    assert program_hash(child.program) != program_hash(program)
    _runs(child.program, (4, 8, 8))
    with pytest.raises(VariationFailed):
        duplicate_block(program, random.Random(0))


def test_vit_children_run() -> None:
    vit = zoo.load("vit_tiny", patch=32)
    mutation = PropertyMutation(MutationSettings(p_duplicate=0.0, p_delete=0.0))
    child = mutation.vary(vit, random.Random(2))
    _runs(child.program, (3, 224, 224))


def test_random_sampler_keeps_shapes(resnet) -> None:
    from alphanas.variation.sampling import RandomSampler

    sampler = RandomSampler(max_ops=6)
    for seed in range(3):
        child = sampler.vary(resnet, random.Random(seed))
        assert child.program.model.name == resnet.model.name
        assert analyze(child.program).output_shape == analyze(resnet).output_shape
        _runs(child.program, (3, 32, 32))
