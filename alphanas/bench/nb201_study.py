"""Do cells with similar properties perform alike? ``alphanas bench nb201-study``.

αNAS rests on a claim: programs whose properties (depth, mixing) are close
behave alike, so that a mutation that moves the properties a little moves
the accuracy a little. NAS-Bench-201 lets us look at the claim directly,
since every one of its 15,625 cells has a measured accuracy.

For ``--cells`` cells drawn at random from the table (seeded), the
properties of the cell block are inferred once per cell — depth and mixing
of its first instance (16 channels, 32×32) from its input to its output,
through :func:`alphanas.properties.api.whole_graph_properties` — and for
every pair of cells the *property distance* is compared with the absolute
difference of their accuracies (``--metric``, CIFAR-10 test accuracy by
default).

**The property distance** between two cells is symmetric and integer:
``|depth_a - depth_b|`` plus the number of entries in which the two 4×4
mixing matrices (batch, channels, height, width) differ. (The
:func:`~alphanas.properties.api.distance` of the search is a one-sided
shortfall, zero when one set of properties is at least the other; its sum
in both directions is reported too, as a rank correlation.)

Reported, for all sampled cells and for the *connected* ones (those whose
output depends on the input at all: mixing not NONE everywhere — the rest
are the cells where every path is cut by a ``none`` edge, which score 10%):

- mean and median ``|Δacc|`` of the pairs at each distance (0, 1, 2, ...)
  against all pairs (random pairs);
- Spearman's rank correlation between distance and ``|Δacc|`` over all pairs;
- nearest neighbours: for each cell, ``|Δacc|`` to its nearest cell by
  property distance (ties broken at random) against ``|Δacc|`` to a random
  cell.

Writes ``study.json`` and ``study.png`` to ``--out`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from alphanas.bench import environment, print_table
from alphanas.bench.frontend import _positive
from alphanas.lang.errors import AlphanasError

DEFAULT_TABLE = "../shared/data/nb201/nb201.csv"
DEFAULT_OUT = "docs/results/nb201_study"
#: pairs of cells are held in memory at once: C(5000, 2) = 12.5 million
MAX_CELLS = 5000


@dataclass(frozen=True)
class CellProperties:
    """The properties of a cell that the distance reads: the depth from the
    cell's input to its output (0 when the output does not depend on it)
    and the mixing matrix of that pair, row by row (levels 0-3)."""

    depth: int
    mixing: tuple[int, ...]

    @property
    def connected(self) -> bool:
        """Whether the output depends on the input at all."""
        return any(self.mixing)


def property_distance(a: CellProperties, b: CellProperties) -> int:
    """``|depth_a - depth_b|`` + the number of differing mixing entries."""
    return abs(a.depth - b.depth) + sum(x != y for x, y in zip(a.mixing, b.mixing))


@cache
def cell_region_properties(arch: str) -> Any:
    """The :class:`~alphanas.properties.api.RegionProperties` of the cell
    block of ``arch``, at 16 channels on 32×32 inputs (its first instance in
    NAS-Bench-201's network), memoised by arch string."""
    from alphanas import analyze, parse
    from alphanas.benchmarks.nb201 import cell_body
    from alphanas.properties.api import whole_graph_properties

    body = "".join(f"  {line}\n" for line in cell_body(arch).split("\n"))
    text = f"block cell(x, c: int) {{\n{body}}}\n\nmodel first_cell(x: [16, 32, 32]) {{\n  return cell(x, 16)\n}}\n"
    program = parse(text)
    root = analyze(program)
    (instance,) = root.calls.values()
    return whole_graph_properties(program, instance)


def cell_properties(arch: str) -> CellProperties:
    props = cell_region_properties(arch)
    depth = props.depth.get((0, 0), 0)
    matrix = props.mixing.get((0, 0))
    mixing = tuple(int(v) for row in matrix for v in row) if matrix is not None else (0,) * 16
    return CellProperties(depth, mixing)


def cell_params(arch: str) -> int:
    """The parameters of the cell (16 channels): the baseline the property
    distance is compared with."""
    return int(cell_region_properties(arch).resources.params)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their average rank)."""
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts - 1) / 2.0)[inverse]


# -- the analysis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    distance: int
    pairs: int
    mean_abs_diff: float
    median_abs_diff: float


@dataclass(frozen=True)
class Neighbours:
    """|Δacc| of each cell to its nearest neighbour by property distance and
    to a random other cell."""

    cells: int
    nearest_mean: float
    nearest_median: float
    random_mean: float
    random_median: float
    #: the fraction of cells whose nearest neighbour is closer in accuracy
    #: than the random cell (ties count half)
    nearest_closer: float
    #: the mean property distance to the nearest neighbour
    mean_nearest_distance: float


@dataclass(frozen=True)
class Analysis:
    """The pairwise comparison over one set of cells. The ``*_params``
    fields are the baseline: the same comparison with the difference of the
    cells' parameter counts as the distance."""

    cells: int
    signatures: int
    pairs: int
    random_mean_abs_diff: float
    random_median_abs_diff: float
    buckets: tuple[Bucket, ...]
    spearman: float
    spearman_api_distance: float
    neighbours: Neighbours
    spearman_params: float
    neighbours_params: Neighbours


