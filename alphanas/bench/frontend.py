"""Benchmarks of the front end: text to analysed program, and PyTorch to program.

``alphanas bench frontend`` times, for each zoo model, the stages a search
runs on every candidate: parsing, analysis (shape inference and costs), both
together, printing, canonical hashing and PyTorch code generation. The
issue's target: ResNet-50 parse + analyze at most 20 ms median.

``alphanas bench import`` times ``alphanas.pytorch.fx.import_model`` on a
torchvision model (ResNet-50 by default); the target is at most 2 s median.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from alphanas.bench import Timing, print_table, time_call, write_json
from alphanas.lang.errors import ProgramError
from alphanas.lang.ir import Program

#: The stages timed per model, in table order.
STAGES = ("parse", "analyze", "parse+analyze", "print", "hash", "codegen")

FRONTEND_TARGET_MS = 20.0
IMPORT_TARGET_S = 2.0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def stage_functions(name: str, text: str) -> tuple[Program, dict[str, Callable[[], Any]]]:
    """The program of a text, and what each stage runs for it (inputs
    prepared outside the timed call, so each stage times only itself)."""
    from alphanas import analyze, parse, print_program
    from alphanas.lang.canonical import program_hash
    from alphanas.pytorch.codegen import module_source

    file = f"zoo:{name}"
    program = parse(text, file)
    inst = analyze(program)
    return program, {
        "parse": lambda: parse(text, file),
        "analyze": lambda: analyze(program),
        "parse+analyze": lambda: analyze(parse(text, file)),
        "print": lambda: print_program(program),
        "hash": lambda: program_hash(program),
        "codegen": lambda: module_source(program, inst),
    }


def _model_names(requested: list[str] | None) -> list[str]:
    from alphanas import zoo

    available = zoo.names()
    if not requested:
        # ResNet-50 first: it is the one the target is about
        return sorted(available, key=lambda n: (n != "resnet50", n))
    for name in requested:
        zoo.path(name)  # a ProgramError naming the closest model if unknown
    return requested


def run_frontend(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="alphanas bench frontend",
        description="Median and p90 times of parse, analyze, print, hash and codegen of zoo models.",
    )
    parser.add_argument("--repeats", type=_positive, default=50, help="timed runs per stage (default 50)")
    parser.add_argument("--warmup", type=_non_negative, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="zoo models (default: all)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="stages to time")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)

    from alphanas import zoo

    results: list[dict[str, Any]] = []
    rows = []
    for name in _model_names(args.models):
        text = zoo.text(name)
        program, functions = stage_functions(name, text)
        nodes = sum(len(g.nodes) for g in program.graphs())
        row: list[Any] = [name, len(text.splitlines()), nodes]
        for stage in args.stages:
            timing = time_call(functions[stage], args.repeats, args.warmup)
            results.append({"model": name, "stage": stage, **timing.as_ms()})
            row.append(f"{timing.median * 1e3:.2f} / {timing.p90 * 1e3:.2f}")
        rows.append(row)

    print(f"front end, milliseconds: median / p90 of {args.repeats} runs after {args.warmup} warm-up runs")
    print_table(["model", "lines", "nodes", *args.stages], rows)
    report: dict[str, Any] = {
        "benchmark": "frontend",
        "repeats": args.repeats,
        "warmup": args.warmup,
        "results": results,
    }
    target = next(
        (r for r in results if r["model"] == "resnet50" and r["stage"] == "parse+analyze"), None
    )
    if target is not None:
        ok = target["median_ms"] <= FRONTEND_TARGET_MS
        verdict = "meets the target" if ok else "is OVER the target"
        print(
            f"\nResNet-50 parse + analyze: median {target['median_ms']:.2f} ms "
            f"{verdict} of {FRONTEND_TARGET_MS:g} ms"
        )
        report["target"] = {"what": "resnet50 parse+analyze median", "limit_ms": FRONTEND_TARGET_MS,
                            "median_ms": target["median_ms"], "met": ok}
    if args.json:
        write_json(args.json, report)
    return 0


def run_import(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="alphanas bench import",
        description="Median time of importing a PyTorch model with torch.fx.",
    )
    parser.add_argument("--model", default="torchvision:resnet50", help="torchvision:NAME or MODULE:CALLABLE")
    parser.add_argument("--input-shape", default="3,224,224", help="per-sample input shape (default 3,224,224)")
    parser.add_argument("--repeats", type=_positive, default=5, help="timed runs (default 5)")
    parser.add_argument(
        "--warmup", type=_non_negative, default=0,
        help="untimed runs after the first, cold call (which is reported apart) (default 0)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    try:
        shape = tuple(int(t) for t in args.input_shape.replace("x", ",").split(",") if t.strip())
    except ValueError:
        parser.error(f"--input-shape {args.input_shape!r} is not a shape like 3,224,224")

    try:
        from alphanas.pytorch.fx import import_model
    except ImportError as err:
        raise ProgramError(f"the import benchmark needs alphanas.pytorch.fx: {err}") from None

    # the first call also imports torchvision's code and warms caches
    start = time.perf_counter()
    result = import_model(args.model, shape)
    cold = time.perf_counter() - start
    timing: Timing = time_call(lambda: import_model(args.model, shape), args.repeats, args.warmup)
    median_s = timing.median
    ok = median_s <= IMPORT_TARGET_S
    print(f"import of {args.model} {list(shape)}: {result.summary()}")
    print_table(
        ["model", "first call s", "median s", "p90 s", "min s", "runs"],
        [[args.model, cold, timing.median, timing.p90, timing.min, len(timing.samples)]],
    )
    print(f"\nmedian {median_s:.3f} s {'meets the target' if ok else 'is OVER the target'} of {IMPORT_TARGET_S:g} s")
    if args.json:
        write_json(args.json, {
            "benchmark": "import",
            "model": args.model,
            "input_shape": list(shape),
            "first_call_ms": round(cold * 1e3, 4),
            "results": [{"model": args.model, "stage": "import", **timing.as_ms()}],
            "target": {"limit_s": IMPORT_TARGET_S, "median_s": round(median_s, 4), "met": ok},
        })
    return 0
