"""The general table evaluator: CSV and JSON tables, declared or named
metric columns, keys by name or ``module:Class``, and the errors of a table
that cannot be used. Tables are written here, small, from committed rows of
``tests/data/nb201_excerpt.csv``; the NAS-Bench-201 instance is tested in
``test_nb201_table.py``, NAS-Bench-Macro in ``test_nbmacro.py``."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from alphanas.benchmarks.nb201 import network
from alphanas.evaluation.evaluator import EVALUATORS, EvalContext, Fidelity
from alphanas.evaluation.table import TableError, TableEvaluator, load_table
from alphanas.registry import PluginError

EXCERPT = Path(__file__).parent / "data" / "nb201_excerpt.csv"


def rows() -> list[dict[str, str]]:
    with EXCERPT.open(newline="") as f:
        return list(csv.DictReader(f))


def evaluate(evaluator: TableEvaluator, program):
    return evaluator.evaluate(program, Fidelity(), EvalContext())


def test_a_json_object_table_with_declared_columns_scores_like_the_csv(tmp_path: Path) -> None:
    records = {r["arch"]: {"top1": float(r["cifar10_test_acc"]), "ms": float(r["latency_ms_pixel3"]),
                           "runs": [1, 2]} for r in rows()}
    path = tmp_path / "cells.json"
    path.write_text(json.dumps(records))
    columns = {"top1": "max", "ms": "min"}
    table = load_table(path, columns=columns)
    assert dict(table.metrics) == columns and len(table) == len(records)
    assert EVALUATORS.get("table").cls is TableEvaluator
    evaluator = TableEvaluator(path, key="nb201", columns=columns)
    arch = next(iter(records))
    result = evaluate(evaluator, network(arch))
    reference = evaluate(TableEvaluator(EXCERPT), network(arch))
    assert result.ok and reference.ok
    assert result.metrics["top1"] == reference.metrics["cifar10_test_acc"] == records[arch]["top1"]
    assert result.metrics["ms"] == reference.metrics["latency_ms_pixel3"]
    assert result.metrics["params"] == reference.metrics["params"]


def test_a_json_list_of_records_with_its_own_key_column(tmp_path: Path) -> None:
    path = tmp_path / "cells.json"
    path.write_text(json.dumps([{"cell": r["arch"], "val_acc": float(r["cifar100_test_acc"])} for r in rows()]))
    table = load_table(path, key_column="cell")
    assert dict(table.metrics) == {"val_acc": "max"}  # named *_acc: read from the name
    arch = rows()[3]["arch"]
    assert table.row(arch) == {"val_acc": float(rows()[3]["cifar100_test_acc"])}


def test_a_csv_with_another_key_column_and_a_params_column(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "cifar10_test_acc", "params"])
        for r in rows():
            w.writerow([r["arch"], r["cifar10_test_acc"], 123])
    evaluator = TableEvaluator(path, key_column="id")
    assert TableEvaluator.metrics_for({"table": path, "key_column": "id"}) == {
        "cifar10_test_acc": "max", "table_params": "min", "params": "min", "flops": "min"}
    result = evaluate(evaluator, network(rows()[0]["arch"]))
    assert result.ok and result.metrics["table_params"] == 123 and result.metrics["params"] != 123


def test_a_key_of_your_own_by_module_and_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_keys.py").write_text(
        "from alphanas.benchmarks.nb201 import arch_of\n\n"
        "class Reversed:\n"
        "    def __init__(self, suffix=''):\n"
        "        self.suffix = suffix\n\n"
        "    def key(self, program):\n"
        "        return arch_of(program)[::-1] + self.suffix\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "t.json"
    arch = rows()[0]["arch"]
    path.write_text(json.dumps({arch[::-1] + "!": {"x_acc": 50.0}}))
    evaluator = TableEvaluator(path, key="my_keys:Reversed", key_options={"suffix": "!"})
    result = evaluate(evaluator, network(arch))
    assert result.ok and result.metrics["x_acc"] == 50.0
    sys.modules.pop("my_keys", None)


def test_tables_that_cannot_be_used_say_why(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"a": {"x_acc": 1}, "b": {"x_acc": "high"}}')
    with pytest.raises(TableError, match="column x_acc holds 'high', not a number"):
        load_table(path)
    path.write_text('[{"x_acc": 1}]')
    with pytest.raises(TableError, match="record 1 has no 'arch'"):
        load_table(path)
    path.write_text('{"a": {"x_acc": 1}')
    with pytest.raises(TableError, match="not JSON"):
        load_table(path)
    path.write_text('{"a": {"x_acc": 1}}')
    with pytest.raises(TableError, match="no column 'top1'"):
        load_table(path, columns={"top1": "max"})
    with pytest.raises(TableError, match="must be \"max\" or \"min\""):
        load_table(path, columns={"x_acc": "up"})
    path.write_text('{"a": {"std": 1}}')
    with pytest.raises(TableError, match="no metric column"):
        load_table(path)
    with pytest.raises(PluginError, match="unknown table key 'nb2001'"):
        TableEvaluator(EXCERPT, key="nb2001")
