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

A damaged database (truncated, overwritten, not SQLite at all) is found
when it is opened (SQLite's ``quick_check``) or read: :class:`StoreDamaged`
says so with SQLite's reason and lists the candidates that can still be
read, read row by row from a repaired copy (:func:`salvage`).
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from alphanas.lang.errors import AlphanasError
from alphanas.lang.files import check_folder, writing

__all__ = ["DB_NAME", "Candidate", "RunInfo", "Salvage", "Store", "StoreDamaged", "candidate_folder",
           "checkpoint_path", "salvage"]

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


_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(method: _F) -> _F:
    """A :class:`Store` method that reads or writes the database: damage it
    meets (SQLite's "malformed", text or JSON that does not decode) is a
    :class:`StoreDamaged`, not a traceback."""

    @functools.wraps(method)
    def guarded(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as err:
            if not _is_damage(err):
                raise
            raise StoreDamaged.of(self.path, str(err)) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise StoreDamaged.of(self.path, f"a stored value does not decode ({err})") from None

    return guarded  # type: ignore[return-value]


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
        check_folder(folder, "run folder")
        with writing(path, "run database"):
            folder.mkdir(parents=True, exist_ok=True)
            try:
                connection = _connect(path)
            except sqlite3.OperationalError as err:  # "unable to open database file": a special file system
                raise AlphanasError(f"cannot write {path}: {err}",
                                    hint="choose a run_dir on an ordinary, writable file system") from None
        store = cls(path, connection)
        with store._write():
            store._db.executescript(_SCHEMA)
            store._db.execute(
                "INSERT INTO run (id, config, seed, created, engine_version) VALUES (1, ?, ?, ?, ?)",
                (json.dumps(config, sort_keys=True), seed, time.time(), engine_version),
            )
        return store

    @classmethod
    def open(cls, run_dir: str | Path) -> Store:
        """The run in ``run_dir``; an error if there is none, and
        :class:`StoreDamaged` if its database is damaged."""
        path = Path(run_dir) / DB_NAME
        if Path(run_dir).is_file():
            raise AlphanasError(f"{run_dir} is a file, not a run folder",
                                hint="give the run_dir of a search started with `alphanas search CONFIG.toml`")
        if not path.is_file():
            raise AlphanasError(
                f"{run_dir} holds no run: {path} does not exist",
                hint="give the run_dir of a search started with `alphanas search CONFIG.toml`",
            )
        damage = _header_damage(path)  # before SQLite touches (and might rewrite) the file
        if damage is not None:
            raise StoreDamaged.of(path, damage)
        store = None
        try:
            store = cls(path, _connect(path))
            tables = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = {"run", "candidates", "state"} - tables
            if missing:
                raise AlphanasError(f"{path} is not an alphanas run database (no table {', '.join(sorted(missing))})")
            problems = [r[0] for r in store._db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise StoreDamaged.of(path, "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else ""))
        except sqlite3.DatabaseError as err:
            if store is not None:
                store.close()
            if not _is_damage(err):
                raise
            raise StoreDamaged.of(path, str(err)) from None
        except AlphanasError:
            if store is not None:
                store.close()
            raise
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the run ------------------------------------------------------------------------------

    @_guarded
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

    @_guarded
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

    @_guarded
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

    @_guarded
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

    @_guarded
    def candidate(self, candidate_id: int) -> Candidate:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
        if row is None:
            raise KeyError(f"no candidate {candidate_id}")
        return _candidate(row)

    @_guarded
    def candidates(self, status: Status | None = None) -> list[Candidate]:
        """Every candidate (or those with ``status``), in index order."""
        if status is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM candidates ORDER BY id")
        else:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM candidates WHERE status = ? ORDER BY id", (status,))
        return [_candidate(r) for r in rows]

    @_guarded
    def finished(self) -> list[Candidate]:
        """Evaluated candidates (ok or failed) in the order they finished."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM candidates WHERE finish_order IS NOT NULL ORDER BY finish_order"
        )
        return [_candidate(r) for r in rows]

    @_guarded
    def next_id(self) -> int:
        (n,) = self._db.execute("SELECT COALESCE(MAX(id), -1) + 1 FROM candidates").fetchone()
        return int(n)

    @_guarded
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

    @_guarded
    def get_state(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    @_guarded
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


# -- a damaged database ---------------------------------------------------------------------------------

#: the first bytes of every SQLite database file
_MAGIC = b"SQLite format 3\x00"
#: the most candidate ids :func:`salvage` tries one by one
_SALVAGE_IDS = 1_000_000


@dataclass(frozen=True)
class Salvage:
    """What can still be read of a damaged run database: the candidates
    that read whole, and the ids known to exist that do not."""

    candidates: tuple[Candidate, ...]
    unreadable: tuple[int, ...]

    def describe(self) -> str:
        """The candidates that can still be read, in words."""
        if not self.candidates:
            return "no candidate can still be read"
        ids = _ranges([c.id for c in self.candidates])
        known = len(self.candidates) + len(self.unreadable)
        return f"the candidates that can still be read are {ids} ({len(self.candidates)} of {known} known)"


class StoreDamaged(AlphanasError):
    """``run.sqlite`` is damaged: SQLite's reason, and what can still be read
    (``salvage``)."""

    def __init__(self, path: Path, reason: str, salvaged: Salvage) -> None:
        folder = path.parent
        super().__init__(
            f"{path} is damaged: {reason}; {salvaged.describe()}",
            hint=f"a damaged run cannot be resumed: restore {path.name} from a copy if you have one, or start a "
            f"new search (`alphanas search CONFIG.toml --run-dir NEW_FOLDER`); `alphanas show {folder}` lists "
            "what can still be read",
        )
        self.path = path
        self.reason = reason
        self.salvage = salvaged

    @classmethod
    def of(cls, path: Path, reason: str) -> StoreDamaged:
        reason = reason.split(" with text '")[0].splitlines()[0] if reason else "unknown damage"
        if len(reason) > 160:
            reason = reason[:157] + "..."
        return cls(path, reason, salvage(path))


def _is_damage(err: sqlite3.DatabaseError) -> bool:
    """SQLite's errors for a damaged file: corrupt, not a database, text that
    does not decode (not "locked" or "busy", which are no damage)."""
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "decode" in str(err)
    return type(err) is sqlite3.DatabaseError or "decode" in str(err)


def _header_damage(path: Path) -> str | None:
    """Why the file cannot be an SQLite database, from its first bytes; None if it may be one."""
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except OSError as err:
        raise AlphanasError(f"cannot read {path}: {err.strerror or err}") from None
    if not head:
        return "the file is empty"
    if not head.startswith(_MAGIC[: len(head)]) or len(head) < len(_MAGIC):
        return "file is not a database"
    if len(head) < 100:
        return "the file is truncated (it ends inside the database header)"
    return None


def salvage(path: Path) -> Salvage:
    """Read what can still be read of the run database ``path``, row by
    row, from a copy whose header is repaired (a truncated file loses its
    last pages, not its first ones); the file itself is not touched."""
    try:
        data = bytearray(path.read_bytes())
    except OSError:
        return Salvage((), ())
    if not data.startswith(_MAGIC) or len(data) < 100:
        return Salvage((), ())
    (page_size,) = struct.unpack(">H", data[16:18])
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return Salvage((), ())
    pages = len(data) // page_size
    del data[pages * page_size:]
    data[18:20] = b"\x01\x01"  # rollback journal: a copy needs no WAL files
    data[28:32] = struct.pack(">I", pages)
    with tempfile.TemporaryDirectory(prefix="alphanas-salvage-") as tmp:
        copy = Path(tmp) / DB_NAME
        copy.write_bytes(bytes(data))
        db = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            return _salvage_rows(db)
        finally:
            db.close()


def _salvage_rows(db: sqlite3.Connection) -> Salvage:
    known: set[int] = set()
    for query in ("SELECT id FROM candidates ORDER BY id", "SELECT id FROM candidates ORDER BY id DESC",
                  "SELECT id FROM candidates INDEXED BY candidates_hash"):
        try:
            for (i,) in db.execute(query):
                if isinstance(i, int):
                    known.add(i)
        except sqlite3.Error:
            pass  # the rows read before the damage are kept
    tried = sorted(known | set(range(min(max(known, default=-1) + 1, _SALVAGE_IDS))))
    readable, unreadable = [], []
    for i in tried:
        try:
            row = db.execute(f"SELECT {_COLUMNS} FROM candidates WHERE id = ?", (i,)).fetchone()
            if row is not None:
                readable.append(_candidate(row))
        except (sqlite3.Error, ValueError, TypeError):  # TypeError: a row whose fields were damaged
            unreadable.append(i)
    return Salvage(tuple(readable), tuple(unreadable))


def _ranges(ids: Sequence[int]) -> str:
    """``#0-11, #13``: sorted ids, runs of consecutive ones joined."""
    parts: list[str] = []
    start = prev = None
    for i in sorted(ids):
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(f"#{start}" if start == prev else f"#{start}-{prev}")
        start = prev = i
    if start is not None:
        parts.append(f"#{start}" if start == prev else f"#{start}-{prev}")
    return ", ".join(parts)
