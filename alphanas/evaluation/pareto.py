"""Pareto fronts and hypervolume over a search's objectives.

An :class:`Objective` is a metric name and the direction in which it is
better; the directions of the known metrics come from
:data:`alphanas.evaluation.evaluator.METRICS`. Points are sequences of metric values in
objective order.

**Hypervolume and its reference box.** Parameters, FLOPs and accuracy have
different units, so the hypervolume is taken after mapping each objective
onto [0, 1] with a :class:`ReferenceBox`: 0 is the box's ``best`` value, 1
its ``worst`` (the reference point is the box's worst corner, (1, ..., 1)
after normalisation). A value better than ``best`` counts as ``best``; a
value at or beyond ``worst`` contributes nothing. The hypervolume is then the
fraction of the unit box dominated by the points, a number in [0, 1] that
can be compared across runs that share a box. The default box
(:meth:`ReferenceBox.from_seed`) is fixed by the seed program's metrics when
the run starts, so that a run's hypervolume never decreases:

- a ``min`` objective (params, FLOPs, latency) spans [0, 2 × seed]: a child
  twice as costly as the seed adds nothing (1 instead of 2 × seed when the
  seed's value is not positive);
- a ``max`` objective spans [min(0, 2 × seed), 1] when the seed's value is a
  fraction in [0, 1] (accuracies), else [min(0, 2 × seed), 2 × |seed|]
  (best at least ``1`` above worst).

A search config may set ``best`` and ``worst`` per objective instead.
The hypervolume itself is exact: a sweep in two dimensions, slicing along
the last objective in more (exponential in the number of objectives, fine
for the two to four a search uses).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Direction",
    "Objective",
    "ReferenceBox",
    "dominates",
    "hypervolume",
    "hypervolume_min",
    "nondominated_sort",
    "pareto_front",
    "write_history_row",
    "write_pareto_csv",
]

Direction = Literal["max", "min"]
Point = Sequence[float]


@dataclass(frozen=True)
class Objective:
    """A metric to optimise and its direction."""

    name: str
    direction: Direction

    def __post_init__(self) -> None:
        if self.direction not in ("max", "min"):
            raise ValueError(f"objective {self.name}: direction must be 'max' or 'min', got {self.direction!r}")

    @property
    def sign(self) -> float:
        """+1 to turn the value into one to minimise, or -1."""
        return 1.0 if self.direction == "min" else -1.0

    def better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "min" else a > b


def objective_point(metrics: Mapping[str, Any], objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    """A candidate's point in objective space: its metric for each
    objective, or None unless every one is a finite number (only such
    candidates enter a front)."""
    out = []
    for o in objectives:
        v = metrics.get(o.name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return None
        out.append(float(v))
    return tuple(out)


def _minimized(point: Point, objectives: Sequence[Objective]) -> tuple[float, ...]:
    return tuple(o.sign * float(v) for v, o in zip(point, objectives))


def dominates(a: Point, b: Point, objectives: Sequence[Objective]) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    strictly = False
    for x, y, o in zip(a, b, objectives):
        if o.better(y, x):
            return False
        if o.better(x, y):
            strictly = True
    return strictly


def nondominated_sort(points: Sequence[Point], objectives: Sequence[Objective]) -> list[list[int]]:
    """Indices of the points by front: the non-dominated first, then those
    dominated only by the first front, and so on (Deb et al.'s fast
    non-dominated sorting; indices in each front ascending)."""
    n = len(points)
    dominated_by = [0] * n
    dominating: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j], objectives):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], points[i], objectives):
                dominating[j].append(i)
                dominated_by[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in range(n) if dominated_by[i] == 0]
    while current:
        fronts.append(sorted(current))
        following = []
        for i in current:
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        current = following
    return fronts


def pareto_front(points: Sequence[Point], objectives: Sequence[Objective]) -> list[int]:
    """Indices (ascending) of the points no other point dominates. Equal
    points are all kept."""
    return [
        i for i, p in enumerate(points)
        if not any(dominates(q, p, objectives) for j, q in enumerate(points) if j != i)
    ]


@dataclass(frozen=True)
class ReferenceBox:
    """Per objective, the value that normalises to 0 (``best``) and to 1
    (``worst``); see the module doc for the default rule."""

    objectives: tuple[Objective, ...]
    best: tuple[float, ...]
    worst: tuple[float, ...]

    def __post_init__(self) -> None:
        for o, b, w in zip(self.objectives, self.best, self.worst):
            if not (math.isfinite(b) and math.isfinite(w)) or not o.better(b, w):
                raise ValueError(f"objective {o.name} ({o.direction}): best {b} must be better than worst {w}")

    @classmethod
    def from_seed(
        cls,
        objectives: Sequence[Objective],
        seed: Mapping[str, float],
        overrides: Mapping[str, Mapping[str, float]] | None = None,
    ) -> ReferenceBox:
        """The default box around the seed's metrics; ``overrides`` maps an
        objective name to its own ``best`` and/or ``worst``."""
        best, worst = [], []
        for o in objectives:
            b, w = _default_bounds(o, float(seed[o.name]))
            given = (overrides or {}).get(o.name, {})
            best.append(float(given.get("best", b)))
            worst.append(float(given.get("worst", w)))
        return cls(tuple(objectives), tuple(best), tuple(worst))

    def normalize(self, point: Point) -> tuple[float, ...]:
        """Each value mapped to [0, 1]: 0 at ``best`` (or better), 1 at
        ``worst`` (or worse)."""
        out = []
        for v, b, w in zip(point, self.best, self.worst):
            t = (float(v) - b) / (w - b)
            out.append(min(1.0, max(0.0, t)))
        return tuple(out)

    def as_list(self) -> list[dict[str, Any]]:
        """A JSON-able form, in objective order."""
        return [
            {"name": o.name, "direction": o.direction, "best": b, "worst": w}
            for o, b, w in zip(self.objectives, self.best, self.worst)
        ]

    @classmethod
    def from_list(cls, data: Sequence[Mapping[str, Any]]) -> ReferenceBox:
        objectives = tuple(Objective(v["name"], v["direction"]) for v in data)
        return cls(objectives, tuple(float(v["best"]) for v in data), tuple(float(v["worst"]) for v in data))


def _default_bounds(o: Objective, seed: float) -> tuple[float, float]:
    if o.direction == "min":
        return 0.0, (2.0 * seed if seed > 0 else 1.0)
    worst = min(0.0, 2.0 * seed)
    best = 1.0 if 0.0 <= seed <= 1.0 else max(2.0 * abs(seed), worst + 1.0)
    return best, worst


def hypervolume(points: Iterable[Point], box: ReferenceBox) -> float:
    """The fraction of the box's unit cube that the points dominate."""
    normalized = [box.normalize(p) for p in points]
    return hypervolume_min(normalized, (1.0,) * len(box.objectives))


