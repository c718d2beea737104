"""Search strategies on NAS-Bench-201: ``alphanas bench nb201``.

Every strategy is a real search (:func:`alphanas.search.loop.run_search`) in the
NAS-Bench-201 cell space (``grammars/spaces/nb201_cell.lark``, the body of
block ``cell`` of ``grammars/spaces/nb201.arch``), scored by the table
evaluator (:class:`alphanas.evaluation.table.TableEvaluator`) on two
objectives: an accuracy column (maximised) and a latency column
(minimised). A run's budget is its number of queries: evaluations made,
the seed's included. The engine never evaluates a cell twice (a child equal
to an evaluated candidate is a variation failure), so queries are distinct
cells; children the variation could not make cost no query, and a run
whose variation keeps failing stops at ``2 × queries`` failures, short of
its budget (reported as ``short_runs``; its best so far carries on).

Strategies (variation × selection with their options, each the engine's
own) are named in :data:`alphanas.bench.strategies.STRATEGIES`, where a new
one is one entry:

- ``random_sample``: the whole cell drawn again at random each time;
- ``aging_evolution``: regularized evolution (Real et al. 2019): random
  edits (one subtree of the cell re-derived at random) with aging
  selection, on the accuracy alone;
- ``random_edit_nsga2``: the same edits with NSGA-II;
- ``alphanas_nsga2``, ``alphanas_pareto_weighted``, ``alphanas_aging``:
  property-guided mutation (αNAS) with each selection.

``--variation-option KEY=VALUE`` gives every strategy whose variation takes
it a mutation setting (:class:`alphanas.variation.property_mutation.MutationSettings`), as a search
config's ``[strategy] variation_options`` would; the property settings
(``p_drop``, ``p_mixing``, ``p_lift``, ``p_depth``, ``depth_delta``,
``p_tight``, ``p_tight_first_objective``) are read by property-guided
mutation only, so the baselines run as without them.
``--selection-option KEY=VALUE`` gives an option to every strategy whose
selection takes it (say, NSGA-II's
``first_objective_probability``, which random sampling, random edits and
αNAS under NSGA-II then all get), as ``[strategy] selection_options`` would.

Seed ``k`` starts every strategy from the same random cell. For each
strategy and budget the benchmark reports the mean ± standard error over
seeds of the best accuracy found and of the hypervolume ratio: the
hypervolume of the points found over that of the table's true Pareto
front, both in the box spanned by the table's best and worst values.
It writes ``nb201.json``, ``nb201.csv`` (per strategy and budget) and two
plots against the number of queries.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from alphanas.bench import environment, print_table, write_json
from alphanas.bench.strategies import STRATEGIES, Strategy

DEFAULT_TABLE = "../shared/data/nb201/nb201.csv"

@dataclass(frozen=True)
class Job:
    #: the strategy with the harness's options added (``--variation-option``, ``--selection-option``)
    strategy: Strategy
    seed: int
    table: str
    accuracy: str
    latency: str
    queries: int
    population: int
    synth_time_limit: float


@dataclass(frozen=True)
class Trajectory:
    """One run: the (accuracy, latency) of each query in the order the
    evaluations finished, and how long it took."""

    strategy: str
    seed: int
    points: tuple[tuple[float, float], ...]
    seconds: float
    variation_failures: int


def seed_arch(table: Any, seed: int) -> str:
    """The cell every strategy starts from in run ``seed``: uniform over the table."""
    return table.archs[random.Random(seed).randrange(len(table))]


def run_one(job: Job) -> Trajectory:
    """One search, in a temporary run folder."""
    from alphanas.benchmarks import nb201
    from alphanas.evaluation.table import load_table
    from alphanas.search.config import SearchConfig
    from alphanas.search.loop import run_search
    from alphanas.search.store import Store

    table = load_table(job.table)
    strategy = job.strategy
    with tempfile.TemporaryDirectory() as tmp:
        seed_file = Path(tmp) / "nb201.arch"
        seed_file.write_text(nb201.network_text(seed_arch(table, job.seed)))
        data = {
            "seed_program": str(seed_file),
            "run_dir": str(Path(tmp) / "run"),
            "seed": job.seed,
            "population": job.population,
            "objectives": [job.accuracy, job.latency],
            "space": {"grammar": str(nb201.CELL_GRAMMAR), "rule": "cell", "graph": nb201.CELL_BLOCK},
            "strategy": {"variation": strategy.variation, "selection": strategy.selection,
                         "variation_options": {"synth_time_limit": job.synth_time_limit,
                                               **dict(strategy.variation_options)},
                         "selection_options": dict(strategy.selection_options)},
            "budget": {"children": job.queries - 1, "max_variation_failures": 2 * job.queries},
            "executor": {"kind": "serial"},
            "evaluator": {"kind": "nb201", "options": {"table": str(Path(job.table).resolve())}},
        }
        config = SearchConfig.from_dict(data, "<bench nb201>", base=Path(tmp))
        start = time.perf_counter()
        run_search(config, progress=False)
        seconds = time.perf_counter() - start
        with Store.open(config.run_dir) as store:
            candidates = store.candidates()
        done = [c for c in candidates if c.status == "ok"]
        failures = sum(1 for c in candidates if c.status == "failed" and c.phase == "variation")
    done.sort(key=lambda c: (c.finish_order if c.finish_order is not None else -1))
    points = tuple((float(c.metrics[job.accuracy]), float(c.metrics[job.latency])) for c in done)
    return Trajectory(strategy.name, job.seed, points[: job.queries], seconds, failures)


# -- scoring -------------------------------------------------------------------------------------


def best_so_far(points: Sequence[tuple[float, float]], budget: int) -> float:
    return max(a for a, _ in points[:budget])


def hv_ratio(points: Sequence[tuple[float, float]], budget: int, box: Any, true_hv: float) -> float:
    from alphanas.evaluation.pareto import hypervolume

    return hypervolume(points[:budget], box) / true_hv


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, se


def summarize(trajectories: Sequence[Trajectory], budgets: Sequence[int], box: Any, true_hv: float
              ) -> dict[str, dict[int, dict[str, float]]]:
    out: dict[str, dict[int, dict[str, float]]] = {}
    for name in dict.fromkeys(t.strategy for t in trajectories):
        runs = [t for t in trajectories if t.strategy == name]
        out[name] = {}
        for b in budgets:
            acc = mean_se([best_so_far(t.points, b) for t in runs])
            hv = mean_se([hv_ratio(t.points, b, box, true_hv) for t in runs])
            out[name][b] = {"best_accuracy": acc[0], "best_accuracy_se": acc[1], "hv_ratio": hv[0],
                            "hv_ratio_se": hv[1], "runs": len(runs),
                            "short_runs": sum(1 for t in runs if len(t.points) < b)}
    return out


def curves(trajectories: Sequence[Trajectory], queries: int, box: Any, true_hv: float, step: int = 10
           ) -> dict[str, dict[str, list[float]]]:
    """Mean and standard error of both measures every ``step`` queries."""
    xs = list(range(step, queries + 1, step))
    out: dict[str, dict[str, list[float]]] = {}
    for name in dict.fromkeys(t.strategy for t in trajectories):
        runs = [t for t in trajectories if t.strategy == name]
        acc = [mean_se([best_so_far(t.points, x) for t in runs]) for x in xs]
        hv = [mean_se([hv_ratio(t.points, x, box, true_hv) for t in runs]) for x in xs]
        out[name] = {"queries": xs, "acc": [m for m, _ in acc], "acc_se": [s for _, s in acc],
                     "hv": [m for m, _ in hv], "hv_se": [s for _, s in hv]}
    return out


def plot(curve: dict[str, dict[str, list[float]]], optimum: float, accuracy: str, latency: str, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for key, label, ref in (("acc", f"best {accuracy} found (%)", optimum), ("hv", f"hypervolume ratio ({accuracy}, {latency})", 1.0)):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, c in curve.items():
            m, se = c[key], c[f"{key}_se"]
            ax.plot(c["queries"], m, label=name, lw=1.6, ls="-" if name.startswith("alphanas") else "--")
            ax.fill_between(c["queries"], [a - b for a, b in zip(m, se)], [a + b for a, b in zip(m, se)], alpha=0.15)
        ax.axhline(ref, color="k", lw=0.8, ls=":", label=f"optimum {ref:g}")
        ax.set_xlabel("queries")
        ax.set_ylabel(label)
        ax.set_xscale("log")
        lows = [min(c[key][len(c[key]) // 10:]) for c in curve.values()]
        ax.set_ylim(min(lows) - (0.5 if key == "acc" else 0.02), ref + (0.2 if key == "acc" else 0.005))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"nb201_{key}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# -- the command ---------------------------------------------------------------------------------


def _finished(log: Path) -> list[Trajectory]:
    """The runs a previous invocation with the same settings wrote."""
    if not log.exists():
        return []
    runs = []
    for line in log.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            runs.append(Trajectory(d["strategy"], d["seed"], tuple(tuple(p) for p in d["points"]), d["seconds"],
                                   d["variation_failures"]))
    return [t for t in runs if t.points]


def _option(parser: argparse.ArgumentParser, text: str, flag: str, known: Sequence[str]) -> tuple[str, Any]:
    """``KEY=VALUE`` with KEY among ``known``, the value read as JSON (a
    number, true/false) or else kept as a string."""
    key, eq, value = (part.strip() for part in text.partition("="))
    if not eq or not key:
        parser.error(f"{flag} {text!r}: write KEY=VALUE, e.g. {known[0]}=0.5")
    if key not in known:
        parser.error(f"{flag} {key!r} is not one of the settings {', '.join(known)}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _variation_takes(name: str) -> set[str]:
    """The options variation ``name`` takes inside a grammar space."""
    from alphanas.variation.build import variation_entry

    return set(variation_entry(name, in_space=True).option_names()[0])


def _selection_takes(name: str) -> set[str]:
    from alphanas.search.selection import SELECTIONS

    return set(SELECTIONS.get(name).option_names()[0])


def variation_option(parser: argparse.ArgumentParser, text: str) -> tuple[str, Any]:
    """A ``--variation-option``: an option of at least one strategy's variation
    (the built-ins take :class:`alphanas.variation.property_mutation.MutationSettings`)."""
    known = set().union(*(_variation_takes(s.variation) for s in STRATEGIES.values()))
    return _option(parser, text, "--variation-option", sorted(known))


def selection_option(parser: argparse.ArgumentParser, text: str) -> tuple[str, Any]:
    """A ``--selection-option``: an option of at least one selection."""
    from alphanas.search.selection import SELECTIONS

    known = set().union(*(_selection_takes(name) for name in SELECTIONS.names()))
    return _option(parser, text, "--selection-option", sorted(known))


def strategy_with(name: str, variation: Sequence[tuple[str, Any]], selection: Sequence[tuple[str, Any]]) -> Strategy:
    """Strategy ``name`` with the harness's options that its variation and
    its selection take."""
    base = STRATEGIES[name]
    takes_v, takes_s = _variation_takes(base.variation), _selection_takes(base.selection)
    return base.with_options([(k, v) for k, v in variation if k in takes_v],
                             [(k, v) for k, v in selection if k in takes_s])


def run_nb201(argv: Sequence[str]) -> int:
    from alphanas.evaluation.pareto import Objective, ReferenceBox
    from alphanas.evaluation.table import load_table, true_front

    p = argparse.ArgumentParser(prog="alphanas bench nb201", description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default=DEFAULT_TABLE, help=f"the NAS-Bench-201 CSV (default {DEFAULT_TABLE})")
    p.add_argument("--accuracy", default="cifar10_test_acc", help="accuracy column (maximised)")
    p.add_argument("--latency", default="latency_ms_pixel3", help="latency column (minimised)")
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated, of: " + ", ".join(STRATEGIES))
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--budgets", default="50,100,200,500")
    p.add_argument("--population", type=int, default=20)
    p.add_argument("--synth-time-limit", type=float, default=1.0, help="seconds per synthesis (default 1)")
    p.add_argument("--variation-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of every strategy's variation (repeatable), as in a config's "
                        "[strategy] variation_options, e.g. p_drop=0.5")
    p.add_argument("--selection-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the strategies' selection (repeatable), given to each strategy whose "
                        "selection takes it, e.g. first_objective_probability=0.5")
    p.add_argument("--workers", type=int, default=2, help="runs in parallel processes (default 2)")
    p.add_argument("--out", default="docs/results/nb201", help="folder for the JSON, CSV and plots")
    p.add_argument("--resume", action="store_true", help="keep the runs already in OUT/trajectories.jsonl")
    args = p.parse_args(list(argv))

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        p.error(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)}")
    options = tuple(variation_option(p, o) for o in args.variation_option)
    picks = tuple(selection_option(p, o) for o in args.selection_option)
    budgets = [int(b) for b in args.budgets.split(",")]
    if max(budgets) > args.queries:
        p.error("a budget is larger than --queries")
    table = load_table(args.table)
    for column in (args.accuracy, args.latency):
        if column not in table.metrics:
            p.error(f"the table has no column {column!r}; its metrics: {', '.join(table.metrics)}")
    front = true_front(table, args.accuracy, args.latency)
    acc, lat = table.column(args.accuracy), table.column(args.latency)
    box = ReferenceBox((Objective(args.accuracy, "max"), Objective(args.latency, "min")),
                       (max(acc), min(lat)), (min(acc), max(lat)))
    true_hv = front.hypervolume(box)
    optimum = max(acc)

    chosen = {s: strategy_with(s, options, picks) for s in strategies}
    jobs = [Job(chosen[s], k, args.table, args.accuracy, args.latency, args.queries, args.population,
                args.synth_time_limit) for k in range(args.seeds) for s in strategies]
    print(f"{len(jobs)} runs ({len(strategies)} strategies x {args.seeds} seeds) of {args.queries} queries, "
          f"{args.workers} at a time; the optimum {args.accuracy} is {optimum:.2f}, the true front has "
          f"{len(front.archs)} cells")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "trajectories.jsonl"
    trajectories = _finished(log) if args.resume else []
    if not args.resume:
        log.write_text("")
    done = {(t.strategy, t.seed) for t in trajectories}
    todo = [j for j in jobs if (j.strategy.name, j.seed) not in done]
    from tqdm import tqdm

    start = time.perf_counter()
    # each run is written as it finishes, so that a stopped benchmark resumes (--resume)
    with ProcessPoolExecutor(max_workers=args.workers) as pool, log.open("a") as f:
        futures = [pool.submit(run_one, j) for j in todo]
        for future in tqdm(as_completed(futures), total=len(futures), desc="nb201 runs"):
            t = future.result()
            trajectories.append(t)
            f.write(json.dumps(asdict(t)) + "\n")
            f.flush()
    wall = time.perf_counter() - start
    order = {name: k for k, name in enumerate(strategies)}
    trajectories = sorted((t for t in trajectories if t.strategy in order and t.seed < args.seeds),
                          key=lambda t: (order[t.strategy], t.seed))

    summary = summarize(trajectories, budgets, box, true_hv)
    header = ("strategy", *(f"acc@{b}" for b in budgets), *(f"HV@{b}" for b in budgets))
    rows: list[tuple[Any, ...]] = []
    for name, per in summary.items():
        rows.append((name, *(f"{per[b]['best_accuracy']:.2f}±{per[b]['best_accuracy_se']:.2f}" for b in budgets),
                     *(f"{per[b]['hv_ratio']:.4f}±{per[b]['hv_ratio_se']:.4f}" for b in budgets)))
    print_table(header, rows)
    seconds = {s: statistics.fmean(t.seconds for t in trajectories if t.strategy == s) for s in strategies}
    print("mean seconds per run: " + ", ".join(f"{s} {v:.1f}" for s, v in seconds.items())
          + f"; wall {wall / 60:.1f} min")

    curve = curves(trajectories, args.queries, box, true_hv)
    plots = plot(curve, optimum, args.accuracy, args.latency, out)
    with (out / "nb201.csv").open("w") as f:
        f.write("strategy,budget,best_accuracy,best_accuracy_se,hv_ratio,hv_ratio_se,runs\n")
        for name, per in summary.items():
            for b in budgets:
                r = per[b]
                f.write(f"{name},{b},{r['best_accuracy']:.4f},{r['best_accuracy_se']:.4f},"
                        f"{r['hv_ratio']:.5f},{r['hv_ratio_se']:.5f},{r['runs']}\n")
    write_json(out / "nb201.json", {
        "command": "alphanas bench nb201 " + " ".join(argv),
        "environment": environment(),
        "table": str(args.table), "accuracy": args.accuracy, "latency": args.latency,
        "optimum": optimum, "true_front": len(front.archs), "box": box.as_list(),
        "seeds": args.seeds, "queries": args.queries, "population": args.population,
        "variation_options": dict(options),
        "strategies": {s: {"variation": c.variation, "selection": c.selection,
                           "variation_options": dict(c.variation_options),
                           "selection_options": dict(c.selection_options)} for s, c in chosen.items()},
        "selection_options": {s: dict(c.selection_options) for s, c in chosen.items()},
        "summary": {s: {str(b): v for b, v in per.items()} for s, per in summary.items()},
        "curves": curve, "seconds_per_run": seconds, "wall_seconds": wall,
    })
    print(f"wrote {out / 'nb201.json'}, {out / 'nb201.csv'}, " + ", ".join(str(p) for p in plots))
    return 0

