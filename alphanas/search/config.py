"""Search configuration: a TOML file, checked before any work starts.

```toml
seed_program = "zoo:resnet18_cifar"   # a .arch path, zoo:NAME or torchvision:NAME
seed_params = { width = 16 }          # the model's int parameters (optional)
input_shape = [3, 32, 32]             # required for torchvision:NAME; else overrides the program's
seed = 0
run_dir = "runs/r18"                  # relative paths are relative to this file's folder
population = 32
objectives = ["accuracy", { name = "params", worst = 2e6 }]
tensorboard = false                   # log the hypervolume and best objectives to RUN_DIR/tensorboard
                                      # (needs the tensorboard package: pip install 'alphanas[tensorboard]')

[constraints]                         # budgets, passed to the variation
max_params = 1_000_000
max_flops = 5e8

[strategy]
variation = "alphanas"                # alphanas | random_edit | random_sample | module:Class
selection = "pareto_weighted"         # nsga2 | pareto_weighted | aging
variation_options = {}                # keyword arguments of the variation's constructor
selection_options = { min_accuracy = 0.5 }

[budget]
children = 500                        # evaluated children (the seed not counted)
wall_seconds = 3600                   # optional
max_variation_failures = 5000         # optional; default 10 x children

[executor]
kind = "process"                      # serial | process | ray
workers = 1                           # 1: exactly reproducible; more: asynchronous
timeout_seconds = 600                 # per candidate (the worker is killed)
# address = "auto"                    # kind = "ray" only: a cluster to join

[evaluator]
kind = "training"                     # analytic | training | nb201 | module:Class
fidelity = { epochs = 1 }
keep_checkpoints = false              # give each evaluation a folder for its weights
inherit_weights = false               # pass the parent's checkpoint (needs keep_checkpoints)

[evaluator.options]                   # keyword arguments of the evaluator's constructor;
data = { name = "cifar10" }           # a nested table becomes the dataclass the argument
config = { batch_size = 128 }         # is annotated with (DataSpec, TrainConfig)
```

With ``kind = "nb201"`` and ``options = { table = "nb201.csv" }`` (a
NAS-Bench-201 table, :mod:`alphanas.evaluation.table`), objectives are named
by the table's columns — ``*_acc`` maximised, ``latency_ms_*`` minimised —
or ``params`` and ``flops``.

Every mistake — an unknown key (with the closest known one), a wrong type,
an unknown objective, an option the variation or evaluator does not take, a
budget the seed program already breaks — raises an
:class:`~alphanas.lang.errors.AlphanasError` pointing at the file and line of the
key (found in the TOML text), with a hint. TOML is read with the standard
library's ``tomllib`` (Python 3.11+), or the ``tomli`` package on 3.10.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import math
import re
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alphanas.evaluation.evaluator import METRICS, Fidelity
from alphanas.evaluation.pareto import Objective
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Loc, Program
from alphanas.search.selection import SELECTIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "EVALUATORS",
    "VARIATIONS",
    "BudgetConfig",
    "ConfigError",
    "Constraints",
    "EvaluatorConfig",
    "ExecutorConfig",
    "ObjectiveSpec",
    "SearchConfig",
    "SpaceConfig",
    "StrategyConfig",
    "VariationEntry",
    "build_evaluator",
    "build_variation",
    "instantiate",
    "load_config",
    "load_seed_program",
    "resolve_target",
    "variation_entry",
]

@dataclass(frozen=True)
class VariationEntry:
    """How a strategy name becomes a variation object: its class
    (``module:Class``, imported only when used) and, when the class takes
    its knobs as one settings object (``settings=``), that object's class.
    The budgets of ``[constraints]`` and ``variation_options`` are keyword
    arguments of the settings class if there is one, else of the variation."""

    target: str
    settings: str | None = None

    @property
    def options_target(self) -> str:
        return self.settings or self.target


#: variation strategy name -> how to build it
VARIATIONS: Mapping[str, VariationEntry] = {
    "alphanas": VariationEntry("alphanas.variation.property_mutation:PropertyMutation", "alphanas.variation.property_mutation:MutationSettings"),
    "random_edit": VariationEntry("alphanas.variation.random_edit:RandomEdit"),
    "random_sample": VariationEntry("alphanas.variation.sampling:RandomSampler"),
}


def variation_entry(name: str) -> VariationEntry:
    """The registry entry of a strategy, or ``module:Class`` for one of the user's own."""
    return VARIATIONS.get(name) or VariationEntry(name)

