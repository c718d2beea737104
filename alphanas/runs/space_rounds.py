"""The rounds of an evolving space, read from a run folder: what ``show``,
the report, ``alphanas space GRAMMAR --run RUN`` and the round diff print.

A search whose variation is ``evolving_space``
(:mod:`alphanas.variation.space_evolution`) writes each round's grammar to
``RUN/space_rounds/round_K.lark`` and a summary of the rounds to
``RUN/space_rounds/rounds.json``. This module reads them back, adds the
front at the end of each round (from the store), computes the evidence of a
run's evaluations over any grammar, and compares two rounds' grammars.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphanas.evaluation.pareto import pareto_front
from alphanas.lang.errors import AlphanasError
from alphanas.runs.inspection import RunView
from alphanas.variation.base import Evaluated
from alphanas.variation.space_evolution import Evidence, GrammarChoices, collect_evidence

__all__ = ["RoundRow", "diff_rounds", "evidence_of_run", "read_rounds", "render_rounds", "round_rows",
           "rounds_json", "run_history"]

FOLDER = "space_rounds"


@dataclass(frozen=True)
class RoundRow:
    """One round as ``show`` lists it."""

    index: int
    after: int
    derivations: int
    complete: bool
    dropped: tuple[str, ...]
    added: tuple[str, ...]
    #: the front when the round ended (or now, for the round the run is in)
    front_at_end: tuple[int, ...]
    file: Path


def read_rounds(run_dir: str | Path) -> dict[str, Any] | None:
    """``RUN/space_rounds/rounds.json``, or None when the run has no rounds."""
    path = Path(run_dir) / FOLDER / "rounds.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise AlphanasError(f"{path} cannot be read: {err}") from None


def run_history(run: RunView) -> list[Evaluated]:
    """The run's finished evaluations in the order they finished, as a
    variation sees them (``VariationContext.history``)."""
    return [Evaluated(id=c.id, parent_id=c.parent_id, program=c.program, hash=c.hash, ok=c.ok,
                      metrics=dict(c.metrics), record=dict(c.record))
            for c in run.finished if c.program is not None and c.hash is not None]


def _front_of(run: RunView, history: list[Evaluated]) -> tuple[int, ...]:
    scored = [c for c in (run.candidate(e.id) for e in history) if run.values(c) is not None]
    points = [run.values(c) for c in scored]
    return tuple(scored[k].id for k in pareto_front(points, run.objectives))  # type: ignore[arg-type]


def round_rows(run: RunView) -> list[RoundRow]:
    """The run's rounds with the front at the end of each; [] when it has none."""
    data = read_rounds(run.run_dir)
    if data is None:
        return []
    history = run_history(run)
    rows = []
    rounds = data.get("rounds", [])
    for k, r in enumerate(rounds):
        end = rounds[k + 1]["after"] if k + 1 < len(rounds) else len(history)
        rows.append(RoundRow(r["round"], r["after"], r["derivations"], r["complete"], tuple(r["dropped"]),
                             tuple(r["added"]), _front_of(run, history[:end]), run.run_dir / FOLDER / r["file"]))
    return rows


def rounds_json(run: RunView) -> list[dict[str, Any]]:
    return [{"round": r.index, "after": r.after, "derivations": r.derivations, "complete": r.complete,
             "dropped": list(r.dropped), "added": list(r.added), "front_at_end": list(r.front_at_end),
             "file": str(r.file)} for r in round_rows(run)]


def render_rounds(run: RunView) -> list[str]:
    """``show``'s section on the rounds (no lines when the run has none)."""
    rows = round_rows(run)
    if not rows:
        return []
    data = read_rounds(run.run_dir) or {}
    lines = [f"space rounds: {data.get('inner', '?')} in an evolving space ({data.get('rule', '')}); "
             f"grammars in {run.run_dir / FOLDER}"]
    for r in rows:
        size = f"{r.derivations:,}" + ("" if r.complete else "+")
        change = "; ".join([*(f"dropped {c}" for c in r.dropped), *(f"added {c}" for c in r.added)]) or "no change"
        lines.append(f"  round {r.index}: from evaluation {r.after}, {size} derivations, front at its end "
                     f"{len(r.front_at_end)} ({', '.join(f'#{i}' for i in r.front_at_end[:8])}"
                     f"{', ...' if len(r.front_at_end) > 8 else ''}); {change}")
    return lines


def evidence_of_run(grammar: GrammarChoices, run: RunView, ridge: float = 1.0) -> Evidence:
    """The evidence of the run's evaluations over the grammar's choices."""
    objectives = tuple((o.name, o.direction) for o in run.objectives)
    return collect_evidence(grammar, run_history(run), objectives, ridge)


def diff_rounds(run_dir: str | Path, a: int, b: int) -> str:
    """A unified diff of round ``a``'s grammar against round ``b``'s, headers included."""
    folder = Path(run_dir) / FOLDER
    texts = []
    for k in (a, b):
        path = folder / f"round_{k}.lark"
        if not path.exists():
            known = sorted(int(p.stem.split("_")[1]) for p in folder.glob("round_*.lark")) if folder.exists() else []
            raise AlphanasError(f"the run has no round {k}",
                                hint=f"its rounds: {', '.join(map(str, known))}" if known
                                else "it did not evolve its space (variation evolving_space)")
        texts.append(path.read_text().split("\n"))
    return "\n".join(difflib.unified_diff(texts[0], texts[1], f"round_{a}.lark", f"round_{b}.lark", lineterm=""))
