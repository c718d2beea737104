"""Abstract properties against their concrete references over random
regions (``alphanas bench agreement``): depth is never over-claimed, and
mixing agrees on at least 95% of the regions."""

from __future__ import annotations

import random

import pytest
import torch

from alphanas.bench.agreement import (
    FAMILIES,
    agreement,
    compare_depth,
    compare_mixing,
    random_program,
)
from alphanas.properties import Level
from alphanas.properties.depth import Depth
from alphanas.properties.mixing import Mixing

torch.set_num_threads(1)  # tiny tensors: threads only add overhead


def _check(report: dict, n: int) -> None:
    assert report["regions"] == n
    assert not report["errors"], report["errors"]
    assert report["depth"]["over"] == 0, [r for r in report["results"] if r["depth"] == "over"]
    assert report["mixing"]["agreement"] >= 0.95, report["mixing"]


def test_agreement_on_a_sample() -> None:
    report = agreement(40, seed=1)
    _check(report, 40)
    assert set(report["per_family"]) <= set(FAMILIES)


@pytest.mark.slow
def test_agreement_on_300_regions() -> None:
    report = agreement(300, seed=0)
    _check(report, 300)
    assert len(report["per_family"]) == len(FAMILIES)


def test_random_programs_are_reproducible() -> None:
    a, b = random_program(random.Random(7)), random_program(random.Random(7))
    assert a == b


def test_comparisons() -> None:
    one, many, all_ = Level.ONE, Level.MANY, Level.ALL
    assert compare_depth(Depth({(0, 0): 2}), Depth({(0, 0): 2}))[0] == "equal"
    assert compare_depth(Depth({(0, 0): 1}), Depth({(0, 0): 2}))[0] == "under"
    assert compare_depth(Depth({(0, 0): 3}), Depth({(0, 0): 2}))[0] == "over"
    assert compare_depth(Depth({(0, 0): 0}), Depth({}))[0] == "over"  # a pair the concrete side lacks
    a = Mixing.of({(0, 0): ((one, one), (one, many))})
    c = Mixing.of({(0, 0): ((one, one), (one, all_))})
    assert compare_mixing(a, a) == ("equal", [])
    verdict, entries = compare_mixing(a, c)
    assert verdict == "concrete_higher" and entries == [("in0->out0", "features", "features", "many", "all")]
    assert compare_mixing(c, a)[0] == "abstract_higher"
    mixed = Mixing.of({(0, 0): ((one, all_), (one, many))})
    assert compare_mixing(mixed, c)[0] == "incomparable"
