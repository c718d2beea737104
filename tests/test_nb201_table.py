"""The NAS-Bench-201 table evaluator (``alphanas/table_evaluator.py``), its
place in search configs, and the true Pareto front of a table. Everything
reads ``tests/data/nb201_excerpt.csv``: 60 real rows of the benchmark's
table (index 0, the best CIFAR-10 cell 6111, NAS-Bench-201's ResNet 11472,
cells without convolutions and random ones), with its header."""

from __future__ import annotations

import csv
import pickle
import random
from pathlib import Path

import pytest

from alphanas import analyze, parse
from alphanas.benchmarks.nb201 import DEFAULT_ARCH, SEED, network, network_text
from alphanas.evaluation.evaluator import EvalContext, Fidelity, analytic_metrics, metric_direction
from alphanas.evaluation.pareto import Objective, ReferenceBox, hypervolume, pareto_front
from alphanas.evaluation.table import (
    TableError,
    TableEvaluator,
    load_table,
    metric_columns,
    true_front,
)
from alphanas.search.config import ConfigError, build_evaluator, load_config, load_seed_program

EXCERPT = Path(__file__).parent / "data" / "nb201_excerpt.csv"
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
#: a cell of the benchmark whose row is not in the excerpt
ABSENT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|"


def rows() -> list[dict[str, str]]:
    with EXCERPT.open(newline="") as f:
        return list(csv.DictReader(f))


def evaluate(evaluator: TableEvaluator, program):
    return evaluator.evaluate(program, Fidelity(), EvalContext())


# -- the table ----------------------------------------------------------------------------------


def test_the_excerpt_is_indexed_by_arch_with_its_metric_columns() -> None:
    table = load_table(EXCERPT)
    assert len(table) == len(rows()) == 60
    assert list(table.metrics) == [
        "cifar10_test_acc", "cifar100_test_acc", "imagenet16_120_test_acc", "latency_ms_fpga",
        "latency_ms_eyeriss", "latency_ms_raspi4", "latency_ms_pixel3", "latency_ms_1080ti_1",
        "latency_ms_gold_6226",
    ]
    assert table.row(BEST)["cifar10_test_acc"] == 94.3733  # the benchmark's best CIFAR-10 cell
    assert table.row(ABSENT) is None
    assert load_table(EXCERPT) is table  # read once per process


def test_metric_directions_follow_the_column_names() -> None:
    assert metric_direction("cifar10_test_acc") == "max"
    assert metric_direction("latency_ms_pixel3") == "min"
    assert metric_direction("params") == "min" and metric_direction("accuracy") == "max"
    assert metric_direction("index") is None and metric_direction("arch") is None
    assert metric_columns(["index", "arch", "x_acc", "latency_ms_tpu", "notes"]) == {
        "x_acc": "max", "latency_ms_tpu": "min"}


def test_any_table_with_other_columns_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("arch,notes,svhn_acc,latency_ms_tpu\r\n"
                    f"{DEFAULT_ARCH},resnet,96.5,1.25\r\n{BEST},best,97.0,2.5\r\n")
    assert TableEvaluator.metrics_for({"table": path}) == {
        "svhn_acc": "max", "latency_ms_tpu": "min", "params": "min", "flops": "min"}
    result = evaluate(TableEvaluator(path), network(DEFAULT_ARCH))
    assert result.ok and result.metrics["svhn_acc"] == 96.5 and "notes" not in result.metrics


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("name,cifar10_test_acc\nx,1\n", "no 'arch' column"),
        ("arch,comment\nx,1\n", "no metric column"),
        ("arch,cifar10_test_acc\nx,ninety\n", ":2: column cifar10_test_acc holds 'ninety'"),
        ("arch,cifar10_test_acc\nx,1\nx,2\n", ":3: arch x is listed twice"),
        ("arch,cifar10_test_acc\nx,1,2\n", ":2: 3 fields"),
        ("arch,cifar10_test_acc\n", "no rows"),
    ],
)
def test_a_bad_table_is_explained(tmp_path: Path, text: str, phrase: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TableError, match=phrase):
        load_table(path)


def test_a_missing_table_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="no benchmark table") as info:
        TableEvaluator(tmp_path / "nope.csv")
    assert "arch" in (info.value.hint or "")


# -- the evaluator ------------------------------------------------------------------------------


def test_a_cell_of_the_table_gets_its_row_and_alphanas_costs() -> None:
    evaluator = TableEvaluator(EXCERPT)
    row = next(r for r in rows() if r["arch"] == DEFAULT_ARCH)  # index 11472, NAS-Bench-201's ResNet
    program = parse(SEED.read_text())
    result = evaluate(evaluator, program)
    assert result.ok, result.reason
    expected = {k: float(v) for k, v in row.items() if k not in ("index", "arch")}
    assert result.metrics == {**expected, **analytic_metrics(program)}
    assert result.metrics["params"] == analyze(program).total.params
    # the same network written another way (the canonical text) is the same candidate
    again = evaluate(evaluator, parse(network_text(DEFAULT_ARCH).replace("add(shortcut, y)", "add(y, shortcut)")))
    assert again.ok and again.metrics == result.metrics


def test_every_cell_of_the_excerpt_is_found() -> None:
    evaluator = TableEvaluator(EXCERPT)
    for row in random.Random(0).sample(rows(), 12):
        result = evaluate(evaluator, network(row["arch"]))
        assert result.ok and result.metrics["cifar10_test_acc"] == float(row["cifar10_test_acc"])


