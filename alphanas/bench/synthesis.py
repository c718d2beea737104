"""``alphanas bench synth``: the synthesizer on problems drawn as the search draws them.

Problems come from random regions of resnet18, resnet50, mobilenet_v2 and
vit_tiny (full size, ImageNet inputs), chosen and abstracted exactly as
property-guided mutation does (:func:`alphanas.variation.property_mutation.propose`):

- **self**: the region's own, unmutated properties (always satisfiable:
  the region itself meets them);
- **mutated**: the properties after the search's mutation (depth ±1..2,
  mixing entries relaxed); with ``--budget-share`` of them also under a
  parameter budget drawn between 30% and 100% of the region's own.

Each problem is solved twice in the same run: with Z3 choosing the sizes,
and with αNAS's sample-and-filter (sizes drawn from the same domains and
kept when the shapes fit), over the same structures and time limit. The
report gives, per seed model and overall: success rates, the number proven
infeasible, and median / p95 time per problem. Diversity: for a few self
problems, the number of distinct regions among 20 seeds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

from alphanas.bench import print_table, write_json
from alphanas.lang.canonical import program_hash
from alphanas.variation.base import VariationFailed
from alphanas.variation.property_mutation import MutationSettings, propose

__all__ = ["MODELS", "Outcome", "draw_problems", "run_synth"]

MODELS = ("resnet18", "resnet50", "mobilenet_v2", "vit_tiny")


@dataclass(frozen=True)
class Outcome:
    model: str
    kind: str  # "self" or "mutated"
    method: str  # "z3" or "sample"
    ok: bool
    proven: bool
    seconds: float
    structures: int


def draw_problems(model: str, count: int, seed: int, budget_share: float) -> list[tuple[str, Any, int]]:
    """``count`` regions of ``model``, each as a self and a mutated problem:
    (kind, problem, size limit) triples."""
    from alphanas import zoo
    from synth import Budgets, Problem

    program = zoo.load(model)
    settings = MutationSettings()
    problems: list[tuple[str, Any, int]] = []
    k = 0
    while len(problems) < 2 * count:
        rng = random.Random(f"{seed}:{model}:{k}")
        k += 1
        try:
            proposal = propose(program, rng, settings)
        except VariationFailed:
            continue
        own = Problem.from_properties(proposal.properties)
        problems.append(("self", own, proposal.max_ops))
        mutated = proposal.problem
        if rng.random() < budget_share:
            own_params = int(proposal.properties.resources.params)
            if own_params > 0:
                mutated = replace(mutated, budgets=Budgets(params=int(own_params * rng.uniform(0.3, 1.0))))
        problems.append(("mutated", mutated, proposal.max_ops))
    return problems


def _solve(problem: Any, max_ops: int, method: str, seed: int, time_limit: float) -> tuple[bool, bool, float, int]:
    from synth import synthesize

    start = time.perf_counter()
    result = synthesize(problem, seed=seed, time_limit=time_limit, max_ops=max_ops, sizes=method)
    seconds = time.perf_counter() - start
    structures = (result.stats.structures if result.ok else result.stats.get("structures", 0))
    return result.ok, (not result.ok and result.proven), seconds, structures


def _percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def _row(label: str, outs: list[Outcome]) -> list[Any]:
    row: list[Any] = [label]
    for method in ("z3", "sample"):
        for kind in ("self", "mutated"):
            sel = [o for o in outs if o.method == method and o.kind == kind]
            rate = 100.0 * sum(o.ok for o in sel) / len(sel) if sel else float("nan")
            row.append(f"{rate:.1f}%")
            if kind == "mutated":
                row.append(sum(o.proven for o in sel))
        times = [o.seconds for o in outs if o.method == method and o.ok]
        row.append(f"{1e3 * statistics.median(times):.0f}" if times else "-")
        row.append(f"{1e3 * _percentile(times, 0.95):.0f}" if times else "-")
    return row


def diversity(problems: list[tuple[str, Any, int]], seeds: int, time_limit: float) -> list[int]:
    """Distinct regions (by canonical hash) among ``seeds`` seeds, per problem."""
    from synth import synthesize

    counts = []
    for _, problem, max_ops in problems:
        hashes = set()
        for s in range(seeds):
            r = synthesize(problem, seed=s, time_limit=time_limit, max_ops=max_ops)
            if r.ok:
                hashes.add(program_hash(r.program))
        counts.append(len(hashes))
    return counts


def run_synth(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="alphanas bench synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=40, help="regions per seed model (each gives a self and a mutated problem)")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=2.0, help="seconds per problem and method")
    parser.add_argument("--budget-share", type=float, default=0.3)
    parser.add_argument("--diversity", type=int, default=5, help="self problems per model for the diversity count")
    parser.add_argument("--no-sample", action="store_true", help="skip the sample-and-filter baseline")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)

    outcomes: list[Outcome] = []
    failures: list[dict[str, Any]] = []
    spread: dict[str, list[int]] = {}
    methods = ("z3",) if args.no_sample else ("z3", "sample")
    from tqdm import tqdm

    for model in args.models:
        problems = draw_problems(model, args.problems, args.seed, args.budget_share)
        for k, (kind, problem, max_ops) in enumerate(tqdm(problems, desc=model, leave=False)):
            for method in methods:
                ok, proven, seconds, structures = _solve(problem, max_ops, method, args.seed + k, args.time_limit)
                outcomes.append(Outcome(model, kind, method, ok, proven, seconds, structures))
                if method == "z3" and kind == "self" and not ok:
                    failures.append({"model": model, "inputs": problem.inputs, "output": problem.output,
                                     "depth": {f"{i}->{o}": d for (i, o), d in problem.depth.items()},
                                     "max_ops": max_ops})
        if args.diversity:
            selfs = [p for p in problems if p[0] == "self"][: args.diversity]
            spread[model] = diversity(selfs, 20, args.time_limit)

    header = ["model", "z3 self", "z3 mutated", "proven", "z3 med ms", "z3 p95 ms"]
    if "sample" in methods:
        header += ["sample self", "sample mutated", "proven", "sample med ms", "sample p95 ms"]
    rows = []
    for model in [*args.models, "all"]:
        outs = [o for o in outcomes if model == "all" or o.model == model]
        row = _row(model, outs)
        rows.append(row if "sample" in methods else row[:6])
    print_table(header, rows)
    print("\ndistinct regions among 20 seeds (self problems):")
    for model, counts in spread.items():
        print(f"  {model}: {counts}")
    for f in failures[:10]:
        print("self problem not solved:", f)
    if args.json:
        write_json(args.json, {
            "benchmark": "synth",
            "problems_per_model": args.problems,
            "time_limit": args.time_limit,
            "table": {"header": header, "rows": rows},
            "diversity": spread,
            "self_failures": failures,
            "outcomes": [o.__dict__ for o in outcomes],
        })
    return 0