def hypervolume_min(points: Iterable[Point], reference: Point) -> float:
    """The exact volume dominated by ``points`` (every objective minimised)
    and bounded by ``reference``. Points not strictly better than the
    reference in every objective contribute nothing."""
    ref = tuple(float(r) for r in reference)
    pts = [tuple(float(v) for v in p) for p in points if all(v < r for v, r in zip(p, ref))]
    if not pts:
        return 0.0
    if len(ref) == 2:
        return _hv(pts, ref)  # the sweep passes over dominated points itself: no quadratic filter
    return _hv(_nondominated_min(pts), ref)


def _nondominated_min(points: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    unique = sorted(set(points))
    return [
        p for p in unique
        if not any(q != p and all(a <= b for a, b in zip(q, p)) for q in unique)
    ]


def _hv(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    m = len(ref)
    if m == 1:
        return ref[0] - min(p[0] for p in points)
    if m == 2:
        # sweep along the first objective; the second falls along the front
        volume, last_y = 0.0, ref[1]
        for x, y in sorted(points):
            if y < last_y:
                volume += (ref[0] - x) * (last_y - y)
                last_y = y
        return volume
    # slice along the last objective: between consecutive values, the
    # dominated region is the (m-1)-dimensional volume of the points below
    ordered = sorted(points, key=lambda p: p[-1])
    volume = 0.0
    for k, p in enumerate(ordered):
        top = ordered[k + 1][-1] if k + 1 < len(ordered) else ref[-1]
        if top > p[-1]:
            below = _nondominated_min([q[:-1] for q in ordered[: k + 1]])
            volume += _hv(below, ref[:-1]) * (top - p[-1])
    return volume


# -- files -----------------------------------------------------------------------------------------


def write_pareto_csv(path: str | Path, rows: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]) -> None:
    """``pareto.csv``: one line per front member (id, generation, parent,
    operator, objective values, hash), written to a temporary file and
    renamed, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "generation", "parent_id", "operator", *(o.name for o in objectives), "hash"])
        for r in rows:
            w.writerow([r["id"], r["generation"], r["parent_id"], r["operator"],
                        *(r["metrics"][o.name] for o in objectives), r["hash"]])
    os.replace(tmp, path)


#: Columns of ``history.csv`` before the per-objective best values.
HISTORY_COLUMNS = ("evaluations", "failed", "variation_failed", "elapsed_seconds", "hypervolume")


def write_history_row(path: str | Path, row: Mapping[str, Any], objectives: Sequence[Objective]) -> None:
    """Append one line to ``history.csv`` (with the header if the file is new)."""
    path = Path(path)
    header = [*HISTORY_COLUMNS, *(f"best_{o.name}" for o in objectives)]
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(header)
        w.writerow([row.get(h, "") for h in header])
