"""Dominance, non-dominated sorting, the reference box and exact
hypervolume (against hand-computed values and a Monte-Carlo estimate)."""

from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from alphanas.evaluation.pareto import (
    Objective,
    ReferenceBox,
    dominates,
    hypervolume,
    hypervolume_min,
    nondominated_sort,
    pareto_front,
    write_history_row,
    write_pareto_csv,
)

ACC = Objective("accuracy", "max")
PARAMS = Objective("params", "min")
MIN2 = [Objective("a", "min"), Objective("b", "min")]


def test_dominance_follows_directions() -> None:
    objs = [ACC, PARAMS]
    assert dominates((0.9, 10), (0.8, 20), objs)
    assert dominates((0.9, 10), (0.9, 20), objs)
    assert not dominates((0.9, 10), (0.9, 10), objs)  # equal: neither dominates
    assert not dominates((0.9, 30), (0.8, 20), objs)  # a trade-off
    assert not dominates((0.8, 20), (0.9, 10), objs)


def test_nondominated_sort_and_front() -> None:
    points = [(1, 5), (2, 2), (5, 1), (3, 3), (4, 4), (2, 2), (6, 6)]
    assert nondominated_sort(points, MIN2) == [[0, 1, 2, 5], [3], [4], [6]]
    assert pareto_front(points, MIN2) == [0, 1, 2, 5]
    assert nondominated_sort([], MIN2) == []


def test_hypervolume_two_dimensions_by_hand() -> None:
    # staircase: (4-1)(4-3) + (4-2)(3-2) + (4-3)(2-1) = 3 + 2 + 1
    assert hypervolume_min([(1, 3), (2, 2), (3, 1)], (4, 4)) == pytest.approx(6.0)
    # a dominated point and a duplicate add nothing; a point outside the box neither
    assert hypervolume_min([(1, 3), (2, 2), (3, 1), (3, 3), (2, 2), (5, 0)], (4, 4)) == pytest.approx(6.0)
    assert hypervolume_min([(0, 0)], (2, 3)) == pytest.approx(6.0)
    assert hypervolume_min([], (1, 1)) == 0.0
    assert hypervolume_min([(1.0, 0.5)], (1, 1)) == 0.0  # on the reference boundary


def test_hypervolume_three_dimensions_by_hand() -> None:
    # two boxes of 0.25 overlapping in 0.5 x 0.5 x 0.5 = 0.125
    assert hypervolume_min([(0, 0.5, 0.5), (0.5, 0, 0.5)], (1, 1, 1)) == pytest.approx(0.375)
    assert hypervolume_min([(0, 0, 0)], (1, 1, 1)) == pytest.approx(1.0)
    # inclusion-exclusion over three boxes
    pts = [(0.2, 0.6, 0.4), (0.5, 0.1, 0.7), (0.7, 0.5, 0.0)]
    volume = 0.0
    for r in range(1, 4):
        for subset in itertools.combinations(pts, r):
            corner = [max(p[k] for p in subset) for k in range(3)]
            volume += (-1) ** (r + 1) * float(np.prod([1 - c for c in corner]))
    assert hypervolume_min(pts, (1, 1, 1)) == pytest.approx(volume)


@pytest.mark.parametrize("dims", [2, 3, 4])
def test_hypervolume_against_monte_carlo(dims: int) -> None:
    rng = random.Random(dims)
    points = [tuple(rng.random() for _ in range(dims)) for _ in range(12)]
    exact = hypervolume_min(points, (1.0,) * dims)
    samples = np.random.default_rng(dims).random((200_000, dims))
    pts = np.array(points)
    covered = (samples[:, None, :] >= pts[None, :, :]).all(axis=2).any(axis=1)
    assert exact == pytest.approx(covered.mean(), abs=0.006)


def test_reference_box_from_seed() -> None:
    objs = [ACC, PARAMS]
    box = ReferenceBox.from_seed(objs, {"accuracy": 0.8, "params": 1000.0})
    assert box.best == (1.0, 0.0) and box.worst == (0.0, 2000.0)
    assert box.normalize((0.8, 1000)) == pytest.approx((0.2, 0.5))
    assert box.normalize((1.2, -5)) == (0.0, 0.0)  # better than best counts as best
    assert box.normalize((-1, 5000)) == (1.0, 1.0)
    # the seed alone covers (1 - 0.2) x (1 - 0.5)
    assert hypervolume([(0.8, 1000)], box) == pytest.approx(0.4)
    # twice the seed's cost adds nothing
    assert hypervolume([(0.99, 2000)], box) == 0.0
    over = ReferenceBox.from_seed(objs, {"accuracy": 0.8, "params": 1000.0}, {"params": {"worst": 4000}})
    assert over.worst == (0.0, 4000.0)
    # a max objective that is not a fraction
    assert ReferenceBox.from_seed([Objective("score", "max")], {"score": 50.0}).best == (100.0,)
    assert ReferenceBox.from_seed([PARAMS], {"params": 0.0}).worst == (1.0,)
    with pytest.raises(ValueError, match="must be better"):
        ReferenceBox((PARAMS,), (5.0,), (1.0,))
    assert ReferenceBox.from_list(box.as_list()) == box


def test_objective_direction_is_checked() -> None:
    with pytest.raises(ValueError, match="direction"):
        Objective("x", "up")  # type: ignore[arg-type]


def test_csv_files(tmp_path: Path) -> None:
    rows = [{"id": 3, "generation": 2, "parent_id": 1, "operator": "random_edit",
             "metrics": {"params": 10.0, "flops": 4.0}, "hash": "abc"}]
    objs = [PARAMS, Objective("flops", "min")]
    write_pareto_csv(tmp_path / "pareto.csv", rows, objs)
    table = list(csv.reader((tmp_path / "pareto.csv").open()))
    assert table == [["id", "generation", "parent_id", "operator", "params", "flops", "hash"],
                     ["3", "2", "1", "random_edit", "10.0", "4.0", "abc"]]
    for n in (1, 2):
        write_history_row(tmp_path / "history.csv", {"evaluations": n, "hypervolume": 0.5, "best_params": 3}, objs)
    table = list(csv.reader((tmp_path / "history.csv").open()))
    assert table[0] == ["evaluations", "failed", "variation_failed", "elapsed_seconds", "hypervolume",
                        "best_params", "best_flops"]
    assert [r[0] for r in table[1:]] == ["1", "2"]