def analyse(acc: np.ndarray, sig: np.ndarray, params: np.ndarray, dist: np.ndarray, api_dist: np.ndarray,
            rng: np.random.Generator) -> Analysis:
    """Pairs of the cells with accuracies ``acc``, property signatures
    ``sig`` (indices into the signature distance matrices ``dist`` and
    ``api_dist``) and parameter counts ``params``."""
    n = len(acc)
    i, j = np.triu_indices(n, 1)
    diff = np.abs(acc[i] - acc[j])
    d = dist[sig[i], sig[j]]
    buckets = tuple(
        Bucket(int(k), int((d == k).sum()), float(diff[d == k].mean()), float(np.median(diff[d == k])))
        for k in np.unique(d)
    )
    rho = spearman(d, diff)
    rho_api = spearman(api_dist[sig[i], sig[j]], diff)
    rho_params = spearman(np.abs(params[i] - params[j]), diff)
    median = float(np.median(diff))
    del i, j, diff, d
    return Analysis(
        cells=n,
        signatures=len(np.unique(sig)),
        pairs=n * (n - 1) // 2,
        random_mean_abs_diff=_all_pairs_mean(acc),
        random_median_abs_diff=median,
        buckets=buckets,
        spearman=rho,
        spearman_api_distance=rho_api,
        neighbours=nearest_neighbours(acc, lambda k: dist[sig[k], sig].astype(float), rng),
        spearman_params=rho_params,
        neighbours_params=nearest_neighbours(acc, lambda k: np.abs(params - params[k]).astype(float), rng),
    )


def _all_pairs_mean(acc: np.ndarray) -> float:
    """The mean |a_i - a_j| over all pairs i < j, from the sorted values."""
    a = np.sort(acc)
    n = len(a)
    k = np.arange(n)
    return float((a * (2 * k - (n - 1))).sum() / (n * (n - 1) / 2))


def nearest_neighbours(acc: np.ndarray, distances: Callable[[int], np.ndarray],
                       rng: np.random.Generator) -> Neighbours:
    """For each cell ``k``: |Δacc| to a nearest other cell by
    ``distances(k)`` (its distances to every cell; ties broken at random)
    and to a random other cell."""
    n = len(acc)
    nearest, random_, closest = np.empty(n), np.empty(n), np.empty(n)
    for k in range(n):
        row = distances(k)
        row[k] = np.inf
        best = row.min()
        candidates = np.flatnonzero(row == best)
        other = rng.integers(n - 1)
        other += other >= k  # any cell but k
        nearest[k] = abs(acc[k] - acc[rng.choice(candidates)])
        random_[k] = abs(acc[k] - acc[other])
        closest[k] = best
    wins = (nearest < random_).sum() + 0.5 * (nearest == random_).sum()
    return Neighbours(n, float(nearest.mean()), float(np.median(nearest)), float(random_.mean()),
                      float(np.median(random_)), float(wins / n), float(closest.mean()))


# -- the command ---------------------------------------------------------------------------------


