"""Loading a finished (or running) search for inspection: one place that
the ``show``, ``diff``, ``render``, ``report`` and ``export`` commands read
a run folder through.

:func:`load_run` reads ``run.sqlite`` once (:mod:`alphanas.search.store`) into a
:class:`RunView`: every candidate, the objectives and reference box the run
was configured with, and what is derived from them — the Pareto front, the
hypervolume after each evaluation, the lineage of a candidate back to the
seed, the failures grouped by reason, and where a candidate's weights are.

Everything is recomputed from the store rather than read from
``pareto.csv``/``history.csv``: the store is the record a search commits
per candidate, the CSV files are views of it the search rewrites, and a
test checks that both agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphanas.evaluation.pareto import (
    Objective,
    ReferenceBox,
    dominates,
    hypervolume,
    objective_point,
    pareto_front,
)
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.search.store import DB_NAME, Candidate, Store, checkpoint_path

__all__ = [
    "FailureGroup",
    "HypervolumePoint",
    "RunView",
    "format_metric",
    "load_run",
    "parse_candidate",
]

@dataclass(frozen=True)
class HypervolumePoint:
    """The front's hypervolume after the ``evaluations``-th finished
    evaluation (the seed's is the first), which was ``candidate_id``'s."""

    evaluations: int
    candidate_id: int
    hypervolume: float


@dataclass(frozen=True)
class FailureGroup:
    """Failures in one phase (``variation`` or ``evaluation``) whose reasons
    read alike once their numbers are left out (``duplicate of candidate N``)."""

    phase: str
    pattern: str
    example: str
    ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class RunView:
    """A run folder as read at one moment. Candidates are in id order."""

    run_dir: Path
    config: Mapping[str, Any]
    objectives: tuple[Objective, ...]
    #: the hypervolume's reference box (None until the seed was evaluated)
    box: ReferenceBox | None
    candidates: tuple[Candidate, ...]

    # -- single candidates -----------------------------------------------------------------

    def candidate(self, candidate_id: int) -> Candidate:
        """The candidate with this id; a user error if the run has none."""
        for c in self.candidates:
            if c.id == candidate_id:
                return c
        last = self.candidates[-1].id if self.candidates else None
        known = f"its ids are 0..{last}" if last is not None else "it has no candidates yet"
        raise AlphanasError(f"run {self.run_dir} has no candidate {candidate_id}",
                            hint=f"{known}; `alphanas show {self.run_dir}` lists the front")

    def program(self, candidate_id: int) -> Program:
        """The candidate's program, parsed from its stored text."""
        return parse_candidate(self.candidate(candidate_id))

    def parent(self, c: Candidate) -> Candidate | None:
        return None if c.parent_id is None else self.candidate(c.parent_id)

    def lineage(self, candidate_id: int) -> tuple[Candidate, ...]:
        """The candidate's ancestors and itself, the seed first."""
        chain = [self.candidate(candidate_id)]
        while chain[-1].parent_id is not None:
            if len(chain) > len(self.candidates):  # a corrupt store with a parent cycle
                raise AlphanasError(f"{self.run_dir / DB_NAME}: the parents of candidate {candidate_id} form a cycle")
            chain.append(self.candidate(chain[-1].parent_id))
        return tuple(reversed(chain))

    def weights(self, c: Candidate) -> Path | None:
        """The file of the candidate's trained weights, if they were kept
        and are still there (in this run folder first: see ``checkpoint_path``)."""
        path = checkpoint_path(self.run_dir, c)
        return path if path is not None and path.is_file() else None

    # -- the objectives ---------------------------------------------------------------------

    def values(self, c: Candidate) -> tuple[float, ...] | None:
        """The candidate's objective values, if it is ok with a finite value
        for every objective (what the search itself admits to a front)."""
        if not c.ok:
            return None
        return objective_point(c.metrics, self.objectives)

    @property
    def scored(self) -> tuple[Candidate, ...]:
        """The candidates with a value for every objective."""
        return tuple(c for c in self.candidates if self.values(c) is not None)

    @property
    def front(self) -> tuple[Candidate, ...]:
        """The non-dominated scored candidates, in id order."""
        rows = self.scored
        keep = pareto_front([self.values(c) for c in rows], self.objectives)  # type: ignore[misc]
        return tuple(rows[i] for i in keep)

    def hypervolume_history(self) -> tuple[HypervolumePoint, ...]:
        """The hypervolume after each finished evaluation, in the order they
        finished, as the search computed it (``history.csv``)."""
        if self.box is None:
            return ()
        points: list[tuple[float, ...]] = []
        current = 0.0
        history = []
        for k, c in enumerate(self.finished, start=1):
            vals = self.values(c)
            if vals is not None and not any(dominates(p, vals, self.objectives) for p in points):
                points = [p for p in points if not dominates(vals, p, self.objectives)] + [vals]
                current = hypervolume(points, self.box)
            history.append(HypervolumePoint(k, c.id, current))
        return tuple(history)

    @property
    def finished(self) -> tuple[Candidate, ...]:
        """Evaluated candidates (ok or failed) in the order they finished."""
        done = [c for c in self.candidates if c.finish_order is not None]
        return tuple(sorted(done, key=lambda c: c.finish_order))  # type: ignore[arg-type, return-value]

    # -- counts and failures -------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Candidates by outcome: ``ok``, ``failed`` (in evaluation),
        ``variation_failed`` (no program was made), ``running``, and the
        number ``evaluated`` (ok or failed)."""
        out = {"candidates": len(self.candidates), "evaluated": 0, "ok": 0, "failed": 0,
               "variation_failed": 0, "running": 0}
        for c in self.candidates:
            if c.phase == "variation":
                out["variation_failed"] += 1
            else:
                out[c.status] += 1
        out["evaluated"] = out["ok"] + out["failed"]
        return out

    def failures(self) -> tuple[FailureGroup, ...]:
        """Failed candidates grouped by phase and reason, largest group first."""
        groups: dict[tuple[str, str], list[Candidate]] = {}
        for c in self.candidates:
            if c.status == "failed":
                reason = c.reason or "(no reason recorded)"
                groups.setdefault((c.phase, reason_pattern(reason)), []).append(c)
        out = [FailureGroup(phase, pattern, members[0].reason or pattern, tuple(m.id for m in members))
               for (phase, pattern), members in groups.items()]
        return tuple(sorted(out, key=lambda g: (-g.count, g.phase, g.pattern)))

    # -- the configuration -------------------------------------------------------------------------

    def setting(self, *path: str, default: Any = None) -> Any:
        """A value of the stored configuration (``setting("strategy", "variation")``)."""
        node: Any = self.config
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return default
            node = node[key]
        return node


def format_metric(v: float) -> str:
    """A metric for people: whole numbers with thousands separators,
    fractions with 4 significant digits."""
    if float(v).is_integer() and abs(v) >= 1:
        return f"{int(v):,}"
    return f"{v:.4g}"


_NUMBER = re.compile(r"\d[\d,._]*")


def reason_pattern(reason: str) -> str:
    """A failure reason with its numbers left out, so that reasons that
    differ only in a count or an id fall into one group."""
    return _NUMBER.sub("N", reason)


def parse_candidate(c: Candidate) -> Program:
    """A candidate's program, parsed from its stored text with the same
    file label the search gives it (so node ids match its mutation record)."""
    from alphanas.lang.parse import parse

    if c.program is None:
        raise AlphanasError(f"candidate {c.id} has no program: it failed in variation ({c.reason})",
                            hint="choose a candidate that was evaluated")
    return parse(c.program, f"<candidate {c.id}>")


def load_run(run_dir: str | Path) -> RunView:
    """Read the run in ``run_dir``; a user error if there is none."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise AlphanasError(f"no such run folder: {folder}",
                            hint="give the run_dir of a search started with `alphanas search CONFIG.toml`")
    with Store.open(folder) as store:
        info = store.run_info()
        candidates = tuple(store.candidates())
        stored_box = store.get_state("reference_box")
    objectives = _objectives(info.config.get("objectives", ()), folder)
    box = ReferenceBox.from_list(stored_box) if stored_box is not None else None
    return RunView(folder, info.config, objectives, box, candidates)


def _objectives(items: Sequence[Any], folder: Path) -> tuple[Objective, ...]:
    """The objectives as the run stored them (``SearchConfig.to_dict``):
    name and direction are all inspection needs, so the configuration is not
    validated again (its evaluator or variation may not import here)."""
    try:
        return tuple(Objective(o["name"], o["direction"]) for o in items)
    except (KeyError, TypeError, ValueError) as err:
        raise AlphanasError(f"{folder / DB_NAME}: the stored objectives are unreadable ({err})") from None
