"""Benchmarks: ``alphanas bench NAME [options]``.

A benchmark is a function ``run(argv) -> int`` that parses its own options,
times something, prints a small table and, with ``--json FILE``, writes its
numbers as JSON. Benchmarks only report; nothing here asserts a timing.

``alphanas bench list`` prints the registry. The helpers below (timing with
warm-up, percentiles, tables, JSON) are shared by the benchmark modules.
"""

from __future__ import annotations

import difflib
import gc
import importlib
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from alphanas.lang import files
from alphanas.lang.errors import ProgramError

__all__ = [
    "BENCHMARKS",
    "Timing",
    "environment",
    "print_table",
    "run_benchmark",
    "time_call",
    "write_json",
]


@dataclass(frozen=True)
class Benchmark:
    name: str
    #: ``module:function`` of the runner, imported only when it runs
    target: str
    doc: str


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "frontend",
            "alphanas.bench.frontend:run_frontend",
            "parse, analyze, print, hash and codegen of the zoo models (target: ResNet-50 parse+analyze <= 20 ms)",
        ),
        Benchmark(
            "import",
            "alphanas.bench.frontend:run_import",
            "torch.fx import of torchvision:resnet50 into a program (target <= 2 s)",
        ),
        Benchmark(
            "properties",
            "alphanas.bench.properties:run_properties",
            "shapes, depth, mixing and resources of every block instance and the model body of resnet50 and "
            "vit_small (target: total median <= 50 ms)",
        ),
        Benchmark(
            "agreement",
            "alphanas.bench.agreement:run_agreement",
            "agreement of the abstract properties with the concrete reference",
        ),
        Benchmark(
            "synth",
            "alphanas.bench.synthesis:run_synth",
            "the synthesizer on self and mutated problems from random regions of resnet18, resnet50, "
            "mobilenet_v2 and vit_tiny, with Z3 and with sample-and-filter (targets: self >= 99%, median "
            "<= 50 ms, p95 <= 1 s)",
        ),
        Benchmark(
            "search",
            "alphanas.bench.search_engine:run_search",
            "search engine: validity of children (re-parse, shape-check, build, forward) per strategy, and "
            "children per second with a zero-cost evaluator",
        ),
        Benchmark(
            "torchvision",
            "alphanas.bench.torchvision_sweep:run_torchvision",
            "import every torchvision classifier and compare parameters and outputs with the original",
        ),
        Benchmark(
            "training",
            "alphanas.bench.training:run_training",
            "training throughput of resnet18_cifar through alphanas.evaluation.train vs a plain PyTorch loop on the same "
            "module (target: ratio >= 0.95)",
        ),
        Benchmark(
            "nb201",
            "alphanas.bench.nb201:run_nb201",
            "NAS-Bench-201: search strategies (random sampling, aging evolution, random edits, αNAS with each "
            "selection) over many seeds; best accuracy and hypervolume ratio to the true front at 50-500 queries",
        ),
        Benchmark(
            "nb201-study",
            "alphanas.bench.nb201_study:run_study",
            "NAS-Bench-201: do cells with similar properties (depth, mixing) have similar accuracy? "
            "Property distance against accuracy difference over pairs of random cells",
        ),
    )
}


def run_benchmark(name: str, argv: list[str]) -> int:
    """Run the benchmark ``name`` with its command-line options; ``list``
    prints the benchmarks. Returns the exit status."""
    if name == "list":
        width = max(map(len, BENCHMARKS))
        for b in BENCHMARKS.values():
            print(f"{b.name:{width}}  {b.doc}")
        return 0
    if name not in BENCHMARKS:
        close = difflib.get_close_matches(name, list(BENCHMARKS), n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise ProgramError(
            f"no benchmark {name!r}",
            hint=f"{guess}the benchmarks are {', '.join(BENCHMARKS)} (`alphanas bench list`)",
        )
    _check_outputs(argv)
    module, function = BENCHMARKS[name].target.split(":")
    runner: Callable[[list[str]], int] = getattr(importlib.import_module(module), function)
    return runner(list(argv))


def _check_outputs(argv: Sequence[str]) -> None:
    """The files (``--json FILE``) and folders (``--out DIR``) a benchmark
    will write, checked before it runs for minutes."""
    for k, arg in enumerate(argv):
        flag, _, value = arg.partition("=")
        if flag in ("--json", "--out") and not value and k + 1 < len(argv):
            value = argv[k + 1]
        if flag == "--json" and value:
            files.check_output(value, "JSON report", error=ProgramError)
        elif flag == "--out" and value:
            files.check_folder(value, "output folder (--out)", error=ProgramError)


# -- shared helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Wall-clock times of repeated runs of one thing, in seconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        """The 90th percentile (nearest rank)."""
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]

    @property
    def min(self) -> float:
        return min(self.samples)

    def as_ms(self) -> dict[str, float]:
        return {
            "median_ms": round(self.median * 1e3, 4),
            "p90_ms": round(self.p90 * 1e3, 4),
            "min_ms": round(self.min * 1e3, 4),
            "repeats": len(self.samples),
        }


def time_call(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed.
    The garbage collector runs before the timed runs, not during a call
    it would not otherwise interrupt."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        fn()
    gc.collect()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(tuple(samples))


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]], file: Any = None) -> None:
    """A plain text table: the first column left-aligned, the rest right-aligned."""
    cells = [list(map(str, header))] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = file or sys.stdout
    for k, row in enumerate(cells):
        line = "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        print(line.rstrip(), file=out)
        if k == 0:
            print("  ".join("-" * w for w in widths), file=out)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def environment() -> dict[str, Any]:
    """Where the numbers were taken."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "system": platform.system(),
    }


def write_json(path: str | Path, report: dict[str, Any]) -> None:
    data = {**report, "environment": environment()}
    files.write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n", "JSON report", error=ProgramError)
    print(f"wrote {path}")


def _jsonable(v: Any) -> Any:
    if isinstance(v, Timing):
        return v.as_ms()
    if hasattr(v, "__dataclass_fields__"):
        return asdict(v)
    raise TypeError(f"cannot write {type(v).__name__} as JSON")
