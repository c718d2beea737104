"""``alphanas show``: a run at a glance — its Pareto front, how the
hypervolume grew, and what failed and why — as text or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alphanas.runs.inspection import RunView, format_metric
from alphanas.search.store import Candidate

__all__ = ["front_order", "render_summary", "summary_json"]


def front_order(run: RunView) -> list[Candidate]:
    """The front, best first on the first objective (then by id)."""
    first = run.objectives[0]
    sign = -1.0 if first.direction == "max" else 1.0
    return sorted(run.front, key=lambda c: (sign * run.values(c)[0], c.id))  # type: ignore[index]


def summary_json(run: RunView) -> dict[str, Any]:
    """Everything ``show`` prints, as JSON-able data."""
    history = run.hypervolume_history()
    return {
        "run_dir": str(run.run_dir),
        "seed_program": run.setting("seed_program"),
        "variation": run.setting("strategy", "variation"),
        "selection": run.setting("strategy", "selection"),
        "evaluator": run.setting("evaluator", "kind"),
        "objectives": [{"name": o.name, "direction": o.direction} for o in run.objectives],
        "counts": run.counts(),
        "front": [
            {"id": c.id, "parent_id": c.parent_id, "generation": c.generation, "operator": c.operator,
             "objectives": {o.name: v for o, v in zip(run.objectives, run.values(c))},  # type: ignore[arg-type]
             "metrics": dict(c.metrics)}
            for c in front_order(run)
        ],
        "hypervolume": [
            {"evaluations": p.evaluations, "candidate": p.candidate_id, "hypervolume": p.hypervolume}
            for p in history
        ],
        "failures": [
            {"phase": g.phase, "reason": g.pattern, "example": g.example, "count": g.count, "ids": list(g.ids)}
            for g in run.failures()
        ],
    }


def _table(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Rows as aligned columns (numbers to the right), two spaces apart."""
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return ["  " + "  ".join(c.rjust(w) if right[k] else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def _ids(ids: Sequence[int], most: int = 8) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:most])
    return shown + (f", ... ({len(ids) - most} more)" if len(ids) > most else "")


def render_summary(run: RunView) -> str:
    """The text ``alphanas show`` prints."""
    counts = run.counts()
    objectives = ", ".join(f"{o.name} ({o.direction})" for o in run.objectives)
    lines = [
        f"run {run.run_dir}",
        f"  seed program {run.setting('seed_program', default='?')}; variation "
        f"{run.setting('strategy', 'variation', default='?')}, selection "
        f"{run.setting('strategy', 'selection', default='?')}; evaluator {run.setting('evaluator', 'kind', default='?')}",
        f"  objectives: {objectives}",
        f"candidates: {counts['candidates']} ({max(0, counts['candidates'] - 1)} children and the seed)",
        f"  evaluated {counts['evaluated']}: {counts['ok']} ok, {counts['failed']} failed; "
        f"{counts['variation_failed']} children could not be made; {counts['running']} running",
        "",
    ]
    history = run.hypervolume_history()
    front = front_order(run)
    final = history[-1].hypervolume if history else 0.0
    lines.append(f"Pareto front: {len(front)} of {len(run.scored)} scored candidates, hypervolume {final:.4f}")
    if front:
        rows = [["id", *(o.name for o in run.objectives), "parent", "generation", "operator"]]
        for c in front:
            values = run.values(c) or ()
            parent = "-" if c.parent_id is None else f"#{c.parent_id}"
            rows.append([f"#{c.id}", *(format_metric(v) for v in values), parent, str(c.generation), c.operator])
        lines += _table(rows, [True] * (len(run.objectives) + 3) + [False])
    lines.append("")
    grew = [p for k, p in enumerate(history) if k == 0 or p.hypervolume != history[k - 1].hypervolume]
    lines.append(f"hypervolume after each evaluation where it grew ({len(history)} evaluations in all)")
    if grew:
        rows = [["evaluation", "candidate", "hypervolume"]]
        rows += [[str(p.evaluations), f"#{p.candidate_id}", f"{p.hypervolume:.4f}"] for p in grew]
        lines += _table(rows, [True, True, True])
    else:
        lines.append("  (nothing evaluated yet)")
    lines.append("")
    groups = run.failures()
    if not groups:
        lines.append("failures: none")
    else:
        by_phase = {phase: sum(g.count for g in groups if g.phase == phase) for phase in ("evaluation", "variation")}
        lines.append(f"failures: {by_phase['evaluation']} in evaluation, {by_phase['variation']} in variation "
                     "(children that could not be made)")
        rows = [["phase", "count", "reason", "candidates"]]
        rows += [[g.phase, str(g.count), g.example if g.count == 1 else g.pattern, _ids(g.ids)] for g in groups]
        lines += _table(rows, [False, True, False, False])
    return "\n".join(lines) + "\n"