#: evaluator kind -> ``module:Class``, imported only when used
EVALUATORS: Mapping[str, str] = {
    "analytic": "alphanas.evaluation.evaluator:AnalyticEvaluator",
    "training": "alphanas.evaluation.training:TrainingEvaluator",
    "nb201": "alphanas.evaluation.table:TableEvaluator",
}

#: what the analytic evaluator measures
_ANALYTIC_METRICS = ("params", "flops")

EXECUTOR_KINDS = ("serial", "process", "ray")


class ConfigError(AlphanasError):
    kind = "config error"


# -- the configuration ---------------------------------------------------------------------------------


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
    kind: str = "process"
    workers: int = 1
    address: str | None = None
    timeout_seconds: float | None = None
    threads_per_worker: int | None = None


@dataclass(frozen=True)
class EvaluatorConfig:
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
        program is already in its store (its file need not exist any more)."""
        return _Reader(source, text, base or Path.cwd(), resuming).config(data)


def load_config(path: str | Path) -> SearchConfig:
    """Read and validate a TOML search configuration."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}", hint="give the path of a .toml search config") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        loc = _decode_error_loc(str(err), str(path))
        message = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(err))
        raise ConfigError(f"invalid TOML: {message}", loc, text=text,
                          hint="see https://toml.io for the syntax") from None
    return SearchConfig.from_dict(data, str(path), text, path.resolve().parent)


def _decode_error_loc(message: str, file: str) -> Loc | None:
    m = re.search(r"at line (\d+), column (\d+)", message)
    return Loc(file, int(m.group(1)), int(m.group(2))) if m else None


def _drop_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list | tuple):
        return [_drop_none(x) for x in v]
    return v


# -- reading and checking -------------------------------------------------------------------------------


_TOP_KEYS = (
    "seed_program", "seed_params", "input_shape", "space", "objectives", "constraints", "strategy",
    "budget", "population", "executor", "evaluator", "seed", "run_dir", "tensorboard", "source",
)
_TABLE_KEYS: Mapping[str, tuple[str, ...]] = {
    "space": ("grammar", "rule", "graph"),
    "constraints": ("max_params", "max_flops"),
    "strategy": ("variation", "selection", "variation_options", "selection_options"),
    "budget": ("children", "wall_seconds", "max_variation_failures"),
    "executor": ("kind", "workers", "address", "timeout_seconds", "threads_per_worker"),
    "evaluator": ("kind", "options", "fidelity", "keep_checkpoints", "inherit_weights"),
}
_OBJECTIVE_KEYS = ("name", "direction", "best", "worst")
_FIDELITY_KEYS = ("epochs", "steps", "rung")