def test_what_the_table_cannot_score_fails_with_a_reason() -> None:
    evaluator = TableEvaluator(EXCERPT)
    absent = evaluate(evaluator, network(ABSENT))
    assert not absent.ok and "is not in the table" in absent.reason and ABSENT in absent.reason
    not_a_cell = evaluate(evaluator, parse(network_text(BEST).replace("identity(x)", "relu(relu(x))", 1)))
    assert not not_a_cell.ok and "not a NAS-Bench-201 cell" in not_a_cell.reason
    # the right cell in another network: the table does not measure it
    # (without the relu before global pooling: the same parameters, another network)
    no_relu = parse(network_text(BEST).replace("h = relu(batchnorm(h))", "h = batchnorm(h)"))
    assert analyze(no_relu).total.params == analyze(network(BEST)).total.params
    other = evaluate(evaluator, no_relu)
    assert not other.ok and "not NAS-Bench-201's network" in other.reason
    # the same network for 100 classes is still NAS-Bench-201's network, with its own costs
    ten, hundred = evaluate(evaluator, network(BEST)), evaluate(evaluator, network(BEST, classes=100))
    assert hundred.ok and hundred.metrics["params"] == ten.metrics["params"] + 90 * 64 + 90
    no_block = evaluate(evaluator, parse("model m(x: [3, 8, 8]) {\n  return relu(x)\n}\n"))
    assert not no_block.ok and "no block 'cell'" in no_block.reason


def test_the_evaluator_pickles_without_its_table() -> None:
    evaluator = TableEvaluator(EXCERPT)
    data = pickle.dumps(evaluator)
    assert len(data) < 1000  # the path only: each worker reads the table itself
    copy = pickle.loads(data)
    program = network(BEST)
    assert evaluate(copy, program).metrics == evaluate(evaluator, program).metrics


# -- search configs -----------------------------------------------------------------------------


def _config(tmp_path: Path, objectives: str, options: str | None = None) -> Path:
    (tmp_path / "seed.arch").write_text(SEED.read_text())
    options = options if options is not None else f'options = {{ table = "{EXCERPT}" }}'
    path = tmp_path / "search.toml"
    path.write_text(f'seed_program = "seed.arch"\nrun_dir = "run"\nobjectives = {objectives}\n\n'
                    f'[evaluator]\nkind = "nb201"\n{options}\n\n[executor]\nkind = "serial"\n')
    return path


def test_objectives_are_named_by_the_table_s_columns(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, '["cifar100_test_acc", "latency_ms_raspi4", "params"]'))
    assert [(o.name, o.direction) for o in config.objectives] == [
        ("cifar100_test_acc", "max"), ("latency_ms_raspi4", "min"), ("params", "min")]
    evaluator = build_evaluator(config.evaluator)
    result = evaluate(evaluator, load_seed_program(config))
    assert result.ok and all(o.name in result.metrics for o in config.objectives)


def test_a_wrong_column_is_a_config_error_naming_the_columns(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown objective 'cifar10_acc'") as info:
        load_config(_config(tmp_path, '["cifar10_acc"]'))
    hint = info.value.hint or ""
    assert "did you mean 'cifar10_test_acc'" in hint and "latency_ms_gold_6226" in hint
    assert info.value.loc is not None and info.value.loc.line == 3
    with pytest.raises(ConfigError, match="does not measure 'accuracy'") as info:
        load_config(_config(tmp_path, '["accuracy"]'))
    assert "cifar10_test_acc" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="better when maximised"):
        load_config(_config(tmp_path, '[{ name = "cifar10_test_acc", direction = "min" }]'))


def test_a_missing_table_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no benchmark table"):
        load_config(_config(tmp_path, '["cifar10_test_acc"]', 'options = { table = "missing.csv" }'))
    with pytest.raises(ConfigError, match="needs the path of its table"):
        load_config(_config(tmp_path, '["cifar10_test_acc"]', ""))


# -- the true Pareto front ----------------------------------------------------------------------


@pytest.mark.parametrize(("accuracy", "latency"), [("cifar10_test_acc", "latency_ms_pixel3"),
                                                   ("imagenet16_120_test_acc", "latency_ms_fpga")])
def test_the_true_front_is_the_pareto_front_of_every_row(accuracy: str, latency: str) -> None:
    table = load_table(EXCERPT)
    points = list(zip(table.columns[accuracy], table.columns[latency]))
    objectives = (Objective(accuracy, "max"), Objective(latency, "min"))
    front = true_front(EXCERPT, accuracy, latency)
    expected = pareto_front(points, objectives)
    assert front.archs == tuple(table.archs[k] for k in expected)
    assert front.points == tuple(points[k] for k in expected)
    assert max(table.columns[accuracy]) in [p[0] for p in front.points]
    box = ReferenceBox(objectives, (100.0, 0.0), (0.0, max(table.columns[latency])))
    # dominated rows add nothing: the front holds the table's whole hypervolume
    assert front.hypervolume(box) == pytest.approx(hypervolume(points, box))
    assert 0 < front.hypervolume(box) < 1


def test_the_front_keeps_equal_points_and_drops_ties_at_higher_latency(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    cells = ["a", "b", "c", "d", "e", "f"]
    values = [(90, 2), (90, 2), (90, 3), (80, 1), (95, 5), (70, 1)]
    path.write_text("arch,x_acc,latency_ms_d\n" + "".join(f"{c},{a},{t}\n" for c, (a, t) in zip(cells, values)))
    front = true_front(path, "x_acc", "latency_ms_d")
    assert front.archs == ("a", "b", "d", "e")
    objectives = (Objective("x_acc", "max"), Objective("latency_ms_d", "min"))
    assert [cells[k] for k in pareto_front(values, objectives)] == list(front.archs)
    with pytest.raises(TableError, match="better when minimised"):
        true_front(path, "latency_ms_d", "x_acc")
    with pytest.raises(TableError, match="no metric column 'y_acc'"):
        true_front(path, "y_acc", "latency_ms_d")
