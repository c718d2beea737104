"""Building what a search configuration names: the seed program and the
plug-ins, each from its registry.

- the variation: :data:`alphanas.variation.base.VARIATIONS`, through
  :func:`alphanas.variation.build.build_variation` (which knows how a
  built-in variation acts inside a grammar space), given ``variation_options``
  and the budgets of ``[constraints]``;
- the selection: :data:`alphanas.search.selection.SELECTIONS`, given
  ``selection_options``;
- the evaluator: :data:`alphanas.evaluation.evaluator.EVALUATORS`, given
  ``[evaluator.options]``;
- the executor: :data:`alphanas.evaluation.executors.EXECUTORS`, given the
  ``[executor]`` table's keys besides ``kind``.

What a plug-in refuses (an unknown name, an option it does not take, a value
its settings reject, a budget it cannot keep) is a :class:`ConfigError` at
the line of the configuration's key. :func:`check_plugins` builds each of
them once when a configuration is read, so that this happens before any
work starts.
"""

from __future__ import annotations

from pathlib import Path

from alphanas.evaluation.evaluator import EVALUATORS, Evaluator
from alphanas.evaluation.executors import EXECUTORS, Executor
from alphanas.evaluation.pareto import ReferenceBox
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.registry import Entry, PluginError, instantiate
from alphanas.search.config.reading import Reader
from alphanas.search.config.schema import ConfigError, EvaluatorConfig, SearchConfig
from alphanas.search.selection import SELECTIONS, Selection
from alphanas.variation.base import Variation

__all__ = [
    "build_evaluator",
    "build_executor",
    "build_selection",
    "build_variation",
    "check_plugins",
    "load_seed_program",
]


def build_variation(config: SearchConfig, *, at: Reader | None = None) -> Variation:
    """The configured variation, given the budgets of ``[constraints]`` (as
    ``max_params``/``max_flops``) and ``variation_options``; inside the
    ``[space]`` when there is one. Errors are located by ``at`` (default:
    in the file the configuration was read from)."""
    from alphanas.variation.build import build_variation as build
    from alphanas.variation.build import variation_entry

    strategy, space = config.strategy, config.space
    name = strategy.variation
    where = ("strategy", "variation")
    try:
        entry = variation_entry(name, space is not None)
    except PluginError as err:
        raise _reader(config, at).error(err.message, where, hint=err.hint) from None
    budgets = config.constraints.as_kwargs()
    names, open_ended = entry.option_names()
    missing = [k for k in budgets if k not in names and not open_ended]
    if missing:
        raise _reader(config, at).error(
            f"variation {name!r} does not take the budget {', '.join(missing)}", where,
            hint="remove it from [constraints], or use a variation that solves for budgets")
    try:
        return build(name, {**budgets, **strategy.variation_options}, space.load() if space is not None else None)
    except PluginError as err:
        raise _reader(config, at).plugin_error(err, "variation", where, strategy.variation_options,
                                               ("strategy", "variation_options"),
                                               hint="check [strategy] variation_options") from None


def build_evaluator(evaluator: EvaluatorConfig | SearchConfig, *, at: Reader | None = None) -> Evaluator:
    """The configured evaluator, given ``[evaluator.options]`` as its
    constructor's keyword arguments (nested tables as the dataclasses they
    are annotated with). Given the whole configuration, errors point at its
    file; given only its ``[evaluator]``, they name the key."""
    config = evaluator if isinstance(evaluator, SearchConfig) else None
    table = config.evaluator if config is not None else evaluator
    assert isinstance(table, EvaluatorConfig)
    where = ("evaluator", "kind")
    try:
        entry = EVALUATORS.get(table.kind)
    except PluginError as err:
        raise _reader(config, at).error(err.message, where, hint=err.hint) from None
    options = dict(table.options)
    if config is not None and config.seed_weights is not None:
        options["seed_weights"] = _seed_weights(config, entry, at)
    try:
        return entry.build(options)
    except PluginError as err:
        # located at the kind, as the options are the constructor's own to judge
        raise _reader(config, at).plugin_error(err, "evaluator", where, {}, (),
                                               hint="check [evaluator.options]") from None


def _seed_weights(config: SearchConfig, entry: Entry[Evaluator], at: Reader | None) -> dict[str, object]:
    """What the evaluator needs to start the seed from ``seed_weights``:
    the file, the seed program's fingerprint, and (for an imported seed) how
    to map a state_dict of the original module."""
    from alphanas.evaluation.inheritance import program_fingerprint

    names, open_ended = entry.option_names()
    if "seed_weights" not in names and not open_ended:
        raise _reader(config, at).error(f"evaluator {entry.name!r} does not take seed_weights", ("seed_weights",),
                                        hint='use kind = "training", or remove seed_weights')
    imported = config.seed_program.startswith("torchvision:")
    return {
        "path": config.seed_weights,
        "program": program_fingerprint(load_seed_program(config)),
        "source": config.seed_program if imported else None,
        "input_shape": list(config.input_shape) if imported and config.input_shape else None,
        "classes": _classes(config) if imported else None,
    }


def _classes(config: SearchConfig) -> int | None:
    """The class count the config asks for (``classes``, or ``seed_params.classes``)."""
    return config.classes if config.classes is not None else config.seed_params.get("classes")


def build_selection(config: SearchConfig, box: ReferenceBox, *, at: Reader | None = None) -> Selection:
    """The configured selection for the configuration's objectives and
    population, normalising by ``box``, given ``selection_options``."""
    strategy = config.strategy
    where = ("strategy", "selection")
    try:
        entry = SELECTIONS.get(strategy.selection)
    except PluginError as err:
        raise _reader(config, at).error(err.message, where, hint=err.hint) from None
    try:
        return entry.build(strategy.selection_options, config.objective_list, config.population, box)
    except PluginError as err:
        raise _reader(config, at).plugin_error(err, "selection", where, strategy.selection_options,
                                               ("strategy", "selection_options")) from None


