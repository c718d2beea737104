"""Scoring by table lookup: NAS-Bench-201's measured accuracies and latencies.

A benchmark table is a CSV file with one row per NAS-Bench-201 cell: an
``arch`` column (the arch string, see :mod:`alphanas.benchmarks.nb201`) and metric
columns, named by what they measure: ``*_acc`` columns are accuracies in
percent (better high), ``latency_ms_*`` columns latencies in milliseconds on
one device (better low); other columns (``index``) are carried but not
reported. Any such CSV is accepted, whatever its devices and data sets.

:class:`TableEvaluator` implements :class:`~alphanas.evaluation.evaluator.Evaluator`:
it reads the cell of a candidate program, checks that the program is
NAS-Bench-201's network around that cell, and reports the cell's row plus
the parameters and FLOPs of alphanas's own analysis. :func:`true_front` is
the Pareto front of the whole table for an accuracy and a latency column,
the reference a search's front is measured against.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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

__all__ = [
    "BenchmarkTable",
    "Front",
    "TableError",
    "TableEvaluator",
    "load_table",
    "metric_columns",
    "true_front",
]


class TableError(AlphanasError):
    """A benchmark table that cannot be used: missing, malformed, or without
    the column asked for."""

    kind = "table error"


def metric_columns(header: Sequence[str]) -> dict[str, Direction]:
    """The metric columns of a table header with their directions: every
    column whose name has a known direction (``*_acc``, ``latency_ms_*``,
    see :func:`alphanas.evaluation.evaluator.metric_direction`), in header order."""
    found: dict[str, Direction] = {}
    for name in header:
        direction = metric_direction(name)
        if direction is not None and name != "arch":
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


#: (resolved path, modification time, size) -> the table: each process reads a file once
_TABLES: dict[tuple[str, int, int], BenchmarkTable] = {}


def load_table(path: str | Path) -> BenchmarkTable:
    """Read and index a benchmark table (once per process and file version).
    A missing or malformed file is a :class:`TableError` saying what to do."""
    path = Path(path)
    try:
        stat = path.resolve().stat()
    except OSError:
        raise TableError(f"no benchmark table at {path}",
                         hint="give the path of a NAS-Bench-201 CSV (columns arch, *_acc, latency_ms_*), "
                              "e.g. ../shared/data/nb201/nb201.csv") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _TABLES:
        _TABLES.clear()  # one table version at a time is what a search needs
        _TABLES[key] = _read_table(path)
    return _TABLES[key]


def _read_table(path: Path) -> BenchmarkTable:
    text = read_text(path, "benchmark table", error=TableError)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        rows = list(reader)
    except csv.Error as err:
        raise TableError(f"cannot read the benchmark table {path}: {err}") from None
    if not header or "arch" not in header:
        raise TableError(f"{path} has no 'arch' column (header: {', '.join(header or []) or 'empty'})",
                         hint="a benchmark table has an arch column of NAS-Bench-201 arch strings")
    metrics = metric_columns(header)
    if not metrics:
        raise TableError(f"{path} has no metric column (header: {', '.join(header)})",
                         hint="metric columns are named *_acc (accuracy, %) or latency_ms_* (latency, ms)")
    at = {name: header.index(name) for name in ("arch", *metrics)}
    archs: list[str] = []
    values: dict[str, list[float]] = {name: [] for name in metrics}
    index: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise TableError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        arch = row[at["arch"]].strip()
        if arch in index:
            raise TableError(f"{path}:{line}: arch {arch} is listed twice (first on line {index[arch] + 2})")
        index[arch] = len(archs)
        archs.append(arch)
        for name in metrics:
            try:
                values[name].append(float(row[at[name]]))
            except ValueError:
                raise TableError(f"{path}:{line}: column {name} holds {row[at[name]]!r}, not a number") from None
    if not archs:
        raise TableError(f"{path} has a header but no rows")
    return BenchmarkTable(path, metrics, tuple(archs), {k: tuple(v) for k, v in values.items()}, index)


# -- the evaluator -------------------------------------------------------------------------------


@EVALUATORS.register("nb201")
class TableEvaluator:
    """Scores a NAS-Bench-201 network by its cell's row of a benchmark table.

    ``evaluate`` reads the arch string of the block ``cell``
    (:func:`alphanas.benchmarks.nb201.arch_of`), checks that the whole program is
    NAS-Bench-201's network around it (:func:`alphanas.benchmarks.nb201.network`, for
    the program's own ``classes``; equal up to canonical hashing), and
    reports every metric column of that row by its column name (accuracies
    in percent) plus ``params`` and ``flops`` from alphanas's analysis. A
    program that is not such a network, or a cell the table lacks, is a
    failed evaluation with the reason; nothing raises. The fidelity is
    ignored: the table holds one result per cell.

    The table is read when the evaluator is made (a missing file is an
    error then) and again, once, in each worker process it is sent to: only
    the path is pickled.
    """

    def __init__(self, table: str | Path, cell: str = CELL_BLOCK) -> None:
        self.table = Path(table)
        self.cell = cell
        self._setup()

    def _setup(self) -> None:
        self._data = load_table(self.table)
        #: (arch, classes) -> params and flops of the network (the program equals it)
        self._costs: dict[tuple[str, int], dict[str, float]] = {}
        #: classes -> NAS-Bench-201's network (with some cell)
        self._skeletons: dict[int, Program] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"table": self.table, "cell": self.cell}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.table = state["table"]
        self.cell = state["cell"]
        self._setup()

    @classmethod
    def metrics_for(cls, options: Mapping[str, Any]) -> dict[str, Direction]:
        """What an evaluator made with these options measures, with the
        directions: the table's metric columns, then params and flops.
        Called by the config check before anything runs."""
        table = options.get("table")
        if table is None:
            raise TableError("the nb201 evaluator needs the path of its table",
                             hint='add table = "path/to/nb201.csv" under [evaluator.options]')
        data = load_table(table)
        return {**data.metrics, "params": "min", "flops": "min"}

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
        arch = arch_of(program, self.cell)
        row = self._data.row(arch)
        if row is None:
            raise TableError(f"cell {arch} is not in the table {self.table}")
        classes = next((p.default for p in program.model.params if p.name == "classes"), 10)
        key = (arch, classes)
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
        if key not in self._costs:
            self._costs[key] = analytic_metrics(program)
        return {**row, **self._costs[key]}


def _with_cell(network_program: Program, program: Program, cell: str) -> Program:
    """The network with ``program``'s cell block in place of its own."""
    mine = program.block(cell)
    return replace(network_program, blocks=tuple(mine if b.name == cell else b for b in network_program.blocks))


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