class _Reader:
    def __init__(self, source: str, text: str | None, base: Path, resuming: bool = False) -> None:
        self.source = source
        self.text = text
        self.base = base
        self.resuming = resuming

    # -- errors
    def error(self, message: str, path: Sequence[str], hint: str | None = None, needle: str | None = None) -> ConfigError:
        loc = _locate(self.text, tuple(path), needle, self.source) if self.text else None
        where = ".".join(path)
        if loc is None and where:
            message = f"{message} (key {where})"
        return ConfigError(message, loc, hint=hint, text=self.text)

    def unknown_keys(self, data: Mapping[str, Any], known: Sequence[str], path: Sequence[str]) -> None:
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                guess = f"did you mean {close[0]!r}? " if close else ""
                where = f"[{'.'.join(path)}]" if path else "the top level"
                raise self.error(f"unknown key {key!r} in {where}", (*path, key),
                                 hint=f"{guess}known keys: {', '.join(k for k in known if k != 'source')}")

    # -- typed getters
    def value(self, data: Mapping[str, Any], key: str, path: Sequence[str], kinds: tuple[type, ...],
              what: str, default: Any = None, required: bool = False) -> Any:
        if key not in data:
            if required:
                raise self.error(f"missing key {key!r}", path, hint=f"add {key} = <{what}>")
            return default
        v = data[key]
        if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, kinds):
            raise self.error(f"{'.'.join((*path, key))} must be {what}, got {_show(v)}", (*path, key))
        return v

    def number(self, data: Mapping[str, Any], key: str, path: Sequence[str], minimum: float,
               default: Any = None, integer: bool = False) -> Any:
        kinds: tuple[type, ...] = (int,) if integer else (int, float)
        what = "an integer" if integer else "a number"
        if key not in data:
            return default
        v = self.value(data, key, path, kinds, what)
        if not math.isfinite(v) or v < minimum:
            bound = f"at least {minimum:g}" if minimum > -math.inf else "finite"
            raise self.error(f"{'.'.join((*path, key))} = {v} is impossible: it must be {bound}", (*path, key))
        return v

    def table(self, data: Mapping[str, Any], key: str, path: Sequence[str]) -> dict[str, Any]:
        v = self.value(data, key, path, (dict,), "a table", {})
        return dict(v)

    # -- the whole configuration
    def config(self, data: Mapping[str, Any]) -> SearchConfig:
        self.unknown_keys(data, _TOP_KEYS, ())
        for name, keys in _TABLE_KEYS.items():
            self.unknown_keys(self.table(data, name, ()), keys, (name,))
        source = str(data.get("source", self.source))
        seed_program = self.value(data, "seed_program", (), (str,), "a string: a .arch path, zoo:NAME or "
                                  "torchvision:NAME", required=True)
        seed_program = self.program_spec(seed_program)
        seed_params = self.seed_params(data)
        input_shape = self.input_shape(data, seed_program)
        space = self.space(self.table(data, "space", ()))
        evaluator = self.evaluator(self.table(data, "evaluator", ()))
        objectives = self.objectives(data, evaluator)
        constraints = self.constraints(self.table(data, "constraints", ()))
        strategy = self.strategy(self.table(data, "strategy", ()), objectives, space)
        self.try_building(lambda: build_variation(strategy, constraints, space), ("strategy", "variation"))
        self.try_building(lambda: build_evaluator(evaluator), ("evaluator", "kind"))
        budget = self.budget(self.table(data, "budget", ()))
        executor = self.executor(self.table(data, "executor", ()))
        run_dir = self.value(data, "run_dir", (), (str,), "a path", required=True)
        return SearchConfig(
            seed_program=seed_program,
            run_dir=(self.base / run_dir).resolve(),
            objectives=objectives,
            seed_params=seed_params,
            input_shape=input_shape,
            space=space,
            constraints=constraints,
            strategy=strategy,
            budget=budget,
            population=self.number(data, "population", (), 1, 32, integer=True),
            executor=executor,
            evaluator=evaluator,
            seed=self.number(data, "seed", (), 0, 0, integer=True),
            tensorboard=self.tensorboard(data),
            source=source,
        )

    def space(self, t: dict[str, Any]) -> SpaceConfig | None:
        if not t:
            return None
        grammar = self.value(t, "grammar", ("space",), (str,), "the path of a .lark space grammar", required=True)
        path = (self.base / grammar).resolve()
        if not path.is_file():
            raise self.error(f"no such space grammar: {path}", ("space", "grammar"),
                             hint="the path is relative to the config file; grammars/spaces/ has examples")
        rule = self.value(t, "rule", ("space",), (str,), "the name of the grammar rule that derives the body",
                          required=True)
        graph = self.value(t, "graph", ("space",), (str,), "the name of a block (leave it out for the model)")
        config = SpaceConfig(str(path), rule, graph)
        from synth.grammar import SpaceError

        try:
            config.load()
        except SpaceError as err:
            raise self.error(f"space grammar {path.name}: {err.message}", ("space", "rule"), hint=err.hint) from None
        return config

    def tensorboard(self, data: Mapping[str, Any]) -> bool:
        """``tensorboard = true`` needs the package that writes event files;
        say so now rather than after the seed has trained."""
        on = self.value(data, "tensorboard", (), (bool,), "true or false", False)
        if on:
            from alphanas.search.tensorboard_log import tensorboard_missing

            missing = tensorboard_missing()
            if missing is not None:
                raise self.error(f"tensorboard = true needs the tensorboard package, which is not installed "
                                 f"({missing})", ("tensorboard",),
                                 hint="pip install 'alphanas[tensorboard]', or set tensorboard = false")
        return bool(on)

    def program_spec(self, spec: str) -> str:
        if spec.startswith(("zoo:", "torchvision:")):
            return spec
        path = (self.base / spec).resolve()
        if not path.is_file() and not self.resuming:
            raise self.error(f"seed program {spec!r}: no such file ({path})", ("seed_program",),
                             hint="give a .arch file (relative to the config's folder), zoo:NAME or torchvision:NAME")
        return str(path)

    def seed_params(self, data: Mapping[str, Any]) -> dict[str, int]:
        params = self.table(data, "seed_params", ())
        for k, v in params.items():
            if type(v) is not int or v < 1:
                raise self.error(f"seed_params.{k} must be a positive integer, got {_show(v)}", ("seed_params", k))
        return params

    def input_shape(self, data: Mapping[str, Any], spec: str) -> tuple[int, ...] | None:
        shape = self.value(data, "input_shape", (), (list,), "a list of positive integers like [3, 32, 32]")
        if shape is None:
            if spec.startswith("torchvision:"):
                raise self.error("a torchvision seed program needs input_shape", ("seed_program",),
                                 hint="add input_shape = [3, 224, 224] (per sample, no batch axis)")
            return None
        if not shape or any(type(d) is not int or d < 1 for d in shape):
            raise self.error(f"input_shape must be a list of positive integers, got {_show(shape)}", ("input_shape",))
        return tuple(shape)

    def evaluator(self, t: dict[str, Any]) -> EvaluatorConfig:
        path = ("evaluator",)
        kind = self.value(t, "kind", path, (str,), "a string", "analytic")
        if kind not in EVALUATORS and ":" not in kind:
            raise self.error(f"unknown evaluator kind {kind!r}", (*path, "kind"),
                             hint=_choices(kind, list(EVALUATORS), "or module:Class for your own"))
        options = self.check_kwargs(EVALUATORS.get(kind, kind), self.table(t, "options", path), (*path, "options"),
                                    f"evaluator {kind!r}")
        fid = self.table(t, "fidelity", path)
        self.unknown_keys(fid, _FIDELITY_KEYS, (*path, "fidelity"))
        fidelity = Fidelity(
            epochs=self.number(fid, "epochs", (*path, "fidelity"), 0),
            steps=self.number(fid, "steps", (*path, "fidelity"), 1, integer=True),
            rung=self.number(fid, "rung", (*path, "fidelity"), 0, 0, integer=True),
        )
        keep = self.value(t, "keep_checkpoints", path, (bool,), "true or false", False)
        inherit = self.value(t, "inherit_weights", path, (bool,), "true or false", False)
        if inherit and not keep:
            raise self.error("inherit_weights needs keep_checkpoints = true", (*path, "inherit_weights"),
                             hint="a child can only inherit weights its parent kept")
        return EvaluatorConfig(kind, options, fidelity, keep, inherit)

    def declared_metrics(self, evaluator: EvaluatorConfig) -> tuple[dict[str, str], tuple[str, ...] | None]:
        """Metric directions the evaluator declares beyond :data:`METRICS`
        (a class attribute ``metrics``, or a classmethod ``metrics_for``
        given the options when they decide it: a table evaluator's columns),
        and the names it is known to measure (None: not known)."""
        if evaluator.kind == "analytic":
            return {}, _ANALYTIC_METRICS
        cls = resolve_target(EVALUATORS.get(evaluator.kind, evaluator.kind))
        metrics_for = getattr(cls, "metrics_for", None)
        if callable(metrics_for):
            try:
                declared = dict(metrics_for(evaluator.options))
            except AlphanasError as err:
                raise self.error(f"evaluator {evaluator.kind!r}: {err.message}", ("evaluator", "options"),
                                 hint=err.hint) from None
            return declared, tuple(declared)
        declared = dict(getattr(cls, "metrics", {}) or {})
        return declared, tuple(declared) if declared else None

    def objectives(self, data: Mapping[str, Any], evaluator: EvaluatorConfig) -> tuple[ObjectiveSpec, ...]:
        items = self.value(data, "objectives", (), (list,), "a list of metric names or tables", required=True)
        if not items:
            raise self.error("objectives is empty", ("objectives",), hint='e.g. objectives = ["accuracy", "params"]')
        declared, measured = self.declared_metrics(evaluator)
        directions = {**METRICS, **declared}
        specs: list[ObjectiveSpec] = []
        for item in items:
            if isinstance(item, str):
                item = {"name": item}
            if not isinstance(item, dict):
                raise self.error(f"an objective must be a metric name or a table, got {_show(item)}", ("objectives",))
            self.unknown_keys(item, _OBJECTIVE_KEYS, ("objectives",))
            name = self.value(item, "name", ("objectives",), (str,), "a metric name", required=True)
            if name not in directions:
                raise self.error(f"unknown objective {name!r}", ("objectives",), needle=name,
                                 hint=_choices(name, list(measured or directions)))
            if measured is not None and name not in measured:
                raise self.error(f"evaluator {evaluator.kind!r} does not measure {name!r}", ("objectives",),
                                 needle=name, hint=f"it measures {', '.join(measured)}")
            direction = self.value(item, "direction", ("objectives",), (str,), '"max" or "min"', directions[name])
            if direction not in ("max", "min"):
                raise self.error(f'objective {name}: direction must be "max" or "min", got {direction!r}',
                                 ("objectives",), needle=direction)
            if direction != directions[name]:
                raise self.error(f"objective {name} is better when {directions[name]}imised, not {direction}imised",
                                 ("objectives",), needle=name, hint="leave out direction for a known metric")
            best = self.number(item, "best", ("objectives",), -math.inf)
            worst = self.number(item, "worst", ("objectives",), -math.inf)
            if any(s.name == name for s in specs):
                raise self.error(f"objective {name!r} is listed twice", ("objectives",), needle=name)
            specs.append(ObjectiveSpec(name, direction, best, worst))
        return tuple(specs)

    def strategy(self, t: dict[str, Any], objectives: Sequence[ObjectiveSpec], space: SpaceConfig | None = None
                 ) -> StrategyConfig:
        path = ("strategy",)
        variation = self.value(t, "variation", path, (str,), "a string", "alphanas")
        if variation not in VARIATIONS and ":" not in variation:
            raise self.error(f"unknown variation {variation!r}", (*path, "variation"),
                             hint=_choices(variation, list(VARIATIONS), "or module:Class for your own"))
        # inside a space every strategy is a SpaceMutation, which takes MutationSettings
        entry = variation_entry("alphanas" if space is not None and variation in SPACE_MODES else variation)
        if entry.settings is not None:
            try:
                resolve_target(entry.target)
            except ConfigError as err:
                raise self.error(err.message, (*path, "variation"), hint=err.hint) from None
        options = self.check_kwargs(entry.options_target, self.table(t, "variation_options", path),
                                    (*path, "variation_options"), f"variation {variation!r}", at=(*path, "variation"))
        selection = self.value(t, "selection", path, (str,), "a string", "pareto_weighted")
        if selection not in SELECTIONS:
            raise self.error(f"unknown selection {selection!r}", (*path, "selection"),
                             hint=_choices(selection, list(SELECTIONS)))
        sel = self.table(t, "selection_options", path)
        self.unknown_keys(sel, SELECTIONS[selection], (*path, "selection_options"))
        for key in sel:
            integer = key in ("tournament", "top_min", "first_objective_tournament")
            value = self.number(sel, key, (*path, "selection_options"), 1 if integer else 0, integer=integer)
            if key.endswith("_probability") and value > 1:
                raise self.error(f"{'.'.join((*path, 'selection_options', key))} = {value} is impossible: "
                                 "a probability is at most 1", (*path, "selection_options", key))
        if "min_accuracy" in sel and "accuracy" not in [o.name for o in objectives]:
            raise self.error("min_accuracy needs accuracy among the objectives",
                             (*path, "selection_options", "min_accuracy"))
        return StrategyConfig(variation, selection, options, sel)

    def try_building(self, build: Any, path: Sequence[str]) -> None:
        """Construct the variation or evaluator once, so that what its
        constructor rejects is reported now, at the config's line."""
        try:
            build()
        except AlphanasError as err:
            raise self.error(err.message, path, hint=err.hint) from None

    def check_kwargs(self, target: str, options: Mapping[str, Any], path: Sequence[str], what: str,
                     at: Sequence[str] | None = None) -> dict[str, Any]:
        """The class behind ``target`` takes these keyword arguments (nested
        tables checked against the dataclass their parameter is annotated
        with); the options with relative paths made absolute."""
        try:
            cls = resolve_target(target)
        except ConfigError as err:
            raise self.error(err.message, at or path[:-1], hint=err.hint) from None
        return self.check_options(cls, options, path, what)

    def check_options(self, cls: Any, options: Mapping[str, Any], path: Sequence[str], what: str) -> dict[str, Any]:
        names, hints, open_ended = _parameters(cls)
        out: dict[str, Any] = {}
        for key, value in options.items():
            if key not in names and not open_ended:
                close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
                guess = f"did you mean {close[0]!r}? " if close else ""
                raise self.error(f"{what} takes no option {key!r}", (*path, key),
                                 hint=f"{guess}its options: {', '.join(names) or '(none)'}")
            kind = hints.get(key)
            nested = _dataclass_in(kind)
            if isinstance(value, dict) and nested is not None:
                value = self.check_options(nested, value, (*path, key), f"{what} option {key!r}")
            elif isinstance(value, str) and _mentions(kind, Path):
                value = str((self.base / value).resolve())
            out[key] = value
        return out

    def constraints(self, t: dict[str, Any]) -> Constraints:
        path = ("constraints",)
        return Constraints(self.number(t, "max_params", path, 1), self.number(t, "max_flops", path, 1))

    def budget(self, t: dict[str, Any]) -> BudgetConfig:
        path = ("budget",)
        return BudgetConfig(
            children=self.number(t, "children", path, 1, 100, integer=True),
            wall_seconds=self.number(t, "wall_seconds", path, 1e-9),
            max_variation_failures=self.number(t, "max_variation_failures", path, 1, integer=True),
        )

    def executor(self, t: dict[str, Any]) -> ExecutorConfig:
        path = ("executor",)
        kind = self.value(t, "kind", path, (str,), "a string", "process")
        if kind not in EXECUTOR_KINDS:
            raise self.error(f"unknown executor kind {kind!r}", (*path, "kind"), hint=_choices(kind, EXECUTOR_KINDS))
        address = self.value(t, "address", path, (str,), "a string (a Ray address)")
        if address is not None and kind != "ray":
            raise self.error("address is for the ray executor only", (*path, "address"))
        if kind == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise self.error("executor kind 'ray' needs Ray, which is not installed", (*path, "kind"),
                                 hint="pip install 'alphanas[ray]', or use kind = \"process\"") from None
        workers = self.number(t, "workers", path, 1, 1, integer=True)
        if kind == "serial" and workers != 1:
            raise self.error("the serial executor runs one evaluation at a time", (*path, "workers"),
                             hint='use kind = "process" for more workers')
        return ExecutorConfig(
            kind=kind,
            workers=workers,
            address=address,
            timeout_seconds=self.number(t, "timeout_seconds", path, 1e-9),
            threads_per_worker=self.number(t, "threads_per_worker", path, 1, integer=True),
        )

    # -- checks that need the seed program
    def check_seed(self, config: SearchConfig, program: Program) -> None:
        from alphanas.lang.analysis import analyze

        if config.space is not None:
            from synth.grammar import SpaceError

            try:
                config.space.load().derive(program)
            except SpaceError as err:
                where = f" (at {err.loc.line}:{err.loc.column} of the printed program)" if err.loc else ""
                raise self.error(f"the seed program is not in the space: {err.message}{where}", ("space", "rule"),
                                 hint="write the seed's body as the grammar derives it, in canonical form "
                                 "(`alphanas format` prints it)") from None

        total = analyze(program).total
        for key, value, limit in (
            ("max_params", total.params, config.constraints.max_params),
            ("max_flops", total.flops, config.constraints.max_flops),
        ):
            if limit is not None and value > limit:
                raise self.error(
                    f"the seed program already breaks the budget: {key.removeprefix('max_')} {value:,} > "
                    f"{key} {limit:,.0f}",
                    ("constraints", key),
                    hint=f"raise {key} to at least {value:,}, or start from a smaller seed program",
                )


