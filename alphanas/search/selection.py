"""Parent selection: which evaluated candidate the next child comes from.

A selection strategy is a small object with two methods:

- ``survivors(population)``: the population after a newly evaluated
  candidate was appended to it (the search folds every ok candidate in, in
  the order evaluations finished);
- ``draw(population, rng)``: the parent of the next child and what it was
  drawn for (a :class:`Draw`), every random choice from ``rng``.

Both are pure functions of their arguments, which is what makes a serial
search reproducible and resumable (:mod:`alphanas.search.loop`). Three strategies,
chosen by name in the search config:

- ``nsga2`` — NSGA-II (Deb et al. 2002) in steady state: the population keeps
  the ``population_size`` best by non-dominated rank and crowding distance
  (DEAP's ``selNSGA2``), and a parent wins a tournament on (rank, crowding);
  with probability ``first_objective_probability`` (default 0) a draw is
  instead the best on the first objective alone of ``first_objective_tournament``
  entrants, the share of draws αNAS's parent sampling spends on accuracy;
- ``pareto_weighted`` — αNAS's parent sampling: candidates below a minimum
  accuracy are left out; with probability 0.2 the candidates are ranked by
  the first objective alone, otherwise by their distance to the Pareto front
  (in the reference box's normalised units, 0 on the front); the parent is
  drawn among the best max(10%, 10) with weights falling linearly from 1 to
  0.1. When no candidate reaches the minimum accuracy (early in a run) the
  threshold is set aside for that draw.
- ``aging`` — regularized evolution (Real et al. 2019): the population is
  the ``population_size`` most recently evaluated candidates (the oldest
  dies), and the parent is the best of a random sample of ``tournament``,
  best meaning lexicographically best on the objectives in config order.

A draw says whether its parent was picked for the Pareto front or for the
first objective alone (aging's draws, and the share of NSGA-II's and
Pareto-weighted draws spent on accuracy), so that a variation can make a
child in keeping with why its parent was chosen (``SpaceMutation`` takes
the tightest derivation for the front and may drift for accuracy: see
``MutationSettings.p_tight_first_objective``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from deap import base, creator
from deap.tools.emo import assignCrowdingDist, selNSGA2, sortNondominated

from alphanas.evaluation.pareto import Objective, ReferenceBox, pareto_front
from alphanas.search.store import Candidate
from alphanas.variation.base import Aim

__all__ = ["NSGA2", "SELECTIONS", "Aging", "Aim", "Draw", "ParetoWeighted", "Selection", "make_selection"]

@dataclass(frozen=True)
class Draw:
    """A selected parent and what it was drawn for."""

    parent: Candidate
    aim: Aim


class Selection(Protocol):
    name: str

    def survivors(self, population: list[Candidate]) -> list[Candidate]: ...

    def draw(self, population: Sequence[Candidate], rng: random.Random) -> Draw: ...


def _values(c: Candidate, objectives: Sequence[Objective]) -> tuple[float, ...]:
    return tuple(float(c.metrics[o.name]) for o in objectives)


def _lexicographic_key(c: Candidate, objectives: Sequence[Objective]) -> tuple[float, ...]:
    """Sorts best first: each objective turned into one to minimise, then the index."""
    return (*(o.sign * v for o, v in zip(objectives, _values(c, objectives))), c.id)


# -- NSGA-II --------------------------------------------------------------------------------------


def _deap_individual_class(objectives: Sequence[Objective]) -> type:
    """A DEAP individual class whose fitness weights follow the directions
    (+1.0 maximise, -1.0 minimise). DEAP's ``creator`` classes are global:
    each weight pattern is created once and reused."""
    pattern = "_".join(o.direction for o in objectives)
    fitness_name, individual_name = f"AlphanasFitness_{pattern}", f"AlphanasIndividual_{pattern}"
    if not hasattr(creator, fitness_name):
        creator.create(fitness_name, base.Fitness, weights=tuple(-o.sign for o in objectives))
    if not hasattr(creator, individual_name):
        creator.create(individual_name, list, fitness=getattr(creator, fitness_name))
    return getattr(creator, individual_name)


class NSGA2:
    """Steady-state NSGA-II over DEAP individuals (see the module doc)."""

    name = "nsga2"

    def __init__(self, objectives: Sequence[Objective], population_size: int, tournament: int = 2,
                 first_objective_probability: float = 0.0, first_objective_tournament: int = 10) -> None:
        if population_size < 1 or tournament < 1 or first_objective_tournament < 1:
            raise ValueError("population_size and the tournaments must be at least 1")
        if not 0.0 <= first_objective_probability <= 1.0:
            raise ValueError("first_objective_probability must be in [0, 1]")
        self.objectives = tuple(objectives)
        self.population_size = population_size
        self.tournament = tournament
        self.first_objective_probability = first_objective_probability
        self.first_objective_tournament = first_objective_tournament
        self._individual = _deap_individual_class(self.objectives)

    def _individuals(self, population: Sequence[Candidate]) -> list[Any]:
        out = []
        for k, c in enumerate(population):
            ind = self._individual([k])
            ind.fitness.values = _values(c, self.objectives)
            out.append(ind)
        return out

    def survivors(self, population: list[Candidate]) -> list[Candidate]:
        if len(population) <= self.population_size:
            return population
        chosen = selNSGA2(self._individuals(population), self.population_size)
        keep = sorted(ind[0] for ind in chosen)  # in the population's own order
        return [population[k] for k in keep]

    def draw(self, population: Sequence[Candidate], rng: random.Random) -> Draw:
        # no draw at all when the option is off, so that runs without it are unchanged
        if self.first_objective_probability and rng.random() < self.first_objective_probability:
            return Draw(_best_of_sample(population, self.first_objective_tournament, self.objectives, rng),
                        "first_objective")
        inds = self._individuals(population)
        rank: dict[int, int] = {}
        crowding: dict[int, float] = {}
        for r, front in enumerate(sortNondominated(inds, len(inds))):
            assignCrowdingDist(front)
            for ind in front:
                rank[ind[0]] = r
                crowding[ind[0]] = ind.fitness.crowding_dist
        entrants = rng.sample(range(len(population)), min(self.tournament, len(population)))
        best = min(entrants, key=lambda k: (rank[k], -crowding[k], population[k].id))
        return Draw(population[best], "front")


# -- αNAS's Pareto-weighted sampling ----------------------------------------------------------------


class ParetoWeighted:
    """αNAS's parent sampling (see the module doc). ``box`` normalises the
    objectives for the distance to the front."""

    name = "pareto_weighted"

    def __init__(
        self,
        objectives: Sequence[Objective],
        box: ReferenceBox,
        min_accuracy: float | None = None,
        first_objective_probability: float = 0.2,
        top_fraction: float = 0.1,
        top_min: int = 10,
    ) -> None:
        if not 0.0 <= first_objective_probability <= 1.0:
            raise ValueError("first_objective_probability must be in [0, 1]")
        if not 0.0 < top_fraction <= 1.0 or top_min < 1:
            raise ValueError("top_fraction must be in (0, 1] and top_min at least 1")
        self.objectives = tuple(objectives)
        self.box = box
        self.min_accuracy = min_accuracy
        self.first_objective_probability = first_objective_probability
        self.top_fraction = top_fraction
        self.top_min = top_min

    def survivors(self, population: list[Candidate]) -> list[Candidate]:
        return population  # αNAS samples from every evaluated candidate

    def eligible(self, population: Sequence[Candidate]) -> list[Candidate]:
        """The candidates that reach the minimum accuracy, or all of them
        when none does."""
        if self.min_accuracy is None:
            return list(population)
        good = [c for c in population if float(c.metrics.get("accuracy", -math.inf)) >= self.min_accuracy]
        return good or list(population)

    def ranked(self, population: Sequence[Candidate], by_first_objective: bool) -> list[Candidate]:
        """The population best first: by the first objective, or by the
        normalised distance to the Pareto front (front members first)."""
        pool = self.eligible(population)
        if by_first_objective:
            o = self.objectives[0]
            return sorted(pool, key=lambda c: (o.sign * float(c.metrics[o.name]), c.id))
        points = [self.box.normalize(_values(c, self.objectives)) for c in pool]
        front = [points[i] for i in pareto_front(points, [Objective(o.name, "min") for o in self.objectives])]
        distance = [min(math.dist(p, q) for q in front) for p in points]
        order = sorted(range(len(pool)), key=lambda i: (distance[i], pool[i].id))
        return [pool[i] for i in order]

    def draw(self, population: Sequence[Candidate], rng: random.Random) -> Draw:
        by_first = rng.random() < self.first_objective_probability
        ranked = self.ranked(population, by_first)
        k = min(len(ranked), max(math.ceil(self.top_fraction * len(ranked)), self.top_min))
        weights = [1.0 - 0.9 * i / (k - 1) for i in range(k)] if k > 1 else [1.0]
        return Draw(rng.choices(ranked[:k], weights=weights)[0], "first_objective" if by_first else "front")


# -- aging evolution --------------------------------------------------------------------------------


class Aging:
    """Regularized evolution (see the module doc)."""

    name = "aging"

    def __init__(self, objectives: Sequence[Objective], population_size: int, tournament: int = 10) -> None:
        if population_size < 1 or tournament < 1:
            raise ValueError("population_size and tournament must be at least 1")
        self.objectives = tuple(objectives)
        self.population_size = population_size
        self.tournament = tournament

    def survivors(self, population: list[Candidate]) -> list[Candidate]:
        return population[-self.population_size:]

    def draw(self, population: Sequence[Candidate], rng: random.Random) -> Draw:
        return Draw(_best_of_sample(population, self.tournament, self.objectives, rng), "first_objective")


def _best_of_sample(population: Sequence[Candidate], size: int, objectives: Sequence[Objective],
                    rng: random.Random) -> Candidate:
    """The lexicographically best of ``size`` candidates drawn without replacement."""
    sample = rng.sample(list(population), min(size, len(population)))
    return min(sample, key=lambda c: _lexicographic_key(c, objectives))


#: selection name -> the options it takes besides objectives, population size and box
SELECTIONS: Mapping[str, tuple[str, ...]] = {
    "nsga2": ("tournament", "first_objective_probability", "first_objective_tournament"),
    "pareto_weighted": ("min_accuracy", "first_objective_probability", "top_fraction", "top_min"),
    "aging": ("tournament",),
}


def make_selection(
    name: str,
    objectives: Sequence[Objective],
    population_size: int,
    box: ReferenceBox,
    options: Mapping[str, Any] | None = None,
) -> Selection:
    """The selection strategy ``name`` with its options (validated by the
    search config before a run starts)."""
    opts = dict(options or {})
    if name == "nsga2":
        return NSGA2(objectives, population_size, **opts)
    if name == "pareto_weighted":
        return ParetoWeighted(objectives, box, **opts)
    if name == "aging":
        return Aging(objectives, population_size, **opts)
    raise ValueError(f"unknown selection {name!r}; known: {', '.join(SELECTIONS)}")
