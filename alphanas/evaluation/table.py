"""Scoring by table lookup: benchmarks that measured every architecture of a space.

A benchmark table holds one row per architecture, keyed by an architecture
string, with measured metrics in named columns. Two file forms are read:

- CSV: a header, a key column (``arch`` unless told) and metric columns;
- JSON: an object of key -> record (``{"02012100": {"mean_acc": 89.2,
  "params": 890666, ...}}``, NAS-Bench-Macro's form), or a list of records
  each holding the key column.

The metric columns and their directions are either declared (``columns =
{mean_acc = "max", params = "min"}``) or read from the column names:
``*_acc`` columns are accuracies in percent (better high), ``latency_ms_*``
latencies in milliseconds (better low), and the names of
:data:`alphanas.evaluation.evaluator.METRICS` (``params``, ``flops``) keep
their meaning; other columns (an index, lists of per-seed values, standard
deviations) are carried but not reported.

A program is scored through a *key*: a declared mapping from the program to
the table's key (:data:`TABLE_KEYS`: ``nb201`` reads NAS-Bench-201's arch
string from the block ``cell``, ``nbmacro`` NAS-Bench-Macro's eight digits
from the model's layers; ``module:Class`` names one of your own). A key
checks that the program is exactly the benchmark's network, since the table
measured that network only.

:class:`TableEvaluator` (``[evaluator] kind = "table"``) implements
:class:`~alphanas.evaluation.evaluator.Evaluator` for any table; ``nb201``
is the same evaluator with NAS-Bench-201's key. It reports the row's metric
columns plus the parameters and FLOPs of alphanas's own analysis (a table
column named ``params`` or ``flops`` is reported as ``table_params``,
``table_flops``). :func:`true_front` is the Pareto front of the whole table
for an accuracy and a cost column, the reference a search's front is
measured against.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from alphanas.benchmarks import nbmacro
from alphanas.benchmarks.nb201 import CELL_BLOCK, NB201Error, arch_of, network
from alphanas.evaluation.evaluator import (
    EVALUATORS,
    EvalContext,
    Evaluation,
    Fidelity,
    analytic_metrics,
    failed,
    metric_direction,
)
from alphanas.evaluation.pareto import Direction, Objective, ReferenceBox, hypervolume
from alphanas.lang.canonical import program_hash
from alphanas.lang.errors import AlphanasError
from alphanas.lang.files import read_text
from alphanas.lang.ir import Program
from alphanas.registry import Registry

__all__ = [
    "TABLE_KEYS",
    "BenchmarkTable",
    "Front",
    "NB201Evaluator",
    "NB201Key",
    "NBMacroKey",
    "TableError",
    "TableEvaluator",
    "TableKey",
    "load_table",
    "metric_columns",
    "true_front",
]


class TableError(AlphanasError):
    """A benchmark table that cannot be used: missing, malformed, or without
    the column asked for."""

    kind = "table error"


def metric_columns(header: Sequence[str], key_column: str = "arch",
                   declared: Mapping[str, str] | None = None) -> dict[str, Direction]:
    """The metric columns of a table header with their directions, in
    header order: the ``declared`` ones (name -> "max"/"min"), or else
    every column whose name has a known direction (``*_acc``,
    ``latency_ms_*``, ``params``, ``flops``, see
    :func:`alphanas.evaluation.evaluator.metric_direction`)."""
    if declared:
        missing = [name for name in declared if name not in header]
        if missing:
            raise TableError(f"the table has no column {missing[0]!r}",
                             hint=f"its columns: {', '.join(header)}")
        for name, direction in declared.items():
            if direction not in ("max", "min"):
                raise TableError(f"column {name}: direction {direction!r} must be \"max\" or \"min\"")
        return {name: declared[name] for name in header if name in declared}  # type: ignore[misc]
    found: dict[str, Direction] = {}
    for name in header:
        direction = metric_direction(name)
        if direction is not None and name != key_column:
            found[name] = direction
    return found


@dataclass(frozen=True)
class BenchmarkTable:
    """A benchmark table, indexed by arch string."""

    path: Path
    #: metric column -> direction, in the file's order
    metrics: Mapping[str, Direction]
    #: arch strings in the file's order
    archs: tuple[str, ...]
    #: metric column -> one value per row, in the file's order
    columns: Mapping[str, tuple[float, ...]]
    #: arch string -> row number
    index: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.archs)

    def row(self, arch: str) -> dict[str, float] | None:
        """The metrics of a cell, or None if the table has no row for it."""
        k = self.index.get(arch)
        if k is None:
            return None
        return {name: values[k] for name, values in self.columns.items()}

    def column(self, name: str) -> tuple[float, ...]:
        """One metric column; a :class:`TableError` naming the columns there are."""
        if name not in self.columns:
            import difflib

            close = difflib.get_close_matches(name, list(self.columns), n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise TableError(f"table {self.path} has no metric column {name!r}",
                             hint=f"{guess}its metric columns: {', '.join(self.columns)}")
        return self.columns[name]


#: (resolved path, modification time, size, key column, declared columns) -> the table:
#: each process reads a file once
_TABLES: dict[tuple[Any, ...], BenchmarkTable] = {}


def load_table(path: str | Path, key_column: str = "arch", columns: Mapping[str, str] | None = None
               ) -> BenchmarkTable:
    """Read and index a benchmark table, CSV or JSON (by its suffix), once
    per process and file version. ``key_column`` names the column of
    architecture strings (a JSON object's keys are the key); ``columns``
    declares the metric columns and their directions (None: read from the
    names). A missing or malformed file is a :class:`TableError` saying
    what to do."""
    path = Path(path)
    try:
        stat = path.resolve().stat()
    except OSError:
        raise TableError(f"no benchmark table at {path}",
                         hint="give the path of a benchmark table: a CSV (e.g. ../shared/data/nb201/nb201.csv, "
                              "columns arch, *_acc, latency_ms_*) or a JSON of key -> record") from None
    declared = tuple(sorted((columns or {}).items()))
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, key_column, declared)
    if key not in _TABLES:
        _TABLES.clear()  # one table version at a time is what a search needs
        read = _read_json if path.suffix.lower() == ".json" else _read_csv
        header, rows = read(path, key_column)
        _TABLES[key] = _index(path, header, rows, key_column, dict(columns or {}))
    return _TABLES[key]


#: a row as read: its line (CSV) or position (JSON), and its fields by column
_Row = tuple[int, Mapping[str, Any]]


def _read_csv(path: Path, key_column: str) -> tuple[list[str], list[_Row]]:
    text = read_text(path, "benchmark table", error=TableError)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        raw = list(reader)
    except csv.Error as err:
        raise TableError(f"cannot read the benchmark table {path}: {err}") from None
    if not header or key_column not in header:
        raise TableError(f"{path} has no {key_column!r} column (header: {', '.join(header or []) or 'empty'})",
                         hint="a benchmark table has a column of architecture strings (key_column)")
    rows: list[_Row] = []
    for line, row in enumerate(raw, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise TableError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        rows.append((line, dict(zip(header, row))))
    return header, rows


def _read_json(path: Path, key_column: str) -> tuple[list[str], list[_Row]]:
    text = read_text(path, "benchmark table", error=TableError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise TableError(f"{path}:{err.lineno}:{err.colno}: not JSON: {err.msg}") from None
    if isinstance(data, dict):
        records = [(k, {key_column: key, **rec}) if isinstance(rec, dict) else (k, rec)
                   for k, (key, rec) in enumerate(data.items(), start=1)]
    elif isinstance(data, list):
        records = list(enumerate(data, start=1))
    else:
        raise TableError(f"{path} holds a JSON {type(data).__name__}; a table is an object of key -> record "
                         "or a list of records")
    header: dict[str, None] = {}
    for k, rec in records:
        if not isinstance(rec, dict):
            raise TableError(f"{path}: record {k} is a {type(rec).__name__}, not an object of columns")
        if key_column not in rec:
            raise TableError(f"{path}: record {k} has no {key_column!r}",
                             hint="each record of a list names its architecture in the key column")
        header.update(dict.fromkeys(rec))
    return list(header), records


def _index(path: Path, header: list[str], rows: list[_Row], key_column: str, declared: Mapping[str, str]
           ) -> BenchmarkTable:
    if not rows:
        raise TableError(f"{path} has a header but no rows")
    candidates = metric_columns(header, key_column, declared)
    # a column of lists (NAS-Bench-Macro's per-seed accuracies) is no metric, unless declared
    metrics = {name: d for name, d in candidates.items()
               if name in declared or not any(isinstance(row.get(name), (list, dict)) for _, row in rows)}
    if not metrics:
        raise TableError(f"{path} has no metric column (columns: {', '.join(header)})",
                         hint="declare them (columns = {mean_acc = \"max\"}) or name them *_acc (accuracy, %) "
                              "or latency_ms_* (latency, ms)")
    archs: list[str] = []
    values: dict[str, list[float]] = {name: [] for name in metrics}
    index: dict[str, int] = {}
    where: dict[str, int] = {}
    for line, row in rows:
        arch = str(row.get(key_column, "")).strip()
        if arch in index:
            raise TableError(f"{path}:{line}: arch {arch} is listed twice (first at {where[arch]})")
        index[arch] = len(archs)
        where[arch] = line
        archs.append(arch)
        for name in metrics:
            value = row.get(name)
            try:
                values[name].append(float(value))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise TableError(f"{path}:{line}: column {name} holds {value!r}, not a number") from None
    return BenchmarkTable(path, metrics, tuple(archs), {k: tuple(v) for k, v in values.items()}, index)


# -- keys: from a program to its row -------------------------------------------------------------


class TableKey(Protocol):
    """A declared mapping from a program to a table's key. ``key`` returns
    the architecture string, or raises an :class:`AlphanasError` saying why
    the program is not one of the benchmark's networks."""

    def key(self, program: Program) -> str: ...


#: The keys a table evaluator names (``[evaluator.options] key``), built
#: with ``key_options`` as their constructor's keyword arguments.
TABLE_KEYS: Registry[TableKey] = Registry("table key", builtin_modules=("alphanas.evaluation.table",))


@TABLE_KEYS.register("nb201")
class NB201Key:
    """NAS-Bench-201's arch string of the block ``cell``
    (:func:`alphanas.benchmarks.nb201.arch_of`); the rest of the program must
    be NAS-Bench-201's network (:func:`alphanas.benchmarks.nb201.network`,
    for the program's own ``classes``; equal up to canonical hashing)."""

    def __init__(self, cell: str = CELL_BLOCK) -> None:
        self.cell = cell
        #: classes -> NAS-Bench-201's network (with some cell)
        self._skeletons: dict[int, Program] = {}

    def key(self, program: Program) -> str:
        arch = arch_of(program, self.cell)
        classes = _classes(program)
        # arch_of read the cell as exactly NAS-Bench-201's; the rest must be
        # the network's skeleton: the reference network with this program's
        # cell put in must equal the program up to canonical form (cheaper
        # than writing and parsing the network of every cell)
        if classes not in self._skeletons:
            self._skeletons[classes] = network(arch, classes)
        if program_hash(program) != program_hash(_with_cell(self._skeletons[classes], program, self.cell)):
            raise NB201Error(f"the program is not NAS-Bench-201's network around its cell {arch}: the table "
                             f"measures that network only",
                             hint="change only the body of block cell (alphanas.benchmarks.nb201.network builds the rest)")
        return arch


@TABLE_KEYS.register("nbmacro")
class NBMacroKey:
    """NAS-Bench-Macro's arch string (eight digits) of the model's layers
    (:func:`alphanas.benchmarks.nbmacro.arch_of`, which reads the whole body:
    stem, layers and head must be the benchmark's)."""

    def key(self, program: Program) -> str:
        if _classes(program) != 10:
            raise nbmacro.NBMacroError("NAS-Bench-Macro measured 10-class networks (CIFAR-10)")
        return nbmacro.arch_of(program)


def _classes(program: Program) -> int:
    return next((p.default for p in program.model.params if p.name == "classes"), 10)


def _with_cell(network_program: Program, program: Program, cell: str) -> Program:
    """The network with ``program``'s cell block in place of its own."""
    mine = program.block(cell)
    return replace(network_program, blocks=tuple(mine if b.name == cell else b for b in network_program.blocks))


# -- the evaluator -------------------------------------------------------------------------------

#: the metrics alphanas's analysis adds to a row; a table column of the same name is renamed
ANALYSIS_METRICS: Mapping[str, Direction] = {"params": "min", "flops": "min"}


def reported_name(column: str) -> str:
    """The metric name under which a table column is reported."""
    return f"table_{column}" if column in ANALYSIS_METRICS else column


@EVALUATORS.register("table")
class TableEvaluator:
    """Scores a program by its row of a benchmark table.

    ``evaluate`` maps the program to the table's key through ``key`` (a
    :data:`TABLE_KEYS` name, or ``module:Class``, built with
    ``key_options``) and reports every metric column of that row by its
    column name (accuracies in percent; ``params``/``flops`` columns as
    ``table_params``/``table_flops``) plus ``params`` and ``flops`` from
    alphanas's analysis. A program that is not one of the benchmark's
    networks, or a key the table lacks, is a failed evaluation with the
    reason; nothing raises. The fidelity is ignored: the table holds one
    result per architecture.

    The table is read when the evaluator is made (a missing file is an
    error then) and again, once, in each worker process it is sent to: only
    the options are pickled.
    """

    def __init__(self, table: str | Path, key: str = "nb201", key_options: Mapping[str, Any] | None = None,
                 key_column: str = "arch", columns: Mapping[str, str] | None = None) -> None:
        self.table = Path(table)
        self.options = {"key": key, "key_options": dict(key_options or {}), "key_column": key_column,
                        "columns": dict(columns or {}) or None}
        self._setup()

    def _setup(self) -> None:
        o = self.options
        self._data = load_table(self.table, o["key_column"], o["columns"])
        self._key = TABLE_KEYS.get(o["key"]).build(o["key_options"])
        #: (key, classes) -> params and flops of the network (the program equals it)
        self._costs: dict[tuple[str, int], dict[str, float]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"table": self.table, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.table = state["table"]
        self.options = state["options"]
        self._setup()

    @classmethod
    def metrics_for(cls, options: Mapping[str, Any]) -> dict[str, Direction]:
        """What an evaluator made with these options measures, with the
        directions: the table's metric columns, then params and flops.
        Called by the config check before anything runs."""
        table = options.get("table")
        if table is None:
            raise TableError("the table evaluator needs the path of its table",
                             hint='add table = "path/to/table.csv" under [evaluator.options]')
        data = load_table(table, options.get("key_column", "arch"), options.get("columns"))
        return {**{reported_name(c): d for c, d in data.metrics.items()}, **ANALYSIS_METRICS}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        start = time.perf_counter()
        try:
            metrics = self._lookup(program)
        except AlphanasError as err:
            return failed(err.message, seconds=time.perf_counter() - start)
        except Exception as err:  # a candidate's failure, recorded, never raised into the loop
            return failed(f"{type(err).__name__}: {err}", seconds=time.perf_counter() - start)
        return Evaluation("ok", metrics, seconds=time.perf_counter() - start)

    def _lookup(self, program: Program) -> dict[str, float]:
        key = self._key.key(program)
        row = self._data.row(key)
        if row is None:
            raise TableError(f"architecture {key} is not in the table {self.table}")
        memo = (key, _classes(program))
        if memo not in self._costs:
            self._costs[memo] = analytic_metrics(program)
        return {**{reported_name(c): v for c, v in row.items()}, **self._costs[memo]}


@EVALUATORS.register("nb201")
class NB201Evaluator(TableEvaluator):
    """The table evaluator with NAS-Bench-201's key: ``table`` and the
    block whose body is the cell (``cell``)."""

    def __init__(self, table: str | Path, cell: str = CELL_BLOCK) -> None:
        super().__init__(table, key="nb201", key_options={"cell": cell})

    @classmethod
    def metrics_for(cls, options: Mapping[str, Any]) -> dict[str, Direction]:
        return TableEvaluator.metrics_for({"table": options.get("table")})


# -- the true Pareto front -----------------------------------------------------------------------


@dataclass(frozen=True)
class Front:
    """A Pareto front of table rows: the cells and their objective values."""

    objectives: tuple[Objective, ...]
    archs: tuple[str, ...]
    points: tuple[tuple[float, ...], ...]

    def hypervolume(self, box: ReferenceBox) -> float:
        """The front's hypervolume in ``box`` (:func:`alphanas.evaluation.pareto.hypervolume`);
        a search's front, measured in the same box, divided by this is its
        hypervolume ratio."""
        if tuple(box.objectives) != self.objectives:
            raise ValueError(f"the box is over {[o.name for o in box.objectives]}, the front over "
                             f"{[o.name for o in self.objectives]}")
        return hypervolume(self.points, box)


def true_front(table: BenchmarkTable | str | Path, accuracy: str, latency: str) -> Front:
    """The Pareto front of every row of the table for (``accuracy``,
    maximised; ``latency``, minimised), rows in the table's order. Equal
    points are all kept, as :func:`alphanas.evaluation.pareto.pareto_front` keeps them;
    computed by one sweep in order of latency (that function compares every
    pair, too slow for 15,625 rows)."""
    data = table if isinstance(table, BenchmarkTable) else load_table(table)
    acc, lat = data.column(accuracy), data.column(latency)
    for name, want in ((accuracy, "max"), (latency, "min")):
        if data.metrics[name] != want:
            raise TableError(f"column {name} is better when {data.metrics[name]}imised; it cannot be the "
                             f"{'accuracy' if want == 'max' else 'latency'} of the front")
    order = sorted(range(len(data)), key=lambda k: (lat[k], -acc[k]))
    keep: list[int] = []
    best = -math.inf  # the highest accuracy at a strictly lower latency
    k = 0
    while k < len(order):
        # the rows of one latency: only those at its highest accuracy can be on the front
        group = [order[k]]
        while k + len(group) < len(order) and lat[order[k + len(group)]] == lat[order[k]]:
            group.append(order[k + len(group)])
        top = acc[group[0]]
        if top > best:
            keep += [r for r in group if acc[r] == top]
            best = top
        k += len(group)
    keep.sort()
    objectives = (Objective(accuracy, "max"), Objective(latency, "min"))
    return Front(objectives, tuple(data.archs[r] for r in keep), tuple((acc[r], lat[r]) for r in keep))