def resolve_target(target: str) -> Any:
    """The object named by ``module:attribute``; a :class:`ConfigError`
    saying what is missing otherwise."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{target!r} is not of the form module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{target} is not available: cannot import {module_name} ({err})",
                          hint="is it installed, or written yet? choose another one") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{target} is not available: {module_name} has no {attr}") from None


def build_evaluator(evaluator: EvaluatorConfig) -> Any:
    """The configured evaluator, its class imported by name and given
    ``[evaluator.options]``; a :class:`ConfigError` if it refuses them."""
    name = evaluator.kind
    cls = resolve_target(EVALUATORS.get(name, name))
    try:
        return instantiate(cls, evaluator.options)
    except AlphanasError as err:
        raise ConfigError(f"evaluator {name!r}: {err.message}", hint=err.hint) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"evaluator {name!r}: {err}", hint="check [evaluator.options]") from None


#: inside a space, the strategies keep their meaning (:class:`alphanas.variation.space.SpaceMutation`)
SPACE_MODES: Mapping[str, str] = {"alphanas": "guided", "random_edit": "edit", "random_sample": "sample"}


def build_variation(strategy: StrategyConfig, constraints: Constraints, space: SpaceConfig | None = None) -> Any:
    """The configured variation, given the budgets of ``[constraints]``
    (as ``max_params=``/``max_flops=``) and ``variation_options``, either
    directly or through its settings class (:class:`VariationEntry`).
    With a ``[space]``, the strategy's mutation stays inside it."""
    name = strategy.variation
    if space is not None:
        return _space_variation(strategy, constraints, space)
    entry = variation_entry(name)
    cls = resolve_target(entry.target)
    options_cls = resolve_target(entry.options_target)
    budgets = constraints.as_kwargs()
    names, _, open_ended = _parameters(options_cls)
    missing = [k for k in budgets if k not in names and not open_ended]
    if missing:
        raise ConfigError(f"variation {name!r} does not take the budget {', '.join(missing)}",
                          hint="remove it from [constraints], or use a variation that solves for budgets")
    try:
        if entry.settings is None:
            return instantiate(cls, {**budgets, **strategy.variation_options})
        return cls(settings=instantiate(options_cls, {**budgets, **strategy.variation_options}))
    except AlphanasError as err:
        raise ConfigError(f"variation {name!r}: {err.message}", hint=err.hint) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"variation {name!r}: {err}", hint="check [strategy] variation_options") from None


