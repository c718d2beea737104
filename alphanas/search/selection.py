"""Parent selection: which evaluated candidate the next child comes from.

A selection strategy is a small object with two methods:

- ``survivors(population)``: the population after a newly evaluated
  candidate was appended to it (the search folds every ok candidate in, in
  the order evaluations finished);
- ``draw(population, rng)``: the parent of the next child and what it was
  drawn for (a :class:`Draw`), every random choice from ``rng``.

Both are pure functions of their arguments, which is what makes a serial
search reproducible and resumable (:mod:`alphanas.search.loop`). Three strategies
are registered in :data:`SELECTIONS`, chosen by name in the search config
(``[strategy] selection``, with ``selection_options`` the fields of the
strategy's settings dataclass):

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

Every selection is built as ``cls(objectives, population_size, box, settings)``
(:meth:`alphanas.registry.Entry.build`); a strategy of one's own registers
with ``@SELECTIONS.register(name, settings=...)`` or is named as
``module:Class`` (docs/extending.md).
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
from alphanas.registry import Registry
from alphanas.search.store import Candidate
from alphanas.variation.base import Aim

__all__ = [
    "NSGA2",
    "SELECTIONS",
    "Aging",
    "AgingSettings",
    "Aim",
    "Draw",
    "NSGA2Settings",
    "ParetoWeighted",
    "ParetoWeightedSettings",
    "Selection",
    "make_selection",
]

@dataclass(frozen=True)
class Draw:
    """A selected parent and what it was drawn for."""

    parent: Candidate
    aim: Aim


class Selection(Protocol):
    name: str

    def survivors(self, population: list[Candidate]) -> list[Candidate]: ...

    def draw(self, population: Sequence[Candidate], rng: random.Random) -> Draw: ...


#: The selections a search config names (``[strategy] selection``). A class
#: registers with ``@SELECTIONS.register(name, settings=...)`` and is built as
#: ``cls(objectives, population_size, box, settings)``; ``selection_options``
#: are the fields of its settings dataclass.
SELECTIONS: Registry[Selection] = Registry("selection", builtin_modules=("alphanas.search.selection",))


# -- settings: each checks its own values ---------------------------------------------------------------


def _whole(name: str, value: Any, minimum: int = 1) -> None:
    """``value`` is an integer of at least ``minimum`` (a bool is not)."""
    if type(value) is not int:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} = {value} is impossible: it must be at least {minimum}")


def _real(name: str, value: Any, minimum: float = 0.0) -> None:
    """``value`` is a finite number of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} = {value} is impossible: it must be finite")
    if value < minimum:
        raise ValueError(f"{name} = {value} is impossible: it must be at least {minimum:g}")


def _probability(name: str, value: Any) -> None:
    _real(name, value, 0.0)
    if value > 1:
        raise ValueError(f"{name} = {value} is impossible: a probability is at most 1")


@dataclass(frozen=True)
class NSGA2Settings:
    """NSGA-II's options: the size of the tournament on (rank, crowding), and
    the share of draws spent on the first objective alone with the size of
    their tournament."""

    tournament: int = 2
    first_objective_probability: float = 0.0
    first_objective_tournament: int = 10

    def __post_init__(self) -> None:
        _whole("tournament", self.tournament)
        _probability("first_objective_probability", self.first_objective_probability)
        _whole("first_objective_tournament", self.first_objective_tournament)


@dataclass(frozen=True)
class ParetoWeightedSettings:
    """αNAS's parent sampling's options: the accuracy below which candidates
    are left out (None: none is), the share of draws ranked by the first
    objective, and the best ``max(top_fraction, top_min)`` drawn among."""

    min_accuracy: float | None = None
    first_objective_probability: float = 0.2
    top_fraction: float = 0.1
    top_min: int = 10

    def __post_init__(self) -> None:
        if self.min_accuracy is not None:
            _real("min_accuracy", self.min_accuracy, 0.0)
        _probability("first_objective_probability", self.first_objective_probability)
        _real("top_fraction", self.top_fraction, 0.0)
        if not 0.0 < self.top_fraction <= 1.0:
            raise ValueError(f"top_fraction = {self.top_fraction} is impossible: it must be in (0, 1]")
        _whole("top_min", self.top_min)


