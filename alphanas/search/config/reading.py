"""Reading a search configuration: TOML to :mod:`~alphanas.search.config.schema`
values, every mistake located at the file, line and column of its key.

The reader checks the configuration's own format (known keys, types,
ranges, objectives the evaluator measures) and asks the plug-in registries
what they know: a plug-in's name (unknown: the closest known one), the
options it takes (an option it does not take, with its options listed; a
nested table checked against the dataclass its option is annotated with; a
relative path made relative to the config's folder). The values of the
options are the plug-ins' own to check: :mod:`~alphanas.search.config.building`
builds each plug-in once and reports what it refuses at the key it names.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alphanas.evaluation.evaluator import EVALUATORS, METRICS, Fidelity
from alphanas.evaluation.executors import EXECUTORS
from alphanas.lang.errors import AlphanasError
from alphanas.lang.files import check_folder, folder_problem, read_text
from alphanas.lang.ir import Loc
from alphanas.lang.limits import LARGEST_INT
from alphanas.registry import Entry, PluginError, Registry, dataclass_in, mentions, parameters
from alphanas.search.config.schema import (
    BudgetConfig,
    ConfigError,
    Constraints,
    EvaluatorConfig,
    ExecutorConfig,
    ObjectiveSpec,
    SearchConfig,
    SpaceConfig,
    StrategyConfig,
)
from alphanas.search.selection import SELECTIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Reader", "load_config", "tomllib"]


def load_config(path: str | Path, run_dir: str | Path | None = None) -> SearchConfig:
    """Read and validate a TOML search configuration; ``run_dir``, if
    given, replaces the configuration's (``alphanas search --run-dir``)."""
    path = Path(path)
    if run_dir is not None:
        run_dir = check_folder(Path(run_dir).resolve(), "run folder (--run-dir)", error=ConfigError)
    text = read_text(path, "search config", error=ConfigError, hint="give the path of a .toml search config")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        loc = _decode_error_loc(str(err), str(path), text)
        message = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(err))
        raise ConfigError(f"invalid TOML: {message}", loc, text=text,
                          hint="see https://toml.io for the syntax") from None
    except RecursionError:
        raise ConfigError("the TOML is nested too deeply to read", Loc(str(path), 1, 1),
                          hint="see https://toml.io for the syntax") from None
    beyond = _beyond_int64(data, ())
    if beyond is not None:  # TOML's integers are 64-bit; tomllib reads any size
        raise Reader(str(path), text, path.resolve().parent).error(
            f"{'.'.join(beyond)} holds an integer beyond the 64-bit integers TOML allows", beyond,
            hint=f"integers are at most {LARGEST_INT:,}")
    if run_dir is not None:
        data["run_dir"] = str(run_dir)
    return SearchConfig.from_dict(data, str(path), text, path.resolve().parent)


