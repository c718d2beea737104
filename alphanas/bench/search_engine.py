"""Benchmark of the search engine: are children valid, and what does the
loop itself cost?

``alphanas bench search`` measures, for each variation strategy available
(``random_edit``; ``alphanas`` when :mod:`alphanas.variation.property_mutation` imports):

- **validity** — a serial search of ``--children`` children from
  ``zoo:resnet18_cifar`` at ``width=16`` with the analytic evaluator; then,
  for every child that reached the evaluator, whether it re-parses from its
  stored text, shape-checks, builds as a torch module
  (:func:`alphanas.pytorch.codegen.build`) and runs a forward pass on a batch of 2.
  Children the variation could not make are counted apart;
- **overhead** — children per second with a zero-cost evaluator (metrics
  read off the IR: statement count and text length, no analysis, no torch),
  with the serial executor and with the process executor at 2 workers: the
  time the engine spends per child in selection, variation, hashing, the
  store and the executor. Beside the wall clock, the search process's own
  CPU time: on a busy machine it is the steadier measure (with the serial
  executor it is the whole engine's; with workers, theirs is not in it).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from alphanas.bench import print_table, write_json
from alphanas.evaluation.evaluator import EvalContext, Evaluation, Fidelity
from alphanas.lang.ir import Program

SEED_PROGRAM = "zoo:resnet18_cifar"
SEED_PARAMS = {"width": 16}


@dataclass(frozen=True)
class ZeroCostEvaluator:
    """Metrics read off the IR without analysis: the number of statements
    (as ``params``) and of characters of the model's text (as ``flops``).
    What is left of an evaluation's cost is the engine's."""

    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        statements = sum(len(g.nodes) for g in program.graphs())
        return Evaluation("ok", {"params": float(statements), "flops": float(len(program.text))})


def available_strategies() -> list[str]:
    """``random_edit``, and ``alphanas`` when property-guided mutation is installed."""
    strategies = ["random_edit"]
    try:
        import alphanas.variation.property_mutation  # noqa: F401
    except ImportError:
        pass
    else:
        strategies.append("alphanas")
    return strategies


def _config(run_dir: Path, strategy: str, children: int, seed: int, evaluator: str, executor: dict[str, Any]) -> Any:
    from alphanas.search.config import SearchConfig

    data = {
        "seed_program": SEED_PROGRAM,
        "seed_params": SEED_PARAMS,
        "run_dir": str(run_dir),
        "seed": seed,
        "population": 32,
        "objectives": ["params", "flops"],
        "strategy": {"variation": strategy, "selection": "nsga2"},
        "budget": {"children": children},
        "executor": executor,
        "evaluator": {"kind": evaluator},
    }
    return SearchConfig.from_dict(data, source="alphanas bench search")


def _check_child(text: str) -> dict[str, bool]:
    """Which stages a stored child passes, in order; a stage after a failed one fails too."""
    import torch

    from alphanas.lang.analysis import analyze
    from alphanas.lang.errors import AlphanasError
    from alphanas.lang.parse import parse
    from alphanas.pytorch.codegen import build

    passed = {"reparse": False, "shape_check": False, "build": False, "forward": False}
    try:
        program = parse(text, "<child>")
        passed["reparse"] = True
        inst = analyze(program)
        passed["shape_check"] = True
    except AlphanasError:
        return passed
    try:
        module = build(program, inst).eval()
        passed["build"] = True
        with torch.no_grad():
            out = module(torch.randn(2, *program.model.inputs[0].shape))
        passed["forward"] = tuple(out.shape) == (2, *inst.output_shape)
    except Exception:  # a child that does not build or run is what this counts
        pass
    return passed


def validity(strategy: str, children: int, seed: int, folder: Path) -> dict[str, Any]:
    from alphanas.search import loop as search
    from alphanas.search.store import Store

    config = _config(folder / f"validity-{strategy}", strategy, children, seed, "analytic", {"kind": "serial"})
    start = time.perf_counter()
    result = search.run_search(config, progress=False)
    search_seconds = time.perf_counter() - start
    with Store.open(config.run_dir) as store:
        made = [c for c in store.candidates() if c.id > 0 and c.phase == "evaluation"]
        variation_failed = store.counts()["variation_failed"]
    counts = {"reparse": 0, "shape_check": 0, "build": 0, "forward": 0}
    for c in made:
        assert c.program is not None
        for stage, ok in _check_child(c.program).items():
            counts[stage] += ok
    n = len(made)
    return {
        "strategy": strategy,
        "children": n,
        "variation_failed": variation_failed,
        "search_seconds": round(search_seconds, 2),
        "children_per_second": round(n / search_seconds, 2) if search_seconds else None,
        "hypervolume": round(result.hypervolume, 4),
        **{f"{stage}_pct": round(100.0 * k / n, 2) if n else None for stage, k in counts.items()},
    }


def overhead(strategy: str, children: int, seed: int, folder: Path, executor: dict[str, Any]) -> dict[str, Any]:
    from alphanas.search import loop as search

    name = f"overhead-{strategy}-{executor['kind']}"
    config = _config(folder / name, strategy, children, seed, "alphanas.bench.search_engine:ZeroCostEvaluator", executor)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = search.run_search(config, progress=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "strategy": strategy,
        "executor": f"{executor['kind']} x{executor.get('workers', 1)}",
        "children": result.children,
        "variation_failed": result.variation_failed,
        "seconds": round(seconds, 2),
        "children_per_second": round(result.children / seconds, 2),
        # the search process's own CPU time: on a busy machine the wall
        # clock also counts the time others took the core (with workers it
        # leaves out theirs, so only the serial row is the whole engine)
        "cpu_seconds": round(cpu, 2),
        "children_per_cpu_second": round(result.children / cpu, 2) if cpu else None,
    }


def run_search(argv: list[str]) -> int:
    """``alphanas bench search [--children N] [--strategies S ...] [--json FILE]``."""
    parser = argparse.ArgumentParser(prog="alphanas bench search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=500, help="children per validity run (default 500)")
    parser.add_argument("--overhead-children", type=int, default=200,
                        help="children per overhead run (default 200)")
    parser.add_argument("--strategies", nargs="+", help="variation strategies (default: every one available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-validity", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    strategies = args.strategies or available_strategies()

    report: dict[str, Any] = {"benchmark": "search", "seed_program": f"{SEED_PROGRAM} width=16",
                              "validity": [], "overhead": []}
    with tempfile.TemporaryDirectory(prefix="alphanas-bench-search-") as tmp:
        folder = Path(tmp)
        if not args.skip_validity:
            for strategy in strategies:
                report["validity"].append(validity(strategy, args.children, args.seed, folder))
            print(f"validity: serial search from {SEED_PROGRAM} (width 16), analytic evaluator; "
                  "% of the children that reached the evaluator")
            print_table(
                ["strategy", "children", "var. failed", "re-parse %", "shape-check %", "build %", "forward %",
                 "children/s"],
                [[r["strategy"], r["children"], r["variation_failed"], r["reparse_pct"], r["shape_check_pct"],
                  r["build_pct"], r["forward_pct"], r["children_per_second"]] for r in report["validity"]],
            )
            print()
        if not args.skip_overhead:
            for strategy in strategies:
                for executor in ({"kind": "serial"}, {"kind": "process", "workers": 2}):
                    report["overhead"].append(overhead(strategy, args.overhead_children, args.seed, folder, executor))
            print("overhead: zero-cost evaluator (what is left is the engine's time)")
            print_table(
                ["strategy", "executor", "children", "var. failed", "seconds", "children/s", "search CPU s",
                 "children/CPU s"],
                [[r["strategy"], r["executor"], r["children"], r["variation_failed"], r["seconds"],
                  r["children_per_second"], r["cpu_seconds"], r["children_per_cpu_second"]] for r in report["overhead"]],
            )
    if args.json:
        write_json(args.json, report)
    return 0