def _space_variation(strategy: StrategyConfig, constraints: Constraints, space: SpaceConfig) -> Any:
    from alphanas.variation.property_mutation import MutationSettings
    from alphanas.variation.space import SpaceMutation

    name = strategy.variation
    if name not in SPACE_MODES:
        raise ConfigError(f"variation {name!r} cannot search a [space]",
                          hint=f"inside a space use one of {', '.join(SPACE_MODES)}")
    try:
        settings = instantiate(MutationSettings, {**constraints.as_kwargs(), **strategy.variation_options})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"variation {name!r}: {err}", hint="check [strategy] variation_options") from None
    return SpaceMutation(space.load(), SPACE_MODES[name], settings, name=name)  # type: ignore[arg-type]


def instantiate(cls: Any, options: Mapping[str, Any]) -> Any:
    """``cls(**options)``, where a nested table becomes the dataclass its
    parameter is annotated with (``TrainingEvaluator(data=DataSpec(...))``),
    a string a :class:`~pathlib.Path` where the annotation says so, and a
    list a tuple where a tuple is expected: TOML has only tables, strings and
    arrays."""
    _, hints, _ = _parameters(cls)
    return cls(**{k: _coerce(hints.get(k), v) for k, v in options.items()})


def _coerce(kind: Any, value: Any) -> Any:
    nested = _dataclass_in(kind)
    if isinstance(value, dict) and nested is not None:
        return instantiate(nested, value)
    if isinstance(value, str) and _mentions(kind, Path):
        return Path(value)
    if isinstance(value, list) and _mentions(kind, tuple):
        return tuple(value)
    return value


