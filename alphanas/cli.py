"""The ``alphanas`` command line.

Each subcommand is a small function taking parsed arguments. A user's mistake
(an :class:`~alphanas.errors.AlphanasError`) is printed without a traceback
and ends the command with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alphanas.errors import AlphanasError, ProgramError

EXIT_USER_ERROR = 2


# -- shared helpers -------------------------------------------------------------------------


def _shape_arg(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 3,224,224") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape of positive sizes like 3,224,224")
    return dims


def load_program(spec: str) -> Any:
    """A program from a file path, or a zoo model as ``zoo:NAME``."""
    from alphanas import parse_file

    if spec.startswith("zoo:"):
        from alphanas import zoo

        return zoo.load(spec[4:])
    if not Path(spec).exists():
        hint = "give a path to a .arch file, or zoo:NAME for a seed model (see `alphanas zoo`)"
        raise ProgramError(f"no such file: {spec}", hint=hint)
    return parse_file(spec)


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


# -- subcommands --------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from alphanas import analyze
    from alphanas.summary import check_report

    program = load_program(args.program)
    report = check_report(program, analyze(program))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        rows = [("value", "op", "shape", "params", "FLOPs")]
        for r in report["statements"]:
            indent = "  " * r["depth"]
            rows.append((indent + r["value"], r["op"], "[" + ", ".join(map(str, r["shape"])) + "]",
                         _human(r["params"]), _human(r["flops"])))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:
            print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        t = report["total"]
        print()
        print(f"output shape: {report['output_shape']}")
        print(f"parameters:   {t['params']:,}")
        print(f"FLOPs:        {t['flops']:,}  (conv/matmul {t['matmul_flops']:,} + other {t['other_flops']:,}; "
              "per sample, 1 multiply-add = 2 FLOPs)")
        print(f"activations:  {t['activations']:,} elements")
    return 0


def cmd_format(args: argparse.Namespace) -> int:
    from alphanas import print_program

    text = print_program(load_program(args.program))
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from alphanas import analyze
    from alphanas.codegen import module_source

    program = load_program(args.program)
    source, top = module_source(program, analyze(program))
    Path(args.output).write_text(source)
    print(f"wrote {args.output}: class {top} (imports only torch)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from alphanas import print_program
    from alphanas.fx_import import import_model

    result = import_model(args.model, args.input_shape, name=args.name)
    text = print_program(result.program)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: model {result.program.model.name}, {result.summary()}")
    else:
        sys.stdout.write(text)
    if args.weights:
        import torch

        torch.save(result.state_dict(), args.weights)
        print(f"wrote {args.weights}: the original weights under the program's parameter names")
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from alphanas import ops

    for _, op in sorted(ops.all_ops().items()):
        print(f"{op.signature():60s} {op.doc}")
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    from alphanas import zoo

    for name in zoo.names():
        print(name)
    return 0


def cmd_properties(args: argparse.Namespace) -> int:
    from alphanas import analyze
    from alphanas.properties import api
    from alphanas.regions import instances_of

    program = load_program(args.program)
    graph_name = args.block or program.model.name
    graph = api.graph_of(program, graph_name)
    region = api.parse_region(graph, args.region)
    root = analyze(program)
    instances = instances_of(program, graph_name, root)
    if not instances:
        raise ProgramError(f"block {graph_name} is never called by model {program.model.name}",
                           hint="a block's properties depend on the shapes of a call")
    whole = args.region is None
    results = []
    for inst in instances:
        props = api.whole_graph_properties(program, inst) if whole else api.region_properties(
            program, graph_name, region, inst)
        results.append((inst, props))
    if args.json:
        out = {
            "program": program.model.name,
            "graph": graph_name,
            "kind": "block" if args.block and graph_name != program.model.name else "model",
            "instances": [
                {"bindings": dict(inst.bindings),
                 "input_shapes": [list(inst.shapes[i]) for i in inst.graph.input_ids],
                 **api.to_json(props)}
                for inst, props in results
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    for k, (inst, props) in enumerate(results):
        if len(results) > 1:
            if k:
                print()
            bindings = ", ".join(f"{name}={v}" for name, v in inst.bindings.items()) or "-"
            shapes = ", ".join("[" + ", ".join(map(str, inst.shapes[i])) + "]" for i in inst.graph.input_ids)
            print(f"== instance {k + 1} of {len(results)}: {graph_name}({bindings}), inputs {shapes}")
        print(api.render(props))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from alphanas.bench import run_benchmark

    return run_benchmark(args.name, args.rest)


# -- the parser ---------------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alphanas",
        description="Neural architecture search where architectures are programs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="shapes, parameters and FLOPs of every statement")
    p.add_argument("program", help="a .arch file, or zoo:NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("format", help="print a program in canonical form")
    p.add_argument("program", help="a .arch file, or zoo:NAME")
    p.add_argument("-o", "--output", help="write here instead of standard output")
    p.set_defaults(run=cmd_format)

    p = sub.add_parser("export", help="write a program as a standalone PyTorch module")
    p.add_argument("program", help="a .arch file, or zoo:NAME")
    p.add_argument("-o", "--output", required=True, help="the .py file to write")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("import", help="trace a PyTorch model with torch.fx into a program")
    p.add_argument("model", help="torchvision:NAME (e.g. torchvision:resnet18) or MODULE:CALLABLE")
    p.add_argument("--input-shape", type=_shape_arg, default=(3, 224, 224), help="per-sample input shape, e.g. 3,224,224")
    p.add_argument("--name", help="name of the model in the program")
    p.add_argument("-o", "--output", help="the .arch file to write (default: standard output)")
    p.add_argument("--weights", help="also save the model's weights under the program's parameter names")
    p.set_defaults(run=cmd_import)

    p = sub.add_parser("ops", help="list the op library")
    p.set_defaults(run=cmd_ops)

    p = sub.add_parser("zoo", help="list the seed models (use them as zoo:NAME)")
    p.set_defaults(run=cmd_zoo)

    p = sub.add_parser("properties", help="shapes, depth, mixing and resources of a graph or region")
    p.add_argument("program", help="a .arch file, or zoo:NAME")
    p.add_argument("--block", metavar="NAME", help="a block (every distinct instance); default: the model body")
    p.add_argument("--region", metavar="OP..OP",
                   help="statements FIRST..LAST (node ids or names), or ID,ID,...; default: the whole graph")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_properties)

    p = sub.add_parser("bench", help="run a benchmark (see `alphanas bench list`)")
    p.add_argument("name", help="benchmark name, or `list`")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark")
    p.set_defaults(run=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except AlphanasError as err:
        print(err.render(), file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
