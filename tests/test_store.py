"""The run database: a round trip of every field, finish order, counts,
the front, state, and the errors for a missing or existing run."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from alphanas.lang.errors import AlphanasError
from alphanas.search.store import DB_NAME, Candidate, Store


def _candidate(i: int, **kw: object) -> Candidate:
    fields: dict = dict(id=i, parent_id=None if i == 0 else 0, generation=0 if i == 0 else 1,
                        operator="seed" if i == 0 else "random_edit", program=f"model m{i}(x: [3]) {{\n  return x\n}}\n",
                        hash=f"h{i}", record={"edit": "insert", "nested": {"a": [1, 2]}})
    fields.update(kw)
    return Candidate(**fields)  # type: ignore[arg-type]


def test_round_trip(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.create(run, {"seed": 3, "objectives": ["params"]}, seed=3, engine_version="0.1.0") as store:
        store.add(_candidate(0))
        store.add(_candidate(1, properties={"depth": 3}, variation_seconds=0.25))
        store.add(_candidate(2, status="failed", phase="variation", program=None, hash=None, reason="no region"))
        store.add(_candidate(3))
        # evaluations finish out of index order
        store.finish(3, "ok", {"params": 10.0, "flops": 20.0}, None, 1.5, checkpoint="ck/3.pt")
        store.finish(0, "ok", {"params": 12.0, "flops": 10.0}, None, 2.0)
        store.finish(1, "failed", {"params": 5.0}, "NaN loss", 0.5)
    with Store.open(run) as store:
        info = store.run_info()
        assert info.config == {"seed": 3, "objectives": ["params"]}
        assert (info.seed, info.engine_version) == (3, "0.1.0")
        rows = store.candidates()
        assert [c.id for c in rows] == [0, 1, 2, 3]
        c1 = store.candidate(1)
        assert c1.record == {"edit": "insert", "nested": {"a": [1, 2]}}
        assert c1.properties == {"depth": 3}
        assert (c1.status, c1.reason, c1.metrics, c1.evaluation_seconds) == ("failed", "NaN loss", {"params": 5.0}, 0.5)
        assert c1.variation_seconds == 0.25 and c1.evaluated and not c1.ok
        c2 = store.candidate(2)
        assert (c2.status, c2.phase, c2.reason, c2.program) == ("failed", "variation", "no region", None)
        assert not c2.evaluated
        assert store.candidate(3).checkpoint == "ck/3.pt"
        assert [c.id for c in store.finished()] == [3, 0, 1]
        assert [c.finish_order for c in store.finished()] == [0, 1, 2]
        assert [c.id for c in store.candidates("ok")] == [0, 3]
        assert store.counts() == {"running": 0, "ok": 2, "failed": 1, "variation_failed": 1}
        assert store.next_id() == 4
        # 0 has fewer flops, 3 fewer params: both on the front
        assert [c.id for c in store.front({"params": "min", "flops": "min"})] == [0, 3]
        assert [c.id for c in store.front({"params": "min"})] == [3]


def test_mark_running_and_finish_rules(tmp_path: Path) -> None:
    with Store.create(tmp_path, {}, 0, "x") as store:
        store.add(_candidate(0))
        store.finish(0, "ok", {"params": 1.0}, None, 0.1)
        with pytest.raises(KeyError, match="not running"):
            store.finish(0, "ok", {}, None, 0.1)
        store.mark_running(0)
        c = store.candidate(0)
        assert (c.status, c.finish_order, c.finished_at) == ("running", None, None)
        with pytest.raises(KeyError):
            store.mark_running(99)


def test_state(tmp_path: Path) -> None:
    with Store.create(tmp_path, {}, 0, "x") as store:
        assert store.get_state("box", "none") == "none"
        store.set_state("box", {"params": {"best": 0, "worst": 2.5}})
        store.set_state("box", {"params": {"best": 0, "worst": 3.5}})
    with Store.open(tmp_path) as store:
        assert store.get_state("box") == {"params": {"best": 0, "worst": 3.5}}


def test_non_finite_metrics_are_kept_as_strings(tmp_path: Path) -> None:
    with Store.create(tmp_path, {}, 0, "x") as store:
        store.add(_candidate(0))
        store.finish(0, "failed", {"loss": math.nan, "params": 3.0}, "diverged", 0.1)
        c = store.candidate(0)
        assert c.metrics == {"loss": "nan", "params": 3.0}
        assert store.front({"loss": "min"}) == []


def test_wal_mode_and_commit_per_write(tmp_path: Path) -> None:
    with Store.create(tmp_path, {}, 0, "x") as store:
        store.add(_candidate(0))
        # another connection sees the row at once: it was committed
        other = sqlite3.connect(tmp_path / DB_NAME)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == 1
        other.close()


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(AlphanasError, match="holds no run"):
        Store.open(tmp_path / "nothing")
    Store.create(tmp_path, {}, 0, "x").close()
    with pytest.raises(AlphanasError, match="already holds a run") as err:
        Store.create(tmp_path, {}, 0, "x")
    assert "alphanas resume" in (err.value.hint or "")
    (tmp_path / "other").mkdir()
    sqlite3.connect(tmp_path / "other" / DB_NAME).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(AlphanasError, match="not an alphanas run database"):
        Store.open(tmp_path / "other")
