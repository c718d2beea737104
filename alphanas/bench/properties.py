"""Benchmark of property inference: ``alphanas bench properties``.

For each model (by default ``zoo:resnet50`` and ``zoo:vit_small``), one run
computes the shapes, depth, mixing and resources of every distinct block
instance and of the model body (:func:`alphanas.properties.api.whole_graph_properties`),
on an analysis made beforehand (analysis is timed by ``alphanas bench
frontend``). Each run is timed per model; the total of a repeat is the sum
over the models, and the table gives medians over the repeats after warm-up,
and, apart, the first run of the process (which fills per-process caches).
The issue's target: total median at most 50 ms.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from alphanas.bench import Timing, print_table, write_json
from alphanas.bench.frontend import _non_negative, _positive

TARGET_MS = 50.0
DEFAULT_MODELS = ("resnet50", "vit_small")


def _workload(name: str) -> tuple[int, Any]:
    """The number of graphs and a function computing all their properties."""
    from alphanas import analyze, zoo
    from alphanas.lang.regions import block_instances
    from alphanas.properties.api import whole_graph_properties

    program = zoo.load(name)
    root = analyze(program)
    instances = [*block_instances(program, root), root]

    def run() -> list[Any]:
        return [whole_graph_properties(program, inst) for inst in instances]

    return len(instances), run


def run_properties(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="alphanas bench properties",
        description="Median time of shapes + depth + mixing + resources of every block instance and the model body.",
    )
    parser.add_argument("--repeats", type=_positive, default=20, help="timed runs (default 20)")
    parser.add_argument("--warmup", type=_non_negative, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--models", nargs="+", metavar="NAME", default=list(DEFAULT_MODELS),
                        help="zoo models (default: resnet50 vit_small)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)

    from alphanas import zoo

    for name in args.models:
        zoo.path(name)  # a ProgramError naming the closest model if unknown
    workloads = {name: _workload(name) for name in args.models}
    # the first run fills per-process caches (the op library's mixing
    # matrices are memoised by op, attributes and shapes): reported apart
    first: dict[str, float] = {}
    for name, (_, fn) in workloads.items():
        start = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - start
    for _ in range(args.warmup):
        for _, fn in workloads.values():
            fn()
    gc.collect()
    samples: dict[str, list[float]] = {name: [] for name in workloads}
    totals: list[float] = []
    for _ in range(args.repeats):
        total = 0.0
        for name, (_, fn) in workloads.items():
            start = time.perf_counter()
            fn()
            took = time.perf_counter() - start
            samples[name].append(took)
            total += took
        totals.append(total)

    rows = []
    results = []
    for name, (graphs, _) in workloads.items():
        t = Timing(tuple(samples[name]))
        rows.append([name, graphs, first[name] * 1e3, t.median * 1e3, t.p90 * 1e3, t.min * 1e3])
        results.append({"model": name, "graphs": graphs, "first_run_ms": round(first[name] * 1e3, 4), **t.as_ms()})
    total_t = Timing(tuple(totals))
    rows.append(["total", sum(g for g, _ in workloads.values()), sum(first.values()) * 1e3, total_t.median * 1e3,
                 total_t.p90 * 1e3, total_t.min * 1e3])
    print(f"properties (shapes + depth + mixing + resources of every block instance and the model body), "
          f"milliseconds over {args.repeats} runs after {args.warmup} warm-up runs")
    print_table(["model", "graphs", "first run ms", "median ms", "p90 ms", "min ms"], rows)
    median_ms = statistics.median(totals) * 1e3
    ok = median_ms <= TARGET_MS
    print(f"\ntotal median {median_ms:.2f} ms {'meets the target' if ok else 'is OVER the target'} of {TARGET_MS:g} ms")
    if args.json:
        write_json(args.json, {
            "benchmark": "properties",
            "repeats": args.repeats,
            "warmup": args.warmup,
            "results": results,
            "total": total_t.as_ms(),
            "target": {"what": "total median", "limit_ms": TARGET_MS, "median_ms": round(median_ms, 4), "met": ok},
        })
    return 0