def _parameters(cls: Any) -> tuple[list[str], dict[str, Any], bool]:
    """The keyword parameters of a class's constructor, their resolved
    annotations, and whether it takes any keyword (``**kwargs``)."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return [], {}, True
    params = sig.parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    try:
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else typing.get_type_hints(cls.__init__)
    except Exception:  # annotations that do not resolve: no coercion, the options go as they are
        hints = {}
    return names, hints, open_ended


def _dataclass_in(kind: Any) -> type | None:
    """The dataclass an annotation names (also inside ``X | None``)."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return kind
    for arg in typing.get_args(kind):
        if isinstance(arg, type) and dataclasses.is_dataclass(arg):
            return arg
    return None


def _mentions(kind: Any, target: type) -> bool:
    if kind is target or typing.get_origin(kind) is target:
        return True
    return any(_mentions(arg, target) for arg in typing.get_args(kind))


def load_seed_program(config: SearchConfig, text: str | None = None) -> Program:
    """The seed program the configuration names, checked against the budgets."""
    from alphanas import zoo
    from alphanas.lang.parse import parse_file

    reader = _Reader(config.source, text if text is not None else _read(config.source), Path.cwd())
    spec = config.seed_program
    try:
        if spec.startswith("zoo:"):
            program = zoo.load(spec[4:], **config.seed_params)
        elif spec.startswith("torchvision:"):
            from alphanas.pytorch.fx import import_model

            assert config.input_shape is not None
            program = import_model(spec, config.input_shape).program
        else:
            program = parse_file(spec)
        if config.seed_params and not spec.startswith("zoo:"):
            program = program.with_model_params(**config.seed_params)
        if config.input_shape is not None and not spec.startswith("torchvision:"):
            program = program.with_input_shapes(config.input_shape)
    except AlphanasError as err:
        raise reader.error(f"seed program {spec}: {err.message}", ("seed_program",), hint=err.hint) from None
    except (KeyError, ValueError) as err:
        raise reader.error(f"seed program {spec}: {err}", ("seed_params",)) from None
    try:
        reader.check_seed(config, program)
    except AlphanasError as err:
        if isinstance(err, ConfigError):
            raise
        raise reader.error(f"seed program {spec}: {err.message}", ("seed_program",), hint=err.hint) from None
    return program


