"""What a search configuration holds: one frozen dataclass per TOML table.

These are plain values, checked when they are read
(:mod:`alphanas.search.config.reading`); :meth:`SearchConfig.to_dict` gives
the form stored with a run, which :meth:`SearchConfig.from_dict` reads back.
The plug-ins a configuration names (variation, selection, evaluator,
executor) are kept by name with their options; they are built from the
registries (:mod:`alphanas.search.config.building`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from alphanas.evaluation.evaluator import Fidelity
from alphanas.evaluation.pareto import Objective
from alphanas.lang.errors import AlphanasError

__all__ = [
    "BudgetConfig",
    "ConfigError",
    "Constraints",
    "EvaluatorConfig",
    "ExecutorConfig",
    "ObjectiveSpec",
    "SearchConfig",
    "SpaceConfig",
    "StrategyConfig",
]


class ConfigError(AlphanasError):
    kind = "config error"


@dataclass(frozen=True)
class ObjectiveSpec:
    """An objective and, optionally, its own reference-box bounds."""

    name: str
    direction: str
    best: float | None = None
    worst: float | None = None

    @property
    def objective(self) -> Objective:
        return Objective(self.name, self.direction)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Constraints:
    max_params: float | None = None
    max_flops: float | None = None

    def as_kwargs(self) -> dict[str, float]:
        """The budgets that are set, as keyword arguments of a variation
        (whole numbers as ints: ``1e6`` in TOML is a float)."""
        return {k: int(v) if float(v).is_integer() else v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class SpaceConfig:
    """``[space]``: the grammar whose ``rule`` derives the body of ``graph``
    (a block's name; None: the model), so that every child stays in it."""

    grammar: str
    rule: str
    graph: str | None = None

    def load(self) -> Any:
        """The space (loaded once per process: the config check, the
        variation and the seed check all need it)."""
        path = Path(self.grammar)
        return _load_space(str(path), path.stat().st_mtime_ns if path.exists() else 0, self.rule, self.graph)


@functools.lru_cache(maxsize=8)
def _load_space(grammar: str, mtime: int, rule: str, graph: str | None) -> Any:
    from alphanas.variation.space import ProgramSpace

    del mtime  # part of the cache key only: an edited grammar is loaded again
    return ProgramSpace.load(grammar, rule, graph)


@dataclass(frozen=True)
class StrategyConfig:
    """``[strategy]``: the variation and the selection, each by its
    registered name (or ``module:Class``) with its options."""

    variation: str = "alphanas"
    selection: str = "pareto_weighted"
    variation_options: Mapping[str, Any] = field(default_factory=dict)
    selection_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetConfig:
    children: int = 100
    wall_seconds: float | None = None
    max_variation_failures: int | None = None

    @property
    def variation_failure_cap(self) -> int:
        return self.max_variation_failures if self.max_variation_failures is not None else 10 * self.children


@dataclass(frozen=True)
class ExecutorConfig:
    """``[executor]``: the executor's registered name (or ``module:Class``)
    and the table's other keys, which are its settings."""

    kind: str = "process"
    workers: int = 1
    address: str | None = None
    timeout_seconds: float | None = None
    threads_per_worker: int | None = None

    def options(self) -> dict[str, Any]:
        """The keys the executor's settings are given: every key but
        ``kind`` that is set (``workers`` always is)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "kind" and getattr(self, f.name) is not None}


@dataclass(frozen=True)
class EvaluatorConfig:
    """``[evaluator]``: the evaluator's registered name (or ``module:Class``)
    and its constructor's options, with what the search gives each evaluation."""

    kind: str = "analytic"
    options: Mapping[str, Any] = field(default_factory=dict)
    fidelity: Fidelity = field(default_factory=Fidelity)
    keep_checkpoints: bool = False
    inherit_weights: bool = False


@dataclass(frozen=True)
class SearchConfig:
    """A validated search configuration. Paths are absolute."""

    seed_program: str
    run_dir: Path
    objectives: tuple[ObjectiveSpec, ...]
    seed_params: Mapping[str, int] = field(default_factory=dict)
    input_shape: tuple[int, ...] | None = None
    #: the class count: the seed's classifier re-sized (an imported seed) or its ``classes`` parameter set
    classes: int | None = None
    #: the seed's trained weights (a state_dict file; absolute path)
    seed_weights: str | None = None
    space: SpaceConfig | None = None
    constraints: Constraints = field(default_factory=Constraints)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    population: int = 32
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    seed: int = 0
    #: log the run's progress to RUN_DIR/tensorboard (:mod:`alphanas.search.tensorboard_log`)
    tensorboard: bool = False
    #: the file it was read from, for messages
    source: str = "<config>"

    @property
    def objective_list(self) -> tuple[Objective, ...]:
        return tuple(o.objective for o in self.objectives)

    def to_dict(self) -> dict[str, Any]:
        """A TOML/JSON-able form that :meth:`from_dict` reads back (stored
        with the run so that ``alphanas resume`` needs no config file)."""
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["objectives"] = [{k: v for k, v in o.items() if v is not None} for o in data["objectives"]]
        data["input_shape"] = list(self.input_shape) if self.input_shape else None
        fidelity = self.evaluator.fidelity
        data["evaluator"]["fidelity"] = {
            k: v for k, v in asdict(fidelity).items() if v is not None and not (k == "rung" and v == 0)
        }
        return _drop_none(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<config>", text: str | None = None,
                  base: Path | None = None, resuming: bool = False) -> SearchConfig:
        """Validate a configuration's data; ``text`` (the TOML) lets errors
        point at lines, ``base`` is the folder relative paths start from.
        ``resuming``: the configuration of an existing run, whose seed
        program is already in its store (its file need not exist any more).
        The plug-ins it names are built once, so that what they refuse is
        reported now, at the config's line."""
        from alphanas.search.config.building import check_plugins
        from alphanas.search.config.reading import Reader

        reader = Reader(source, text, base or Path.cwd(), resuming)
        config = reader.config(data)
        check_plugins(config, reader)
        return config


def _drop_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list | tuple):
        return [_drop_none(x) for x in v]
    return v