def run_study(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="alphanas bench nb201-study",
        description="Property distance of NAS-Bench-201 cells against the difference of their accuracies.",
    )
    parser.add_argument("--table", default=DEFAULT_TABLE, help=f"the benchmark CSV (default {DEFAULT_TABLE})")
    parser.add_argument("--cells", type=_positive, default=2000,
                        help=f"random cells of the table to compare, all pairs (default 2000, at most {MAX_CELLS})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    parser.add_argument("--metric", default="cifar10_test_acc", help="accuracy column (default cifar10_test_acc)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"folder for study.json and study.png (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    report = study(args.table, args.cells, args.seed, args.metric)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print_report(report)
    (out / "study.json").write_text(json.dumps({**report, "environment": environment()}, indent=2) + "\n")
    print(f"\nwrote {out / 'study.json'}")
    if plot(report, out / "study.png"):
        print(f"wrote {out / 'study.png'}")
    return 0


def study(table_path: str, cells: int, seed: int, metric: str) -> dict[str, Any]:
    """The whole study as JSON-able data."""
    from alphanas.evaluation.table import TableError, load_table
    from alphanas.properties.api import distance as api_distance

    if cells < 2 or cells > MAX_CELLS:
        raise AlphanasError(f"--cells {cells}: compare between 2 and {MAX_CELLS} cells",
                            hint="all pairs of the cells are held in memory at once")
    started = time.perf_counter()
    table = load_table(table_path)
    column = table.column(metric)
    if table.metrics[metric] != "max":
        raise TableError(f"column {metric} is not an accuracy (better when {table.metrics[metric]}imised)",
                         hint=f"choose a *_acc column: {', '.join(c for c, d in table.metrics.items() if d == 'max')}")
    if cells > len(table):
        raise AlphanasError(f"--cells {cells}: the table has {len(table)} cells")
    rows = sorted(random.Random(seed).sample(range(len(table)), cells))
    archs = [table.archs[r] for r in rows]
    acc = np.array([column[r] for r in rows])

    t = time.perf_counter()
    props = [cell_properties(a) for a in archs]
    property_seconds = time.perf_counter() - t

    signatures = sorted(set(props), key=lambda p: (p.depth, p.mixing))
    number = {p: k for k, p in enumerate(signatures)}
    sig = np.array([number[p] for p in props])
    s = len(signatures)
    dist = np.array([[property_distance(a, b) for b in signatures] for a in signatures])
    # one representative arch per signature, for the search's own distance
    rep = {number[p]: cell_region_properties(a) for p, a in zip(props, archs)}
    api = np.array([[api_distance(rep[x], rep[y]) + api_distance(rep[y], rep[x]) for y in range(s)]
                    for x in range(s)])

    rng = np.random.default_rng(seed)
    params = np.array([cell_params(a) for a in archs])
    everything = analyse(acc, sig, params, dist, api, rng)
    connected = np.array([p.connected for p in props])
    joined = analyse(acc[connected], sig[connected], params[connected], dist, api, rng)
    return {
        "benchmark": "nb201-study",
        "command": f"alphanas bench nb201-study --table {table_path} --cells {cells} --seed {seed} --metric {metric}",
        "table": str(table_path),
        "table_rows": len(table),
        "metric": metric,
        "seed": seed,
        "rows": rows,
        "distance": "|depth_a - depth_b| + number of differing entries of the 4x4 mixing matrices "
                    "(cell input -> cell output, first cell instance: 16 channels, 32x32)",
        "all_cells": asdict(everything),
        "connected_cells": asdict(joined),
        "signatures": [
            {"depth": p.depth, "mixing": [list(p.mixing[r * 4:(r + 1) * 4]) for r in range(4)],
             "cells": int((sig == k).sum()),
             "mean_acc": float(acc[sig == k].mean()), "std_acc": float(acc[sig == k].std())}
            for k, p in enumerate(signatures)
        ],
        "seconds": {"properties": round(property_seconds, 2), "total": round(time.perf_counter() - started, 2)},
    }


def print_report(report: dict[str, Any]) -> None:
    metric = report["metric"]
    print(f"NAS-Bench-201: property distance against |Δ {metric}| "
          f"({report['all_cells']['cells']} random cells of {report['table_rows']}, seed {report['seed']})")
    print(f"distance: {report['distance']}")
    for key, title in (("all_cells", "all cells"), ("connected_cells", "connected cells (output depends on input)")):
        a = report[key]
        print(f"\n{title}: {a['cells']} cells, {a['signatures']} distinct properties, {a['pairs']:,} pairs")
        rows: list[Sequence[Any]] = [
            [b["distance"], f"{b['pairs']:,}", b["mean_abs_diff"], b["median_abs_diff"]] for b in a["buckets"]
        ]
        rows.append(["random pairs", f"{a['pairs']:,}", a["random_mean_abs_diff"], a["random_median_abs_diff"]])
        print_table(["distance", "pairs", "mean |Δacc|", "median |Δacc|"], rows)
        nb = a["neighbours"]
        print(f"Spearman(distance, |Δacc|) = {a['spearman']:.3f}; with the search's distance (both ways) "
              f"{a['spearman_api_distance']:.3f}")
        print(f"nearest neighbour by properties: mean |Δacc| {nb['nearest_mean']:.2f} (median "
              f"{nb['nearest_median']:.2f}) vs a random cell {nb['random_mean']:.2f} (median "
              f"{nb['random_median']:.2f}); closer than the random cell for {100 * nb['nearest_closer']:.1f}% "
              f"of cells; mean distance to it {nb['mean_nearest_distance']:.2f}")
        pb = a["neighbours_params"]
        print(f"baseline, parameter count as the distance: Spearman {a['spearman_params']:.3f}; nearest "
              f"neighbour mean |Δacc| {pb['nearest_mean']:.2f} (median {pb['nearest_median']:.2f}), closer "
              f"than the random cell for {100 * pb['nearest_closer']:.1f}% of cells")
    print(f"\ntime: properties {report['seconds']['properties']} s, total {report['seconds']['total']} s")


def plot(report: dict[str, Any], path: Path) -> bool:
    """Mean |Δacc| by property distance (all and connected cells) against
    random pairs, and the nearest-neighbour comparison. False (and a note)
    when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return False
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [3, 3, 2]})
    metric = report["metric"]
    for ax, key, title in ((axes[0], "all_cells", "all cells"), (axes[1], "connected_cells", "connected cells")):
        a = report[key]
        xs = [b["distance"] for b in a["buckets"]]
        ax.bar(xs, [b["mean_abs_diff"] for b in a["buckets"]], color="#4a7ab7", label="pairs at this distance")
        ax.axhline(a["random_mean_abs_diff"], color="#c0392b", linestyle="--", label="random pairs")
        for b in a["buckets"]:
            ax.annotate(f"{b['pairs']:,}", (b["distance"], b["mean_abs_diff"]), ha="center", va="bottom",
                        fontsize=6, rotation=90, xytext=(0, 2), textcoords="offset points")
        ax.set_title(f"{title}: {a['cells']} cells, {a['pairs']:,} pairs\n"
                     f"Spearman(distance, |Δacc|) = {a['spearman']:.2f}", fontsize=9)
        ax.set_xlabel("property distance (|Δdepth| + differing mixing entries)")
        ax.set_ylabel(f"mean |Δ {metric}| (points)")
        ax.legend(fontsize=8)
    ax = axes[2]
    groups = [("all", report["all_cells"]), ("connected", report["connected_cells"])]
    series = [
        ("random cell", "#c0392b", lambda a: a["neighbours"]["random_mean"]),
        ("nearest by properties", "#4a7ab7", lambda a: a["neighbours"]["nearest_mean"]),
        ("nearest by parameters", "#7f8c8d", lambda a: a["neighbours_params"]["nearest_mean"]),
    ]
    width = 0.26
    for k, (label, color, value) in enumerate(series):
        xs = [g + (k - 1) * width for g in range(len(groups))]
        ax.bar(xs, [value(a) for _, a in groups], width, color=color, label=label)
    ax.set_xticks(range(len(groups)), [f"{name} cells" for name, _ in groups])
    ax.set_ylabel(f"mean |Δ {metric}| to the other cell")
    ax.set_title("each cell against one other cell", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle("NAS-Bench-201: do cells with similar properties (depth, mixing) perform alike?", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