@dataclass(frozen=True)
class AgingSettings:
    """Regularized evolution's option: the size of the sample a parent is the best of."""

    tournament: int = 10

    def __post_init__(self) -> None:
        _whole("tournament", self.tournament)


def _population_size(value: int) -> int:
    if value < 1:
        raise ValueError(f"population_size must be at least 1, got {value}")
    return value


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


@SELECTIONS.register("nsga2", settings=NSGA2Settings)
class NSGA2:
    """Steady-state NSGA-II over DEAP individuals (see the module doc). The
    box is not used."""

    name = "nsga2"

    def __init__(self, objectives: Sequence[Objective], population_size: int, box: ReferenceBox | None = None,
                 settings: NSGA2Settings = NSGA2Settings()) -> None:
        self.objectives = tuple(objectives)
        self.population_size = _population_size(population_size)
        self.settings = settings
        self.tournament = settings.tournament
        self.first_objective_probability = settings.first_objective_probability
        self.first_objective_tournament = settings.first_objective_tournament
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


@SELECTIONS.register("pareto_weighted", settings=ParetoWeightedSettings)
class ParetoWeighted:
    """αNAS's parent sampling (see the module doc). ``box`` normalises the
    objectives for the distance to the front; the population size is not
    used (every evaluated candidate stays a possible parent)."""

    name = "pareto_weighted"

    def __init__(self, objectives: Sequence[Objective], population_size: int, box: ReferenceBox,
                 settings: ParetoWeightedSettings = ParetoWeightedSettings()) -> None:
        self.objectives = tuple(objectives)
        if settings.min_accuracy is not None and "accuracy" not in [o.name for o in self.objectives]:
            raise ValueError("min_accuracy needs accuracy among the objectives")
        self.population_size = population_size
        self.box = box
        self.settings = settings
        self.min_accuracy = settings.min_accuracy
        self.first_objective_probability = settings.first_objective_probability
        self.top_fraction = settings.top_fraction
        self.top_min = settings.top_min

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


@SELECTIONS.register("aging", settings=AgingSettings)
class Aging:
    """Regularized evolution (see the module doc). The box is not used."""

    name = "aging"

    def __init__(self, objectives: Sequence[Objective], population_size: int, box: ReferenceBox | None = None,
                 settings: AgingSettings = AgingSettings()) -> None:
        self.objectives = tuple(objectives)
        self.population_size = _population_size(population_size)
        self.settings = settings
        self.tournament = settings.tournament

    def survivors(self, population: list[Candidate]) -> list[Candidate]:
        return population[-self.population_size:]

    def draw(self, population: Sequence[Candidate], rng: random.Random) -> Draw:
        return Draw(_best_of_sample(population, self.tournament, self.objectives, rng), "first_objective")


def _best_of_sample(population: Sequence[Candidate], size: int, objectives: Sequence[Objective],
                    rng: random.Random) -> Candidate:
    """The lexicographically best of ``size`` candidates drawn without replacement."""
    sample = rng.sample(list(population), min(size, len(population)))
    return min(sample, key=lambda c: _lexicographic_key(c, objectives))


def make_selection(
    name: str,
    objectives: Sequence[Objective],
    population_size: int,
    box: ReferenceBox,
    options: Mapping[str, Any] | None = None,
) -> Selection:
    """The selection strategy ``name`` (registered, or ``module:Class``)
    with its options; a :class:`~alphanas.registry.PluginError` for an
    unknown name, an option it does not take, or a value its settings
    reject (the search config reports them at their line before a run
    starts)."""
    return SELECTIONS.get(name).build(dict(options or {}), objectives, population_size, box)
