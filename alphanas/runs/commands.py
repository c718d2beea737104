"""The command-line side of inspecting a run: ``show``, ``diff``,
``render``, ``report`` and the run-candidate form of ``export``.

:func:`add_commands` registers the subcommands on :mod:`alphanas.cli`'s
parser; each handler reads the run through :mod:`alphanas.runs.inspection` and
hands the work to the module of its stage. Mistakes (no run, an unknown
id, no weights, a bad output suffix) raise
:class:`~alphanas.lang.errors.AlphanasError`, which the CLI prints in one line
and answers with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from alphanas.lang.errors import AlphanasError

if TYPE_CHECKING:
    from alphanas.search.store import StoreDamaged

__all__ = ["add_commands", "cmd_diff", "cmd_export_candidate", "cmd_render", "cmd_report", "cmd_show",
           "is_run_dir"]


def is_run_dir(spec: str) -> bool:
    """``spec`` names a folder (a run's), not a program file or zoo:NAME."""
    return Path(spec).is_dir()


def cmd_show(args: argparse.Namespace) -> int:
    from alphanas.runs.inspection import load_run
    from alphanas.runs.show import render_summary, summary_json
    from alphanas.search.store import StoreDamaged

    try:
        run = load_run(args.run_dir)
    except StoreDamaged as err:  # list what can still be read, then say what is wrong (exit status 2)
        _print_salvage(err, args.json)
        raise
    if args.json:
        print(json.dumps(summary_json(run), indent=2))
    else:
        sys.stdout.write(render_summary(run))
    return 0


def _print_salvage(err: StoreDamaged, as_json: bool) -> None:
    """The candidates of a damaged run database that can still be read."""
    from alphanas.runs.inspection import format_metric

    found = err.salvage.candidates
    if as_json:
        print(json.dumps({"damaged": str(err.path), "reason": err.reason, "unreadable": list(err.salvage.unreadable),
                          "candidates": [{"id": c.id, "parent": c.parent_id, "generation": c.generation,
                                          "operator": c.operator, "status": c.status, "phase": c.phase,
                                          "reason": c.reason, "metrics": dict(c.metrics), "program": c.program}
                                         for c in found]}, indent=2, default=str))
        return
    print(f"{err.path} is damaged; {err.salvage.describe()}" + (":" if found else "."))
    for c in found:
        metrics = ", ".join(f"{k}={format_metric(v)}" for k, v in sorted(c.metrics.items())
                            if isinstance(v, int | float) and not isinstance(v, bool))
        parent = "-" if c.parent_id is None else f"#{c.parent_id}"
        why = f" ({c.reason})" if c.reason else ""
        print(f"  #{c.id}  parent {parent}  generation {c.generation}  {c.operator}  {c.status}{why}"
              + (f"  {metrics}" if metrics else ""))


def cmd_diff(args: argparse.Namespace) -> int:
    from alphanas.runs.diff import diff_candidates, diff_json, render_diff
    from alphanas.runs.inspection import load_run

    run = load_run(args.run_dir)
    d = diff_candidates(run, args.id, args.against)
    if args.json:
        print(json.dumps(diff_json(run, d), indent=2))
    else:
        sys.stdout.write(render_diff(run, d))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from alphanas.runs.render import check_output, layout, write_image

    output = check_output(args.output)  # before any work
    if is_run_dir(args.program):
        from alphanas.runs.diff import diff_candidates
        from alphanas.runs.inspection import load_run

        if args.id is None:
            raise AlphanasError(f"{args.program} is a run folder: name one of its candidates with --id ID",
                                hint=f"`alphanas show {args.program}` lists the front")
        run = load_run(args.program)
        c = run.candidate(args.id)
        program = run.program(c.id)
        against = args.against if args.against is not None else c.parent_id
        diff = diff_candidates(run, c.id, against) if against is not None else None
        highlight, label = (diff.new_marked, diff.labels[1]) if diff is not None else (frozenset(), "")
        title = f"#{c.id} of {run.run_dir.name}"
    else:
        from alphanas.zoo import load_program

        if args.id is not None or args.against is not None:
            raise AlphanasError(f"--id and --against name candidates of a run, but {args.program} is not a run folder",
                                hint="give the run folder: alphanas render RUN_DIR --id ID -o FILE.svg")
        program = load_program(args.program)
        highlight, label = frozenset(), ""
        title = program.model.name
    scene = layout(program, highlight, title, highlight_label=label)
    write_image(scene, output)
    marked = f", {len(scene.highlighted)} highlighted as {label}" if scene.highlighted else ""
    print(f"wrote {output}: {len(scene.shapes)} shapes{marked}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from alphanas.runs.inspection import load_run
    from alphanas.runs.report import check_output, write_report

    run = load_run(args.run_dir)
    output = check_output(args.output or run.run_dir / "report.html")
    write_report(run, output)
    print(f"wrote {output}: {len(run.front)} front members (open it in a browser; it needs no network)")
    return 0


def cmd_export_candidate(args: argparse.Namespace) -> int:
    """``alphanas export RUN_DIR --id ID -o model.py [--weights model.pt]``."""
    from alphanas.runs.export import export_candidate
    from alphanas.runs.inspection import load_run

    if args.id is None:
        raise AlphanasError(f"{args.program} is a run folder: name one of its candidates with --id ID",
                            hint=f"`alphanas show {args.program}` lists the front")
    result = export_candidate(load_run(args.program), args.id, args.output, args.weights)
    print(f"wrote {result.source}: class {result.class_name} (imports only torch)")
    if result.weights is not None:
        print(f"wrote {result.weights}: its trained weights (load_state_dict into {result.class_name})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``show``, ``diff``, ``render`` and ``report``."""
    p = sub.add_parser("show", help="a run's Pareto front, hypervolume history and failures")
    p.add_argument("run_dir", help="the run folder of a search")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_show)

    p = sub.add_parser("diff", help="a candidate's program against its parent, the mutated region marked")
    p.add_argument("run_dir", help="the run folder of a search")
    p.add_argument("id", type=int, help="the candidate's id")
    p.add_argument("--against", type=int, metavar="ID", help="compare with this candidate (default: the parent)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_diff)

    p = sub.add_parser("render", help="draw an architecture graph as SVG or PNG")
    p.add_argument("program", help="a .arch file, zoo:NAME, or a run folder (with --id)")
    p.add_argument("--id", type=int, help="the candidate of the run folder to draw")
    p.add_argument("--against", type=int, metavar="ID",
                   help="highlight what differs from this candidate (default: the parent)")
    p.add_argument("-o", "--output", required=True, help="the picture to write: FILE.svg or FILE.png")
    p.set_defaults(run=cmd_render)

    p = sub.add_parser("report", help="a self-contained HTML report of a run")
    p.add_argument("run_dir", help="the run folder of a search")
    p.add_argument("-o", "--output", help="the .html file to write (default: RUN_DIR/report.html)")
    p.set_defaults(run=cmd_report)
