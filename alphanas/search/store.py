"""The run's database: every candidate of a search, written as it happens.

One SQLite file per run, ``RUN_DIR/run.sqlite``, in WAL mode with a commit
per write, so a search killed at any moment (``kill -9`` included) leaves a
consistent database: each candidate is either absent, ``running`` (it was
submitted and its evaluation never came back) or finished (``ok`` or
``failed``). :mod:`alphanas.search.loop` resumes from exactly that.

Tables:

- ``run``: one row: the configuration (JSON), the seed, when it was
  created and the engine version that created it;
- ``candidates``: one row per child index (0 is the seed program): its
  parent, generation (the seed is generation 0, a child one more than its
  parent), operator, program text, canonical hash, mutation record,
  properties, metrics, status, failure reason and where it failed
  (``variation`` or ``evaluation``), timings, and ``finish_order``: the
  order in which evaluations finished, which the search replays on resume;
- ``state``: key/value pairs the search needs to resume (JSON values).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from alphanas.lang.errors import AlphanasError

__all__ = ["DB_NAME", "Candidate", "RunInfo", "Store", "candidate_folder", "checkpoint_path"]

#: The database's file name inside a run folder.
DB_NAME = "run.sqlite"

Status = Literal["running", "ok", "failed"]
Phase = Literal["variation", "evaluation"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    created REAL NOT NULL,
    engine_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER,
    generation INTEGER NOT NULL,
    operator TEXT NOT NULL,
    program TEXT,
    hash TEXT,
    record TEXT NOT NULL,
    properties TEXT,
    metrics TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    phase TEXT NOT NULL CHECK (phase IN ('variation', 'evaluation')),
    reason TEXT,
    variation_seconds REAL NOT NULL,
    evaluation_seconds REAL,
    checkpoint TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    finish_order INTEGER UNIQUE
);
CREATE INDEX IF NOT EXISTS candidates_hash ON candidates (hash);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Candidate:
    """One row of ``candidates``. A candidate that failed in variation has
    no program (``program`` is None) and never reaches an executor."""

    id: int
    parent_id: int | None
    generation: int
    operator: str
    program: str | None
    hash: str | None
    record: Mapping[str, Any] = field(default_factory=dict)
    properties: Mapping[str, Any] | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    status: Status = "running"
    phase: Phase = "evaluation"
    reason: str | None = None
    variation_seconds: float = 0.0
    evaluation_seconds: float | None = None
    checkpoint: str | None = None
    created_at: float = 0.0
    finished_at: float | None = None
    finish_order: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def evaluated(self) -> bool:
        """It reached an evaluator and came back (ok or failed)."""
        return self.phase == "evaluation" and self.status != "running"


def candidate_folder(run_dir: Path, candidate_id: int) -> Path:
    """The folder of a candidate's files (its checkpoint) in a run folder."""
    return run_dir / "candidates" / f"{candidate_id:06d}"


def checkpoint_path(run_dir: Path, c: Candidate) -> Path | None:
    """Where candidate ``c``'s checkpoint is, None if it kept none. The store
    holds an absolute path; the candidate's folder inside ``run_dir`` comes
    first, so that a run folder that was moved or copied uses its own files
    (and resumes, weights inherited, where it is now). The stored path is
    returned when that folder lacks the file, so that a missing checkpoint
    is reported under the name it was written to."""
    if not c.checkpoint:
        return None
    here = candidate_folder(run_dir, c.id) / Path(c.checkpoint).name
    return here if here.is_file() else Path(c.checkpoint)


@dataclass(frozen=True)
class RunInfo:
    """The row of ``run``."""

    config: Mapping[str, Any]
    seed: int
    created: float
    engine_version: str


