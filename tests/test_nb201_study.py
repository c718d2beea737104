"""The property-similarity study (``alphanas bench nb201-study``) on the
committed 60-row excerpt of the NAS-Bench-201 table: cell properties derived
by hand, the distance, the statistics against brute force, the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alphanas.bench import run_benchmark
from alphanas.bench.nb201_study import (
    CellProperties,
    cell_properties,
    nearest_neighbours,
    property_distance,
    spearman,
    study,
)
from alphanas.evaluation.table import TableError, load_table
from alphanas.lang.errors import AlphanasError

EXCERPT = Path(__file__).parent / "data" / "nb201_excerpt.csv"
ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"

# mixing rows are input axes, columns output axes: batch, channels, height, width
ONE, MANY, ALL = 1, 2, 3


def test_cell_properties_derived_by_hand() -> None:
    # every edge relu -> conv -> batchnorm: the path x -> n1 -> n2 -> n3 is
    # N L | N L (add L) | N L (add L): 6 runs; channels all-to-all, a 3x3
    # window on 32x32 positions is many-to-one
    conv = cell_properties(ALL_3X3)
    assert conv.depth == 6
    assert conv.mixing == (ONE, 0, 0, 0, ALL, ALL, ALL, ALL, 0, 0, MANY, 0, 0, 0, 0, MANY)
    # identities and adds: one linear run, every axis one-to-one
    skip = cell_properties(SKIP)
    assert skip.depth == 1 and skip.mixing == (ONE, 0, 0, 0, 0, ONE, 0, 0, 0, 0, ONE, 0, 0, 0, 0, ONE)
    # every edge cut: the output does not depend on the input (mixing NONE);
    # zero counts for nothing in depth, so the adds still make one run
    cut = cell_properties(NONE)
    assert cut.mixing == (0,) * 16 and not cut.connected and cut.depth == 1


def test_the_distance_is_symmetric_and_zero_only_for_equal_properties() -> None:
    cells = [cell_properties(a) for a in (ALL_3X3, NONE, SKIP)]
    for a in cells:
        assert property_distance(a, a) == 0
        for b in cells:
            assert property_distance(a, b) == property_distance(b, a)
            assert (property_distance(a, b) == 0) == (a == b)
    a, b = CellProperties(3, (1,) + (0,) * 15), CellProperties(5, (2,) + (0,) * 14 + (3,))
    assert property_distance(a, b) == 2 + 2


def test_spearman_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 300), rng.integers(0, 7, 300) + rng.integers(0, 5, 300) // 2
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_nearest_neighbours_take_the_closest_cell() -> None:
    acc = np.array([90.0, 91.0, 10.0, 50.0])
    position = np.array([0.0, 1.0, 9.0, 5.0])
    result = nearest_neighbours(acc, lambda k: np.abs(position - position[k]), np.random.default_rng(0))
    # nearest: 0<->1 (|Δ| 1, twice), 3 -> 1 (41), 2 -> 3 (40)
    assert result.nearest_mean == pytest.approx((1 + 1 + 40 + 41) / 4)
    assert result.mean_nearest_distance == pytest.approx((1 + 1 + 4 + 4) / 4)


def test_the_study_on_the_excerpt() -> None:
    report = study(str(EXCERPT), 40, seed=3, metric="cifar10_test_acc")
    everything, connected = report["all_cells"], report["connected_cells"]
    assert everything["cells"] == 40 and everything["pairs"] == 40 * 39 // 2
    assert len(set(report["rows"])) == 40
    assert sum(b["pairs"] for b in everything["buckets"]) == everything["pairs"]
    assert sum(s["cells"] for s in report["signatures"]) == 40
    # the random-pair baseline against brute force over the same cells
    a = np.array(load_table(EXCERPT).column("cifar10_test_acc"))[report["rows"]]
    brute = np.mean([abs(a[i] - a[j]) for i in range(40) for j in range(i + 1, 40)])
    assert everything["random_mean_abs_diff"] == pytest.approx(brute)
    # the buckets' means, weighted by their pairs, give the mean over all pairs
    weighted = sum(b["pairs"] * b["mean_abs_diff"] for b in everything["buckets"]) / everything["pairs"]
    assert weighted == pytest.approx(brute)
    disconnected = sum(s["cells"] for s in report["signatures"] if not any(map(any, s["mixing"])))
    assert connected["cells"] == 40 - disconnected
    assert -1 <= everything["spearman"] <= 1
    # the same seed draws the same cells and gives the same numbers
    assert study(str(EXCERPT), 40, seed=3, metric="cifar10_test_acc")["all_cells"] == everything


def test_the_command_writes_json_and_a_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "study"
    assert run_benchmark("nb201-study", ["--table", str(EXCERPT), "--cells", "30", "--out", str(out)]) == 0
    report = json.loads((out / "study.json").read_text())
    assert report["all_cells"]["cells"] == 30 and "environment" in report
    assert (out / "study.png").read_bytes()[:4] == b"\x89PNG"
    assert "Spearman" in capsys.readouterr().out


def test_mistakes_are_explained(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="no benchmark table"):
        study(str(tmp_path / "missing.csv"), 10, 0, "cifar10_test_acc")
    with pytest.raises(TableError, match="no metric column 'cifar10_acc'"):
        study(str(EXCERPT), 10, 0, "cifar10_acc")
    with pytest.raises(TableError, match="not an accuracy"):
        study(str(EXCERPT), 10, 0, "latency_ms_fpga")
    with pytest.raises(AlphanasError, match="the table has 60 cells"):
        study(str(EXCERPT), 100, 0, "cifar10_test_acc")