def build_executor(config: SearchConfig, evaluator: Evaluator, *, at: Reader | None = None) -> Executor:
    """The configured executor running ``evaluator``, its settings the
    ``[executor]`` table's keys besides ``kind``."""
    entry = _executor_entry(config, at)
    try:
        return entry.build(config.executor.options(), evaluator)
    except PluginError as err:
        raise _executor_error(err, config, at) from None


def check_plugins(config: SearchConfig, at: Reader) -> None:
    """Build the variation, the evaluator and the selection once, and the
    executor's settings (the executor itself would start workers), so that
    what any of them refuses is reported at its key now."""
    build_variation(config, at=at)
    build_evaluator(config, at=at)
    build_selection(config, _unit_box(config), at=at)
    entry = _executor_entry(config, at)
    if entry.settings is None:
        return
    try:
        instantiate(entry.settings, config.executor.options())
    except AlphanasError as err:
        raise _executor_error(PluginError(f"{entry.name}: {err.message}", hint=err.hint), config, at) from None
    except (TypeError, ValueError) as err:
        raise _executor_error(PluginError(f"{entry.name}: {err}"), config, at) from None


def _reader(config: SearchConfig | None, at: Reader | None) -> Reader:
    """Where errors are located: ``at``, else the file the configuration
    was read from, else nowhere (the message names the key)."""
    if at is not None:
        return at
    return Reader.of(config) if config is not None else Reader("<config>", None, Path.cwd())


def _executor_entry(config: SearchConfig, at: Reader | None) -> Entry[Executor]:
    try:
        return EXECUTORS.get(config.executor.kind)
    except PluginError as err:
        raise _reader(config, at).error(err.message, ("executor", "kind"), hint=err.hint) from None


def _executor_error(err: PluginError, config: SearchConfig, at: Reader | None) -> ConfigError:
    return _reader(config, at).plugin_error(err, "executor", ("executor", "kind"), config.executor.options(),
                                            ("executor",))


def _unit_box(config: SearchConfig) -> ReferenceBox:
    """A reference box for building the selection before the seed is
    measured (the real box comes from the seed's metrics)."""
    objectives = config.objective_list
    return ReferenceBox(objectives, tuple(1.0 if o.direction == "max" else 0.0 for o in objectives),
                        tuple(0.0 if o.direction == "max" else 1.0 for o in objectives))


# -- the seed program -----------------------------------------------------------------------------------


def _where(err: AlphanasError, spec: str) -> str:
    """Where the seed's own error is: its file, line and column when known."""
    return str(err.loc) if err.loc is not None and err.loc.file not in ("<string>", "") else spec


def load_seed_program(config: SearchConfig, text: str | None = None) -> Program:
    """The seed program the configuration names, checked against the
    ``[space]`` and the budgets."""
    from alphanas import zoo
    from alphanas.lang.parse import parse_file

    reader = Reader.of(config, text)
    spec = config.seed_program
    try:
        if spec.startswith("zoo:"):
            program = zoo.load(spec[4:], **config.seed_params)
        elif spec.startswith("torchvision:"):
            from alphanas.pytorch.fx import import_model

            assert config.input_shape is not None
            program = import_model(spec, config.input_shape, classes=_classes(config)).program
        else:
            program = parse_file(spec)
        if config.seed_params and not spec.startswith("zoo:"):
            program = program.with_model_params(**config.seed_params)
        if config.classes is not None:
            program = program.with_model_params(classes=config.classes)
        if config.input_shape is not None and not spec.startswith("torchvision:"):
            program = program.with_input_shapes(config.input_shape)
    except AlphanasError as err:
        raise reader.error(f"seed program {_where(err, spec)}: {err.message}", ("seed_program",), hint=err.hint) from None
    except (KeyError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err  # KeyError's str() adds quotes
        raise reader.error(f"seed program {spec}: {message}", ("seed_params",)) from None
    try:
        check_seed(config, program, reader)
    except AlphanasError as err:
        if isinstance(err, ConfigError):
            raise
        raise reader.error(f"seed program {_where(err, spec)}: {err.message}", ("seed_program",), hint=err.hint) from None
    return program


def check_seed(config: SearchConfig, program: Program, at: Reader) -> None:
    """The seed program is in the ``[space]`` and keeps the budgets of
    ``[constraints]``; a :class:`ConfigError` located by ``at`` otherwise."""
    from alphanas.lang.analysis import analyze

    if config.space is not None:
        from synth.grammar import SpaceError

        try:
            config.space.load().derive(program)
        except SpaceError as err:
            where = f" (at {err.loc.line}:{err.loc.column} of the printed program)" if err.loc else ""
            raise at.error(f"the seed program is not in the space: {err.message}{where}", ("space", "rule"),
                           hint="write the seed's body as the grammar derives it, in canonical form "
                           "(`alphanas format` prints it)") from None

    total = analyze(program).total
    for key, value, limit in (
        ("max_params", total.params, config.constraints.max_params),
        ("max_flops", total.flops, config.constraints.max_flops),
    ):
        if limit is not None and value > limit:
            raise at.error(
                f"the seed program already breaks the budget: {key.removeprefix('max_')} {value:,} > "
                f"{key} {limit:,.0f}",
                ("constraints", key),
                hint=f"raise {key} to at least {value:,}, or start from a smaller seed program",
            )
