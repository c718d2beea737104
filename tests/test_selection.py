"""Parent selection: NSGA-II keeps and prefers the front, Pareto-weighted
sampling draws among the best and skips low accuracy, aging evolution
forgets the oldest; all depend on the RNG alone."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from alphanas.evaluation.pareto import Objective, ReferenceBox, pareto_front
from alphanas.registry import PluginError
from alphanas.search.selection import (
    NSGA2,
    Aging,
    AgingSettings,
    NSGA2Settings,
    ParetoWeighted,
    ParetoWeightedSettings,
    make_selection,
)
from alphanas.search.store import Candidate

OBJS = (Objective("accuracy", "max"), Objective("params", "min"))
BOX = ReferenceBox(OBJS, (1.0, 0.0), (0.0, 1000.0))


def _c(i: int, accuracy: float, params: float) -> Candidate:
    return Candidate(id=i, parent_id=None, generation=0, operator="x", program="", hash=str(i),
                     metrics={"accuracy": accuracy, "params": params}, status="ok")


def _population(n: int = 30, seed: int = 0) -> list[Candidate]:
    rng = random.Random(seed)
    return [_c(i, rng.random(), rng.uniform(0, 1000)) for i in range(n)]


def _front_ids(pop: list[Candidate]) -> set[int]:
    points = [(c.metrics["accuracy"], c.metrics["params"]) for c in pop]
    return {pop[i].id for i in pareto_front(points, OBJS)}


def test_nsga2_survivors_keep_the_front() -> None:
    pop = _population()
    sel = NSGA2(OBJS, population_size=10)
    kept = sel.survivors(pop)
    assert len(kept) == 10
    assert _front_ids(pop) <= {c.id for c in kept}
    assert [c.id for c in kept] == sorted(c.id for c in kept)  # the population's order
    assert sel.survivors(pop[:5]) == pop[:5]


def test_nsga2_tournament_prefers_better_ranks() -> None:
    pop = [_c(0, 0.9, 100), _c(1, 0.8, 200), _c(2, 0.7, 300), _c(3, 0.6, 400)]  # a chain: ranks 0..3
    sel = NSGA2(OBJS, 4, settings=NSGA2Settings(tournament=2))
    counts = Counter(sel.draw(pop, random.Random(s)).parent.id for s in range(300))
    assert counts[3] == 0  # the worst never wins a tournament of two distinct entrants
    assert counts[0] > counts[1] > counts[2]


def test_deap_classes_are_created_once() -> None:
    a, b = NSGA2(OBJS, 4), NSGA2(OBJS, 8)
    assert a._individual is b._individual
    assert NSGA2((Objective("params", "min"),), 4)._individual is not a._individual


def test_pareto_weighted_draws_among_the_best() -> None:
    pop = _population(60)
    sel = ParetoWeighted(OBJS, 0, BOX)
    allowed = {c.id for c in sel.ranked(pop, True)[:10]} | {c.id for c in sel.ranked(pop, False)[:10]}
    counts = Counter(sel.draw(pop, random.Random(s)).parent.id for s in range(2000))
    assert set(counts) <= allowed
    front = _front_ids(pop)
    by_distance = sel.ranked(pop, False)
    assert {c.id for c in by_distance[: len(front)]} == front  # distance 0 first
    # weights fall linearly from 1 to 0.1: the best is drawn far more than the 10th
    assert counts[by_distance[0].id] > 3 * counts[by_distance[9].id] > 0


def test_pareto_weighted_top_fraction_and_min_accuracy() -> None:
    pop = _population(300)
    sel = ParetoWeighted(OBJS, 0, BOX, ParetoWeightedSettings(min_accuracy=0.5, first_objective_probability=1.0))
    eligible = sel.eligible(pop)
    assert all(c.metrics["accuracy"] >= 0.5 for c in eligible) and 100 < len(eligible) < 300
    k = math.ceil(0.1 * len(eligible))  # 10% of the eligible, more than 10
    top = {c.id for c in sorted(eligible, key=lambda c: -c.metrics["accuracy"])[:k]}
    picked = {sel.draw(pop, random.Random(s)).parent.id for s in range(1000)}
    assert picked == top
    low = [_c(i, 0.1, 10.0 * i) for i in range(5)]
    assert sel.eligible(low) == low  # no candidate reaches it: the threshold is set aside


def test_aging_forgets_the_oldest_and_takes_the_best_of_a_sample() -> None:
    sel = Aging(OBJS, 3, settings=AgingSettings(tournament=3))
    pop: list[Candidate] = []
    for c in _population(5):
        pop = sel.survivors([*pop, c])
    assert [c.id for c in pop] == [2, 3, 4]
    best = max(pop, key=lambda c: c.metrics["accuracy"])
    assert sel.draw(pop, random.Random(0)).parent is best
    small = Aging(OBJS, 10, settings=AgingSettings(tournament=2))
    pop = _population(10)
    worst = min(pop, key=lambda c: c.metrics["accuracy"])
    assert all(small.draw(pop, random.Random(s)).parent is not worst for s in range(200))


@pytest.mark.parametrize("name", ["nsga2", "pareto_weighted", "aging"])
def test_same_rng_same_parent(name: str) -> None:
    pop = _population(40)
    sel = make_selection(name, OBJS, 16, BOX)
    pop = sel.survivors(pop)
    for s in range(20):
        assert sel.draw(pop, random.Random(s)).parent.id == sel.draw(pop, random.Random(s)).parent.id


def test_make_selection_rejects_unknown_names_and_options() -> None:
    with pytest.raises(PluginError, match="unknown selection 'tournament'") as err:
        make_selection("tournament", OBJS, 4, BOX)
    assert "nsga2, pareto_weighted, aging" in (err.value.hint or "")
    with pytest.raises(PluginError, match="aging takes no option 'min_accuracy'") as err:
        make_selection("aging", OBJS, 4, BOX, {"min_accuracy": 0.5})
    assert "its options: tournament" in (err.value.hint or "")


@pytest.mark.parametrize(("name", "options", "message"), [
    ("nsga2", {"first_objective_probability": 1.5}, "first_objective_probability = 1.5 is impossible"),
    ("nsga2", {"tournament": 0}, "tournament = 0 is impossible: it must be at least 1"),
    ("aging", {"tournament": 2.5}, "tournament must be an integer"),
    ("pareto_weighted", {"top_fraction": 0.0}, "top_fraction = 0.0 is impossible"),
    ("pareto_weighted", {"min_accuracy": "high"}, "min_accuracy must be a number"),
    ("pareto_weighted", {"top_min": True}, "top_min must be an integer"),
])
def test_settings_check_their_values(name: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(PluginError, match=message):
        make_selection(name, OBJS, 4, BOX, options)


def test_min_accuracy_needs_an_accuracy_objective() -> None:
    objectives = (Objective("params", "min"), Objective("flops", "min"))
    box = ReferenceBox(objectives, (0.0, 0.0), (1.0, 1.0))
    with pytest.raises(PluginError, match="min_accuracy needs accuracy among the objectives"):
        make_selection("pareto_weighted", objectives, 4, box, {"min_accuracy": 0.5})


def test_nsga2_first_objective_draws_take_the_best_on_accuracy() -> None:
    pop = _population(12)
    most_accurate = max(pop, key=lambda c: c.metrics["accuracy"])
    greedy = NSGA2(OBJS, 12, settings=NSGA2Settings(first_objective_probability=1.0, first_objective_tournament=12))
    assert {greedy.draw(pop, random.Random(s)).parent.id for s in range(30)} == {most_accurate.id}
    # half the draws: both kinds of parent occur
    half = NSGA2(OBJS, 12, settings=NSGA2Settings(first_objective_probability=0.5, first_objective_tournament=12))
    parents = Counter(half.draw(pop, random.Random(s)).parent.id for s in range(200))
    assert 60 < parents[most_accurate.id] < 200
    aims = Counter(half.draw(pop, random.Random(s)).aim for s in range(200))
    assert set(aims) == {"front", "first_objective"} and 60 < aims["first_objective"] < 140
    with pytest.raises(ValueError, match="first_objective_probability"):
        NSGA2Settings(first_objective_probability=1.5)


def test_nsga2_without_first_objective_draws_uses_the_rng_as_before() -> None:
    """The option off draws nothing for it, so a run without it is the run
    it was before the option existed (the benchmark's baselines rely on it)."""
    pop = _population(20)
    plain, off = NSGA2(OBJS, 20), NSGA2(OBJS, 20, settings=NSGA2Settings(first_objective_probability=0.0))
    for s in range(20):
        a, b = random.Random(s), random.Random(s)
        assert plain.draw(pop, a).parent.id == off.draw(pop, b).parent.id
        assert a.random() == b.random()


def test_every_draw_says_what_its_parent_was_drawn_for() -> None:
    """Aging draws on the first objective alone; NSGA-II and Pareto-weighted
    sampling draw for the front unless they spend the draw on accuracy."""
    pop = _population(20)
    aims = {
        "aging": {Aging(OBJS, 20).draw(pop, random.Random(s)).aim for s in range(50)},
        "nsga2": {NSGA2(OBJS, 20).draw(pop, random.Random(s)).aim for s in range(50)},
        "greedy nsga2": {NSGA2(OBJS, 20, settings=NSGA2Settings(first_objective_probability=1.0)).draw(pop, random.Random(s)).aim
                         for s in range(50)},
        "pareto_weighted": {ParetoWeighted(OBJS, 0, BOX).draw(pop, random.Random(s)).aim for s in range(200)},
    }
    assert aims == {"aging": {"first_objective"}, "nsga2": {"front"}, "greedy nsga2": {"first_objective"},
                    "pareto_weighted": {"front", "first_objective"}}
    # a Pareto-weighted accuracy draw ranks by accuracy: its parent is among the most accurate
    sel = ParetoWeighted(OBJS, 0, BOX, ParetoWeightedSettings(first_objective_probability=1.0, top_min=3))
    top3 = {c.id for c in sorted(pop, key=lambda c: -c.metrics["accuracy"])[:3]}
    assert all(sel.draw(pop, random.Random(s)).parent.id in top3 for s in range(50))