def _beyond_int64(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The key of the first integer outside the 64-bit range, if any."""
    if isinstance(value, dict):
        for key, v in value.items():
            if (found := _beyond_int64(v, (*path, str(key)))) is not None:
                return found
    elif isinstance(value, list):
        for v in value:
            if (found := _beyond_int64(v, path)) is not None:
                return found
    elif isinstance(value, int) and not -LARGEST_INT - 1 <= value <= LARGEST_INT:
        return path
    return None


def _decode_error_loc(message: str, file: str, text: str = "") -> Loc | None:
    m = re.search(r"at line (\d+), column (\d+)", message)
    if m:
        return Loc(file, int(m.group(1)), int(m.group(2)))
    if "end of document" in message:
        lines = text.split("\n")
        return Loc(file, len(lines), len(lines[-1]) + 1)
    return None


# -- reading and checking -------------------------------------------------------------------------------


_TOP_KEYS = (
    "seed_program", "seed_params", "input_shape", "space", "objectives", "constraints", "strategy",
    "budget", "population", "executor", "evaluator", "seed", "run_dir", "tensorboard", "source",
    "classes", "seed_weights",
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


class Reader:
    """Reads one configuration's data; ``text`` (the TOML it came from, if
    known) lets every error point at its key."""

    def __init__(self, source: str, text: str | None, base: Path, resuming: bool = False) -> None:
        self.source = source
        self.text = text
        self.base = base
        self.resuming = resuming

    @classmethod
    def of(cls, config: SearchConfig, text: str | None = None) -> Reader:
        """A reader that locates errors in the file ``config`` was read from
        (``text``, or the file as it is now, if it can be read)."""
        return cls(config.source, text if text is not None else _read(config.source), Path.cwd())

    # -- errors
    def error(self, message: str, path: Sequence[str], hint: str | None = None, needle: str | None = None) -> ConfigError:
        """A :class:`ConfigError` at the key ``path`` (table names, then the
        key; at the word ``needle`` after it, if given)."""
        loc = _locate(self.text, tuple(path), needle, self.source) if self.text else None
        where = ".".join(path)
        if loc is None and where:
            message = f"{message} (key {where})"
        if loc is None and self.text is not None and not self.source.startswith("<"):
            message = f"{message} in {self.source}"  # a key the file does not have: the file, at least
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
        strategy = self.strategy(self.table(data, "strategy", ()), space)
        budget = self.budget(self.table(data, "budget", ()))
        executor = self.executor(self.table(data, "executor", ()))
        run_dir = self.run_dir(self.value(data, "run_dir", (), (str,), "a path", required=True))
        return SearchConfig(
            seed_program=seed_program,
            run_dir=run_dir,
            objectives=objectives,
            seed_params=seed_params,
            input_shape=input_shape,
            classes=self.number(data, "classes", (), 1, None, integer=True),
            seed_weights=self.seed_weights(data),
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

    def run_dir(self, spec: str) -> Path:
        """The run folder: one that can be created and written (checked
        without creating it), unless a stored run is being resumed."""
        path = (self.base / spec).resolve()
        problem = None if self.resuming else folder_problem(path)
        if problem is not None:
            raise self.error(f"run_dir {spec!r} cannot be the run folder: {problem[0]}", ("run_dir",),
                             hint=f"{problem[1]} (a relative path is relative to the config's folder)")
        return path

    def seed_params(self, data: Mapping[str, Any]) -> dict[str, int]:
        params = self.table(data, "seed_params", ())
        for k, v in params.items():
            if type(v) is not int or v < 1:
                raise self.error(f"seed_params.{k} must be a positive integer, got {_show(v)}", ("seed_params", k))
        return params

    def seed_weights(self, data: Mapping[str, Any]) -> str | None:
        """``seed_weights``: a file (relative to the config's folder) that
        exists, unless a stored run is being resumed."""
        spec = self.value(data, "seed_weights", (), (str,), "the path of a state_dict file (.pt)")
        if spec is None:
            return None
        path = (self.base / spec).resolve()
        if not path.is_file() and not self.resuming:
            raise self.error(f"seed_weights {spec!r}: no such file ({path})", ("seed_weights",),
                             hint="the path is relative to the config file")
        return str(path)

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

    # -- plug-ins: the registries say what exists and which options it takes
    def entry(self, registry: Registry[Any], name: str, path: Sequence[str]) -> Entry[Any]:
        """The registry's entry for ``name`` (registered, or ``module:Class``),
        or an error at ``path`` saying what is known."""
        try:
            return registry.get(name)
        except PluginError as err:
            raise self.error(err.message, path, hint=err.hint) from None

    def check_options(self, cls: Any, options: Mapping[str, Any], path: Sequence[str], what: str) -> dict[str, Any]:
        """``cls`` (a plug-in's settings dataclass, or its class) takes these
        options, nested tables checked against the dataclass their option
        is annotated with; the options with relative paths made absolute."""
        names, hints, open_ended = parameters(cls)
        out: dict[str, Any] = {}
        for key, value in options.items():
            if key not in names and not open_ended:
                close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
                guess = f"did you mean {close[0]!r}? " if close else ""
                raise self.error(f"{what} takes no option {key!r}", (*path, key),
                                 hint=f"{guess}its options: {', '.join(names) or '(none)'}")
            kind = hints.get(key)
            nested = dataclass_in(kind)
            if isinstance(value, dict) and nested is not None:
                value = self.check_options(nested, value, (*path, key), f"{what} option {key!r}")
            elif isinstance(value, str) and mentions(kind, Path):
                value = str((self.base / value).resolve())
            out[key] = value
        return out

    def plugin_error(self, err: AlphanasError, what: str, at: Sequence[str], options: Mapping[str, Any],
                     options_path: Sequence[str], hint: str | None = None) -> ConfigError:
        """What a plug-in refused when it was built (its settings rejected a
        value, its constructor raised): at the option its message names
        first, else at ``at``."""
        key = blamed_option(err.message, options)
        path = (*options_path, key) if key is not None else tuple(at)
        if self.text and _locate(self.text, path, None, self.source) is None:
            path = tuple(at)  # an option the file does not write (a default): at the plug-in's name
        return self.error(f"{what} {err.message}", path, hint=err.hint or hint)

    def evaluator(self, t: dict[str, Any]) -> EvaluatorConfig:
        path = ("evaluator",)
        kind = self.value(t, "kind", path, (str,), "a string", "analytic")
        entry = self.entry(EVALUATORS, kind, (*path, "kind"))
        options = self.check_options(entry.options_class, self.table(t, "options", path), (*path, "options"),
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
        cls = self.entry(EVALUATORS, evaluator.kind, ("evaluator", "kind")).cls
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

    def strategy(self, t: dict[str, Any], space: SpaceConfig | None = None) -> StrategyConfig:
        from alphanas.variation.build import variation_entry

        path = ("strategy",)
        variation = self.value(t, "variation", path, (str,), "a string", "alphanas")
        try:  # inside a space, a built-in variation takes the settings of its space form
            entry = variation_entry(variation, space is not None)
        except PluginError as err:
            raise self.error(err.message, (*path, "variation"), hint=err.hint) from None
        options = self.check_options(entry.options_class, self.table(t, "variation_options", path),
                                     (*path, "variation_options"), f"variation {variation!r}")
        selection = self.value(t, "selection", path, (str,), "a string", "pareto_weighted")
        chosen = self.entry(SELECTIONS, selection, (*path, "selection"))
        sel = self.check_options(chosen.options_class, self.table(t, "selection_options", path),
                                 (*path, "selection_options"), f"selection {selection!r}")
        return StrategyConfig(variation, selection, options, sel)

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
        """``[executor]``: the table's own format here; whether the executor
        takes these keys, and these values, is its settings' to say."""
        path = ("executor",)
        kind = self.value(t, "kind", path, (str,), "a string", "process")
        entry = self.entry(EXECUTORS, kind, (*path, "kind"))
        config = ExecutorConfig(
            kind=kind,
            workers=self.number(t, "workers", path, 1, 1, integer=True),
            address=self.value(t, "address", path, (str,), "a string (a Ray address)"),
            timeout_seconds=self.number(t, "timeout_seconds", path, 1e-9),
            threads_per_worker=self.number(t, "threads_per_worker", path, 1, integer=True),
        )
        options = config.options()
        self.check_options(entry.options_class, {k: v for k, v in options.items() if k in t}, path,
                           f"executor {kind!r}")
        names, open_ended = entry.option_names()
        for key in options:  # given without being written: workers (1 by default)
            if key not in names and not open_ended:
                raise self.error(f"executor {kind!r} takes no option {key!r}, which [executor] always gives",
                                 (*path, "kind"), hint=f"its settings need a field {key}; its options: "
                                 f"{', '.join(names) or '(none)'}")
        return config


def blamed_option(message: str, options: Mapping[str, Any]) -> str | None:
    """The option a plug-in's message names first (as a whole word), if any."""
    found = [(m.start(), key) for key in options
             if (m := re.search(r"(?<![\w])" + re.escape(key) + r"(?![\w])", message))]
    return min(found)[1] if found else None


def _read(source: str) -> str | None:
    try:
        return read_text(source, "search config")
    except AlphanasError:
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