def _read(source: str) -> str | None:
    try:
        return Path(source).read_text()
    except OSError:
        return None


# -- helpers --------------------------------------------------------------------------------------------


def _show(v: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(v), type(v).__name__)
    return f"{kind} ({v!r})" if not isinstance(v, dict | list) else kind


def _choices(name: str, known: Sequence[str], extra: str = "") -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"{guess}known: {', '.join(known)}" + (f" ({extra})" if extra else "")


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _key_pattern(key: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])[\"']?" + re.escape(key) + r"[\"']?\s*=")


def _locate(text: str | None, path: tuple[str, ...], needle: str | None, file: str) -> Loc | None:
    """Where in the TOML text the key ``path`` (table names, then the key)
    is written: under its table's header, inside an inline table, or as a
    dotted key; then, if ``needle`` is given, where that word follows it."""
    if not text or not path:
        return None
    lines = text.split("\n")
    hit = _find_key(lines, path)
    if hit is None:
        return None
    row, col = hit
    if needle is not None:
        quoted = re.compile(r"[\"']" + re.escape(needle) + r"[\"']")
        for r in range(row, min(len(lines), row + 50)):
            m = quoted.search(lines[r], col if r == row else 0)
            if m:
                return Loc(file, r + 1, m.start() + 1, r + 1, m.end() + 1)
    return Loc(file, row + 1, col + 1, row + 1, col + 1 + len(path[-1]))