class Store:
    """The SQLite database of one run. Open it with :meth:`create` (a new
    run) or :meth:`open` (an existing one); every write commits."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, run_dir: str | Path, config: Mapping[str, Any], seed: int, engine_version: str) -> Store:
        """A new run in ``run_dir`` (created if needed); an error if the
        folder already holds one."""
        folder = Path(run_dir)
        path = folder / DB_NAME
        if path.exists():
            raise AlphanasError(
                f"{folder} already holds a run ({path.name})",
                hint=f"continue it with `alphanas resume {folder}`, or choose another run_dir",
            )
        folder.mkdir(parents=True, exist_ok=True)
        store = cls(path, _connect(path))
        with store._write():
            store._db.executescript(_SCHEMA)
            store._db.execute(
                "INSERT INTO run (id, config, seed, created, engine_version) VALUES (1, ?, ?, ?, ?)",
                (json.dumps(config, sort_keys=True), seed, time.time(), engine_version),
            )
        return store

    @classmethod
    def open(cls, run_dir: str | Path) -> Store:
        """The run in ``run_dir``; an error if there is none."""
        path = Path(run_dir) / DB_NAME
        if not path.is_file():
            raise AlphanasError(
                f"{run_dir} holds no run: {path} does not exist",
                hint="give the run_dir of a search started with `alphanas search CONFIG.toml`",
            )
        store = cls(path, _connect(path))
        tables = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"run", "candidates", "state"} - tables
        if missing:
            raise AlphanasError(f"{path} is not an alphanas run database (no table {', '.join(sorted(missing))})")
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the run ------------------------------------------------------------------------------

    def run_info(self) -> RunInfo:
        config, seed, created, version = self._db.execute(
            "SELECT config, seed, created, engine_version FROM run WHERE id = 1"
        ).fetchone()
        return RunInfo(json.loads(config), seed, created, version)

    def set_config(self, config: Mapping[str, Any]) -> None:
        """Replace the run's stored configuration (``alphanas resume --config``)."""
        with self._write():
            self._db.execute("UPDATE run SET config = ? WHERE id = 1", (json.dumps(config, sort_keys=True),))

    # -- candidates ------------------------------------------------------------------------

    def add(self, candidate: Candidate) -> Candidate:
        """Insert a new candidate (running, or already failed in variation)."""
        c = candidate if candidate.created_at else replace(candidate, created_at=time.time())
        with self._write():
            self._db.execute(
                "INSERT INTO candidates (id, parent_id, generation, operator, program, hash, record, properties, "
                "metrics, status, phase, reason, variation_seconds, evaluation_seconds, checkpoint, created_at, "
                "finished_at, finish_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _row(c),
            )
        return c

    def mark_running(self, candidate_id: int) -> None:
        """Put a candidate back to ``running`` before it is evaluated again
        (a resumed run re-submits the evaluations a kill interrupted)."""
        with self._write():
            cur = self._db.execute(
                "UPDATE candidates SET status = 'running', reason = NULL, finished_at = NULL, "
                "evaluation_seconds = NULL, finish_order = NULL WHERE id = ? AND phase = 'evaluation'",
                (candidate_id,),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no evaluable candidate {candidate_id}")

    def retry(self, candidate_id: int) -> Candidate:
        """Evaluate a finished candidate again: its result (status, reason,
        metrics, seconds, when it finished) is appended to its record's
        ``history`` and it is ``running`` once more (a run whose seed failed
        retries the seed so)."""
        with self._write():
            c = self.candidate(candidate_id)
            if not c.evaluated:
                raise KeyError(f"candidate {candidate_id} has no evaluation to retry")
            attempt = {"status": c.status, "reason": c.reason, "metrics": dict(c.metrics),
                       "evaluation_seconds": c.evaluation_seconds, "finished_at": c.finished_at}
            record = {**c.record, "history": [*c.record.get("history", []), attempt]}
            self._db.execute(
                "UPDATE candidates SET record = ?, status = 'running', metrics = '{}', reason = NULL, "
                "evaluation_seconds = NULL, checkpoint = NULL, finished_at = NULL, finish_order = NULL WHERE id = ?",
                (_dumps(record), candidate_id),
            )
        return self.candidate(candidate_id)

    def finish(
        self,
        candidate_id: int,
        status: Literal["ok", "failed"],
        metrics: Mapping[str, float],
        reason: str | None,
        evaluation_seconds: float,
        checkpoint: str | None = None,
    ) -> Candidate:
        """Record an evaluation's result; the candidate gets the next finish order."""
        with self._write():
            (order,) = self._db.execute("SELECT COALESCE(MAX(finish_order), -1) + 1 FROM candidates").fetchone()
            cur = self._db.execute(
                "UPDATE candidates SET status = ?, metrics = ?, reason = ?, evaluation_seconds = ?, checkpoint = ?, "
                "finished_at = ?, finish_order = ? WHERE id = ? AND status = 'running'",
                (status, _dumps(metrics), reason, evaluation_seconds, checkpoint, time.time(), order, candidate_id),
            )
            if cur.rowcount != 1:
                raise KeyError(f"candidate {candidate_id} is not running")
        return self.candidate(candidate_id)

    def candidate(self, candidate_id: int) -> Candidate:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
        if row is None:
            raise KeyError(f"no candidate {candidate_id}")
        return _candidate(row)

    def candidates(self, status: Status | None = None) -> list[Candidate]:
        """Every candidate (or those with ``status``), in index order."""
        if status is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM candidates ORDER BY id")
        else:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM candidates WHERE status = ? ORDER BY id", (status,))
        return [_candidate(r) for r in rows]

    def finished(self) -> list[Candidate]:
        """Evaluated candidates (ok or failed) in the order they finished."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM candidates WHERE finish_order IS NOT NULL ORDER BY finish_order"
        )
        return [_candidate(r) for r in rows]

    def next_id(self) -> int:
        (n,) = self._db.execute("SELECT COALESCE(MAX(id), -1) + 1 FROM candidates").fetchone()
        return int(n)

    def counts(self) -> dict[str, int]:
        """How many candidates are running, ok, failed in evaluation and
        failed in variation."""
        out = {"running": 0, "ok": 0, "failed": 0, "variation_failed": 0}
        for status, phase, n in self._db.execute(
            "SELECT status, phase, COUNT(*) FROM candidates GROUP BY status, phase"
        ):
            key = "variation_failed" if phase == "variation" else status
            out[key] += n
        return out

    def front(self, directions: Mapping[str, str]) -> list[Candidate]:
        """The ok candidates not dominated on the objectives ``directions``
        (metric name -> "max"/"min"), in index order."""
        from alphanas.evaluation.pareto import Objective, pareto_front

        objectives = [Objective(name, d) for name, d in directions.items()]  # type: ignore[arg-type]
        rows = [c for c in self.candidates("ok") if all(_finite(c.metrics.get(o.name)) for o in objectives)]
        keep = pareto_front([[c.metrics[o.name] for o in objectives] for c in rows], objectives)
        return [rows[i] for i in keep]

    # -- state ---------------------------------------------------------------------------------

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any) -> None:
        with self._write():
            self._db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value, sort_keys=True)),
            )

    # -- internals --------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One transaction, committed at the end (rolled back on an error)."""
        with self._db:
            yield


_FIELDS = (
    "id", "parent_id", "generation", "operator", "program", "hash", "record", "properties", "metrics",
    "status", "phase", "reason", "variation_seconds", "evaluation_seconds", "checkpoint", "created_at",
    "finished_at", "finish_order",
)
_COLUMNS = ", ".join(_FIELDS)
_JSON_FIELDS = {"record", "properties", "metrics"}


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30.0)
    db.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL survives a killed process (not a power cut
    # in the last instant), at a fraction of FULL's cost per commit.
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _row(c: Candidate) -> tuple[Any, ...]:
    values = []
    for name in _FIELDS:
        v = getattr(c, name)
        if name in _JSON_FIELDS:
            v = None if v is None else _dumps(v)
        values.append(v)
    return tuple(values)


def _candidate(row: Sequence[Any]) -> Candidate:
    values = dict(zip(_FIELDS, row))
    for name in _JSON_FIELDS:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return Candidate(**values)


def _dumps(value: Any) -> str:
    """JSON of a record or metrics. JSON has no NaN or infinity: those are
    written as the strings "nan", "inf", "-inf" (and read back as strings,
    which no objective accepts, so such a candidate never enters a front)."""
    return json.dumps(_nan_safe(value), sort_keys=True, default=str, allow_nan=False)


def _nan_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _nan_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_safe(v) for v in value]
    return value


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)
