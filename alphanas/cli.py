"""The ``alphanas`` command line.

Each subcommand is a small function taking parsed arguments. A user's mistake
(an :class:`~alphanas.lang.errors.AlphanasError`) is printed without a traceback
and ends the command with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alphanas.lang.errors import AlphanasError, ProgramError
from alphanas.lang.files import check_output, read_text, write_text, writing
from alphanas.lang.ir import Loc
from alphanas.lang.limits import Limits, limited
from alphanas.zoo import load_program

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


def _ceiling_arg(text: str) -> int:
    try:
        value = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number like 1e12") from None
    if not 1 <= value < 1e30:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number below 1e30")
    return int(value)


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


# -- subcommands --------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from alphanas import analyze
    from alphanas.lang.summary import check_report

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

    if args.output:
        check_output(args.output, "program")
    text = print_program(load_program(args.program))
    if args.output:
        write_text(args.output, text, "program")
    else:
        sys.stdout.write(text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from alphanas.runs.commands import cmd_export_candidate, is_run_dir
    from alphanas.runs.export import export_program

    if is_run_dir(args.program):  # RUN_DIR --id ID [--weights W.pt]
        return cmd_export_candidate(args)
    if args.id is not None or args.weights is not None:
        raise ProgramError(f"--id and --weights name a candidate of a run, but {args.program} is not a run folder",
                           hint="alphanas export RUN_DIR --id ID -o model.py --weights model.pt")
    result = export_program(load_program(args.program), args.output)
    print(f"wrote {result.source}: class {result.class_name} (imports only torch)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from alphanas import print_program
    from alphanas.pytorch.fx import import_model

    for path, what in ((args.output, "program"), (args.weights, "weights file")):
        if path:
            check_output(path, what)  # before the model is traced
    result = import_model(args.model, args.input_shape, name=args.name, classes=args.classes)
    text = print_program(result.program)
    if args.output:
        write_text(args.output, text, "program")
        print(f"wrote {args.output}: model {result.program.model.name}, {result.summary()}")
    else:
        sys.stdout.write(text)
    if args.weights:
        import torch

        with writing(args.weights, "weights file") as weights:
            torch.save(result.state_dict(), weights)
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
    from alphanas.lang.regions import instances_of
    from alphanas.properties import api

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


def _print_search_result(result: Any) -> None:
    names = [k for k in (result.front[0].metrics if result.front else {})]
    print(f"run folder: {result.run_dir}")
    print(f"stopped by {result.stopped} after {result.seconds:.1f} s: {result.children} children evaluated, "
          f"{result.failed} evaluations failed, {result.variation_failed} children could not be made")
    print(f"Pareto front: {len(result.front)} candidates, hypervolume {result.hypervolume:.4f} "
          f"(pareto.csv, history.csv and run.sqlite in the run folder)")
    for c in result.front[:20]:
        metrics = ", ".join(f"{k}={c.metrics[k]:.6g}" for k in names if isinstance(c.metrics.get(k), int | float))
        print(f"  #{c.id} (generation {c.generation}, {c.operator}): {metrics}")
    if len(result.front) > 20:
        print(f"  ... and {len(result.front) - 20} more in pareto.csv")


def cmd_search(args: argparse.Namespace) -> int:
    from alphanas.search.config import load_config
    from alphanas.search.loop import run_search

    config = load_config(args.config, run_dir=args.run_dir)
    _print_search_result(run_search(config, progress=not args.quiet))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from alphanas.search.loop import resume

    config = None
    if args.config:  # replaces the stored config; a seed that failed is evaluated again
        from alphanas.search.config import load_config

        config = load_config(args.config)
    _print_search_result(resume(args.run_dir, config=config, progress=not args.quiet))
    return 0


_LEVELS = {"none": 0, "-": 0, "one": 1, "many": 2, "all": 3}


def _read_mixing(path: str, n_inputs: int) -> Any:
    """Mixing targets from a JSON file: the output of ``alphanas properties
    --json`` (the ``mixing`` list of its first instance is used), one
    instance of it, or such a list alone."""
    from alphanas.properties.mixing import Mixing

    hint = "give a JSON file like the output of `alphanas properties --json`"
    if not Path(path).exists():
        raise ProgramError(f"no such file: {path}", hint=hint)
    text = read_text(path, "mixing file", error=ProgramError, hint=hint)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProgramError(f"not JSON: {err.msg}", Loc(path, err.lineno, err.colno), text=text, hint=hint) from None
    except RecursionError:
        raise ProgramError("not JSON this program can read: it is nested too deeply", Loc(path, 1, 1),
                           hint=hint) from None
    if isinstance(data, dict) and data.get("instances"):
        instances = data["instances"]  # `alphanas properties --json`: its first instance
        data = instances[0] if isinstance(instances, list) else instances
    entries = data.get("mixing") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ProgramError(f"{path}: expected a list of mixing entries or an object with a 'mixing' list")
    pairs = {}
    for k, e in enumerate(entries):
        try:
            i = int(e.get("input_index", 0))
            matrix = tuple(tuple(_LEVELS[str(v).lower()] for v in row) for row in e["matrix"])
        except (KeyError, AttributeError, TypeError, ValueError, OverflowError) as err:
            raise ProgramError(
                f"{path}: mixing entry {k} is malformed ({err!r})",
                hint='each entry needs "input_index" and "matrix" (rows of "none"/"one"/"many"/"all")',
            ) from None
        if not 0 <= i < n_inputs:
            raise ProgramError(f"{path}: mixing entry {k} names input {i}, but there are {n_inputs} inputs")
        pairs[(i, 0)] = matrix
    return Mixing.of(pairs)


def cmd_synth(args: argparse.Namespace) -> int:
    from alphanas.properties.depth import Depth
    from alphanas.properties.mixing import Mixing
    from synth import Budgets, Problem, synthesize
    from synth.grammar import GrammarSpace

    inputs = tuple(args.input)
    depth = Depth({(i, 0): args.min_depth for i in range(len(inputs))}) if args.min_depth else Depth()
    mixing = _read_mixing(args.mixing, len(inputs)) if args.mixing else Mixing.of({})
    budgets = Budgets(params=args.max_params, flops=args.max_flops, memory=args.max_memory)
    problem = Problem(inputs, tuple(args.output), depth, mixing, budgets)
    if args.space:
        if not args.rule:
            raise ProgramError("--space needs --rule", hint="name the rule whose sentences are regions, e.g. --rule cell")
        space = GrammarSpace.load(args.space, args.rule)
    else:
        space = None
    result = synthesize(problem, space, seed=args.seed, time_limit=args.time_limit, steps=args.steps,
                        max_ops=args.max_ops,
                        objective=args.objective)
    if args.json:
        from alphanas.properties.api import to_json

        if result.ok:
            out = {"ok": True, "program": result.text, "structure": result.structure, "sizes": dict(result.sizes),
                   "properties": to_json(result.properties), "stats": result.stats.as_dict()}
        else:
            out = {"ok": False, "proven": result.proven, "reasons": list(result.reasons), "stats": result.stats}
        print(json.dumps(out, indent=2))
    elif result.ok:
        from alphanas.properties.api import render

        sys.stdout.write(result.text)
        print()
        print(render(result.properties))
        st = result.stats
        print(f"\nsynthesized in {1e3 * st.seconds:.0f} ms: {st.structures} structures, {st.solver_calls} solver calls")
    else:
        print(result.render())
    return 0 if result.ok else 1


def _named_shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    name, _, shape = text.rpartition("=")
    return (name.strip() or "x"), _shape_arg(shape)


def cmd_space(args: argparse.Namespace) -> int:
    from alphanas.variation.space import ProgramSpace
    from alphanas.variation.space_diagnostics import (
        context_from_program,
        context_from_shapes,
        diagnose,
        render,
    )

    if args.diff_rounds:
        from alphanas.runs.space_rounds import diff_rounds

        if not args.run_dir:
            raise ProgramError("--diff-rounds needs --run", hint="name the run folder whose rounds to compare")
        print(diff_rounds(args.run_dir, *args.diff_rounds) or "the two rounds' grammars are the same")
        return 0
    if args.run_dir:
        return _space_evidence(args)
    rule = args.rule or _first_rule(args.grammar)
    space = ProgramSpace.load(args.grammar, rule, args.graph)
    if args.program:
        context = context_from_program(space, load_program(args.program), args.program)
    elif args.input or args.output:
        if not (args.input and args.output):
            raise ProgramError("--input and --output go together", hint="e.g. --input x=1,8,8 --output 10")
        context = context_from_shapes(args.input, args.output)
    else:
        context = None
    diagnosis = diagnose(space, context, {"params": args.max_params, "flops": args.max_flops},
                         samples=args.samples, draws=args.draws, seed=args.seed, time_limit=args.time_limit)
    print(json.dumps(diagnosis.as_dict(), indent=2) if args.json else render(diagnosis))
    return 1 if diagnosis.empty else 0


def _space_evidence(args: argparse.Namespace) -> int:
    """``alphanas space GRAMMAR --run RUN``: the evidence per choice of the
    grammar from the run's evaluations (rule and graph default to the run's [space])."""
    from alphanas.runs.inspection import load_run
    from alphanas.runs.space_rounds import evidence_of_run, render_rounds
    from alphanas.variation.space_evolution import GrammarChoices, render_evidence
    from synth.grammar import SpaceError

    run = load_run(args.run_dir)
    rule = args.rule or run.setting("space", "rule") or _first_rule(args.grammar)
    graph = args.graph or run.setting("space", "graph")
    text = read_text(args.grammar, "space grammar", error=SpaceError, hint="give the path of a .lark space grammar")
    evidence = evidence_of_run(GrammarChoices(text, rule, args.grammar, graph), run)
    if args.json:
        print(json.dumps({"used": evidence.used, "left_out": evidence.left_out, "front": list(evidence.front),
                          "choices": [{"choice": e.choice.key, "derivations": e.derivations, "front": e.on_front,
                                       "dominated": e.dominated,
                                       "effects": [vars(x) for x in e.effects]} for e in evidence.choices]},
                         indent=2))
        return 0
    print(render_evidence(evidence, f"space {Path(args.grammar).name}:{rule} over run {args.run_dir}"))
    rounds = render_rounds(run)
    if rounds:
        print("\n" + "\n".join(rounds))
    return 0


def _first_rule(path: str) -> str:
    """The rule a grammar starts from when none is named: ``start`` if it
    has one, else the first rule it defines."""
    from synth.grammar import SpaceError, defined_rules

    if not Path(path).exists():
        raise SpaceError(f"no such grammar file: {path}", hint="give the path of a .lark space grammar")
    text = read_text(path, "space grammar", error=SpaceError, hint="give the path of a .lark space grammar")
    rules = defined_rules(text)
    if not rules:
        raise SpaceError(f"{path} defines no rule", hint="a space grammar needs a rule whose sentences are bodies")
    return "start" if "start" in rules else rules[0]


def cmd_bench(args: argparse.Namespace) -> int:
    from alphanas.bench import run_benchmark

    return run_benchmark(args.name, args.rest)


# -- the parser ---------------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    from synth.work import DEFAULT_STEPS

    parser = argparse.ArgumentParser(
        prog="alphanas",
        description="Neural architecture search where architectures are programs.",
    )
    for flag, key, what in (("--limit-params", "params", "parameters"),
                            ("--limit-memory", "memory_bytes", "bytes of activations per sample"),
                            ("--limit-flops", "flops", "FLOPs per sample")):
        default = getattr(Limits(), key)
        parser.add_argument(flag, type=_ceiling_arg, dest=f"limit_{key}", metavar="N",
                            help=f"the most {what} any program may reach (default {default:.0e})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="shapes, parameters and FLOPs of every statement")
    p.add_argument("program", help="a .arch file, or zoo:NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("format", help="print a program in canonical form")
    p.add_argument("program", help="a .arch file, or zoo:NAME")
    p.add_argument("-o", "--output", help="write here instead of standard output")
    p.set_defaults(run=cmd_format)

    p = sub.add_parser("export", help="write a program, or a run's candidate, as a standalone PyTorch module")
    p.add_argument("program", help="a .arch file, zoo:NAME, or a run folder (with --id)")
    p.add_argument("-o", "--output", required=True, help="the .py file to write")
    p.add_argument("--id", type=int, help="the candidate of the run folder to export")
    p.add_argument("--weights", metavar="FILE.pt", help="also write the candidate's trained weights (a state_dict)")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("import", help="trace a PyTorch model with torch.fx into a program")
    p.add_argument("model", help="torchvision:NAME (e.g. torchvision:resnet18) or MODULE:CALLABLE")
    p.add_argument("--input-shape", type=_shape_arg, default=(3, 224, 224), help="per-sample input shape, e.g. 3,224,224")
    p.add_argument("--name", help="name of the model in the program")
    p.add_argument("-o", "--output", help="the .arch file to write (default: standard output)")
    p.add_argument("--weights", help="also save the model's weights under the program's parameter names")
    p.add_argument("--classes", type=int, metavar="N",
                   help="re-size the classifier head to N classes (a fresh head; the program's classes parameter)")
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

    p = sub.add_parser("search", help="run an architecture search from a TOML config")
    p.add_argument("config", help="the search configuration (.toml)")
    p.add_argument("--run-dir", help="the run folder (overrides run_dir in the config)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_search)

    p = sub.add_parser("resume", help="continue a killed or finished search to its budget")
    p.add_argument("run_dir", help="the run folder of a search")
    p.add_argument("--config", metavar="FILE.toml",
                   help="continue under this config instead of the stored one (e.g. to retry a seed that failed "
                        "after raising a time limit); its run_dir is ignored, its seed, seed program and objectives "
                        "must be the run's")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_resume)

    from alphanas.runs.commands import add_commands as add_inspect_commands

    add_inspect_commands(sub)  # show, diff, render, report

    p = sub.add_parser("synth", help="synthesize a region from shapes, properties and budgets")
    p.add_argument("--space", metavar="GRAMMAR", help="a space grammar (.lark); default: the core language")
    p.add_argument("--rule", metavar="NONTERMINAL", help="the grammar rule whose sentences are regions")
    p.add_argument("--input", type=_shape_arg, action="append", required=True,
                   help="per-sample shape of an input, e.g. 64,32,32 (repeat for more inputs)")
    p.add_argument("--output", type=_shape_arg, required=True, help="per-sample shape of the output")
    p.add_argument("--min-depth", type=int, default=0, help="lower bound on the depth from every input")
    p.add_argument("--mixing", metavar="FILE", help="mixing targets as JSON (e.g. from `alphanas properties --json`)")
    p.add_argument("--max-params", type=int, help="parameter budget")
    p.add_argument("--max-flops", type=int, help="FLOP budget (per sample)")
    p.add_argument("--max-memory", type=int, help="budget on peak live activation elements (per sample)")
    p.add_argument("--max-ops", type=int, default=6, help="the most ops a region may have (default 6)")
    p.add_argument("--objective", choices=("any", "cheapest", "closest"), default="any")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help=f"work budget: enumeration steps (default {DEFAULT_STEPS:,}); the same answer on any machine")
    p.add_argument("--time-limit", type=float, default=60.0,
                   help="seconds: a safety net only; the work budget decides (default 60)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_synth)

    p = sub.add_parser("space", help="what a space grammar holds: size, emptiness under a budget, samples")
    p.add_argument("grammar", help="a space grammar (.lark)")
    p.add_argument("--rule", help="the rule whose sentences are bodies (default: start, else the first rule)")
    p.add_argument("--graph", metavar="BLOCK", help="the block whose body the rule derives (default: the model)")
    p.add_argument("--program", help="a program (.arch) giving the shapes; also checks that it is in the space")
    p.add_argument("--input", type=_named_shape_arg, action="append",
                   help="a model input without --program, e.g. x=1,8,8 (repeat for more)")
    p.add_argument("--output", type=_shape_arg, help="the output shape without --program, e.g. 10")
    p.add_argument("--max-params", type=int, help="parameter budget of the graph")
    p.add_argument("--max-flops", type=int, help="FLOP budget of the graph (per sample)")
    p.add_argument("--samples", type=int, default=3, help="random programs to show (default 3)")
    p.add_argument("--draws", type=int, default=100, help="random derivations for the estimate (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds for the emptiness check (default 10)")
    p.add_argument("--run", dest="run_dir", metavar="RUN_DIR",
                   help="print the evidence per choice from this run's evaluations (and its space rounds)")
    p.add_argument("--diff-rounds", nargs=2, type=int, metavar=("A", "B"),
                   help="with --run: compare the grammars of two rounds of an evolving space")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_space)

    p = sub.add_parser("bench", help="run a benchmark (see `alphanas bench list`)")
    p.add_argument("name", help="benchmark name, or `list`")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark")
    p.set_defaults(run=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    ceilings = {key: getattr(args, f"limit_{key}") for key in ("params", "memory_bytes", "flops")}
    try:
        with limited(**{k: v for k, v in ceilings.items() if v is not None}):
            return args.run(args)
    except AlphanasError as err:
        print(err.render(), file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