def _find_key(lines: list[str], path: tuple[str, ...]) -> tuple[int, int] | None:
    """(line index, column) of the key ``path`` in the TOML lines."""
    for split in range(len(path) - 1, -1, -1):
        table, rest = path[:split], path[split:]
        found = _find_in_table(lines, table, rest)
        if found is not None:
            return found
    return None


def _find_in_table(lines: list[str], table: tuple[str, ...], rest: tuple[str, ...]) -> tuple[int, int] | None:
    current: tuple[str, ...] = ()
    first = _key_pattern(rest[0])
    dotted = re.compile(r"^\s*" + r"\s*\.\s*".join(re.escape(k) for k in rest) + r"\s*=") if len(rest) > 1 else None
    for row, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            current = tuple(part.strip().strip("\"'") for part in m.group(1).split("."))
            continue
        if current != table:
            continue
        if dotted is not None and dotted.match(line):
            return row, len(line) - len(line.lstrip())
        km = first.search(line)
        if km is None or (len(rest) == 1 and line[: km.start()].strip() and "{" not in line[: km.start()]):
            continue
        # the first key is here; a nested key should follow it in an inline table
        col = km.start() + (1 if line[km.start()] in "\"'" else 0)
        for key in rest[1:]:
            nested = _key_pattern(key).search(line, km.end())
            if nested is None:
                return row, col
            km = nested
            col = nested.start()
        return row, col
    return None
