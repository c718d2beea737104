"""One process at a time in a run folder: a second search, resume or
ask-and-tell driver is refused at once naming the holder; a lock left by a
killed process blocks nobody; readers (show, report, export) take no lock
and read the run while a search writes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from alphanas.cli import main
from alphanas.evaluation.evaluator import AnalyticEvaluator, EvalContext, Evaluation, Fidelity
from alphanas.lang.ir import Program
from alphanas.search.ask_tell import AskTell
from alphanas.search.config import load_config
from alphanas.search.lock import LOCK_NAME, RunLock, RunLocked
from alphanas.search.loop import evaluation_seed, resume, run_search
from alphanas.search.store import Store

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
ALPHANAS = Path(sys.executable).parent / "alphanas"


@dataclass(frozen=True)
class SlowEvaluator:
    """The analytic evaluator, slowed down, logging the evaluation seed of
    every call (which names the candidate) to ``log``; while the file
    ``gate`` exists, every evaluation waits (the test holds the search)."""

    log: str
    delay: float = 0.3
    gate: str = ""
    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        with open(self.log, "a") as f:
            f.write(f"{context.seed}\n")
        time.sleep(self.delay)
        deadline = time.monotonic() + 120
        while self.gate and os.path.exists(self.gate) and time.monotonic() < deadline:
            time.sleep(0.02)
        return AnalyticEvaluator().evaluate(program, fidelity, context)


def _config(tmp_path: Path, name: str = "run", children: int = 8, delay: float = 0.3) -> Path:
    """A serial search whose evaluations wait while ``tmp_path/gate`` exists."""
    path = tmp_path / f"{name}.toml"
    path.write_text(f"""\
seed_program = "zoo:small_cnn"
seed_params = {{ width = 8 }}
run_dir = "{name}"
seed = 2
population = 8
objectives = ["params", "flops"]

[strategy]
variation = "random_edit"

[budget]
children = {children}

[executor]
kind = "serial"

[evaluator]
kind = "test_lock:SlowEvaluator"
options = {{ log = "{tmp_path / (name + '.log')}", delay = {delay}, gate = "{tmp_path / 'gate'}" }}
""")
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}


def _cli(*args: str) -> subprocess.Popen[str]:
    """``alphanas ARGS`` as its own process, as a user runs it."""
    return subprocess.Popen([str(ALPHANAS), *args], env=_env(), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _holder(run_dir: Path) -> int | None:
    """The pid the run's lock file names (None: nobody)."""
    try:
        text = (run_dir / LOCK_NAME).read_text().strip()
    except FileNotFoundError:
        return None
    return int(json.loads(text)["pid"]) if text else None


def _wait_for_holder(run_dir: Path, pid: int) -> None:
    _wait_until(lambda: _holder(run_dir) == pid)


def _wait_until(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _evaluated(run_dir: Path) -> int:
    try:
        with Store.open(run_dir) as store:
            return sum(c.evaluated for c in store.candidates())
    except Exception:
        return 0


def _log_counts(log: Path) -> Counter[int]:
    return Counter(int(line) for line in log.read_text().split())


# -- through the command line ------------------------------------------------------------------------


def test_two_resumes_of_one_folder(tmp_path: Path) -> None:
    """The second `alphanas resume` is refused at once (exit 2, naming the
    lock and the first one's pid, no traceback); the first completes the
    run, each candidate evaluated once (the one a kill interrupted twice)."""
    path = _config(tmp_path, children=8, delay=0.1)
    run_dir = tmp_path / "run"
    first = _cli("search", str(path), "-q")
    _wait_until(lambda: _evaluated(run_dir) >= 3)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    with Store.open(run_dir) as store:
        interrupted = {c.id for c in store.candidates("running")}

    (tmp_path / "gate").touch()  # the resume that gets the lock waits in its first evaluation
    a = _cli("resume", str(run_dir), "-q")
    _wait_for_holder(run_dir, a.pid)
    b = _cli("resume", str(run_dir), "-q")
    out_b, err_b = b.communicate(timeout=120)
    (tmp_path / "gate").unlink()
    out_a, err_a = a.communicate(timeout=180)
    assert a.returncode == 0, err_a
    assert "stopped by budget" in out_a and "8 children evaluated" in out_a
    assert b.returncode == 2, err_b
    assert "Traceback" not in err_b and out_b == ""
    assert f"in use by process {a.pid}" in err_b and str(run_dir / LOCK_NAME) in err_b
    assert "resume" in err_b  # the hint says what to do
    with Store.open(run_dir) as store:
        counts = store.counts()
        ids = {evaluation_seed(2, c.id): c.id for c in store.candidates() if c.evaluated}
    assert counts["running"] == 0 and counts["ok"] == 9
    for seed_value, n in _log_counts(tmp_path / "run.log").items():
        assert n == 1 or (n == 2 and ids[seed_value] in interrupted), (ids[seed_value], n)
    assert (run_dir / LOCK_NAME).read_text() == ""  # released: it names nobody


def test_a_lock_left_by_a_killed_process_blocks_nobody(tmp_path: Path) -> None:
    path = _config(tmp_path, children=6, delay=0.1)
    run_dir = tmp_path / "run"
    proc = _cli("search", str(path), "-q")
    _wait_for_holder(run_dir, proc.pid)
    _wait_until(lambda: _evaluated(run_dir) >= 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _holder(run_dir) == proc.pid  # its name is still in the file, but the OS dropped the lock
    again = _cli("resume", str(run_dir), "-q")
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    assert "6 children evaluated" in out


def test_readers_read_while_a_search_runs(tmp_path: Path) -> None:
    """show, report and export take no lock; each reads what the search
    has committed so far."""
    path = _config(tmp_path, children=10, delay=0.05)
    run_dir = tmp_path / "run"
    search = _cli("search", str(path), "-q")
    try:
        _wait_until(lambda: _evaluated(run_dir) >= 3)
        (tmp_path / "gate").touch()  # the search waits in an evaluation while the readers read
        seen = []
        for _ in range(3):
            show = _cli("show", str(run_dir), "--json")
            out, err = show.communicate(timeout=60)
            assert show.returncode == 0, err
            seen.append(json.loads(out))
        report = _cli("report", str(run_dir), "-o", str(tmp_path / "report.html"))
        _, err = report.communicate(timeout=120)
        assert report.returncode == 0, err
        export = _cli("export", str(run_dir), "--id", "0", "-o", str(tmp_path / "seed.py"))
        _, err = export.communicate(timeout=120)
        assert export.returncode == 0, err
        assert search.poll() is None and _holder(run_dir) == search.pid
    finally:
        (tmp_path / "gate").unlink(missing_ok=True)
        out, err = search.communicate(timeout=180)
    assert search.returncode == 0, err
    assert "10 children evaluated" in out
    assert (tmp_path / "report.html").stat().st_size > 0 and (tmp_path / "seed.py").is_file()
    assert seen and all(isinstance(s, dict) for s in seen)


def test_search_into_a_folder_in_use_is_refused(tmp_path: Path) -> None:
    path = _config(tmp_path, children=6, delay=0.0)
    run_dir = tmp_path / "run"
    (tmp_path / "gate").touch()
    first = _cli("search", str(path), "-q")
    try:
        _wait_for_holder(run_dir, first.pid)
        second = _cli("search", str(path), "-q")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2 and f"in use by process {first.pid}" in err and "Traceback" not in err
    finally:
        (tmp_path / "gate").unlink()
        first.communicate(timeout=180)
    assert first.returncode == 0


# -- in one process ------------------------------------------------------------------------------------


def test_the_python_entry_points_take_the_lock(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, children=3, delay=0.0))
    run_dir = config.run_dir
    search = AskTell.start(config)
    try:
        with pytest.raises(RunLocked, match=f"in use by process {os.getpid()}") as err:
            AskTell.resume(run_dir)  # a second holder, even in the same process
        assert err.value.holder["pid"] == os.getpid()
        with pytest.raises(RunLocked):
            resume(run_dir, progress=False)
        with pytest.raises(RunLocked):
            run_search(config, progress=False)
        assert main(["resume", str(run_dir), "-q"]) == 2
    finally:
        search.close()
    result = resume(run_dir, progress=False)  # closed: the lock is free
    assert result.stopped == "budget" and result.children == 3
    assert main(["show", str(run_dir)]) == 0


def test_a_refused_run_is_left_as_it_was(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, children=2, delay=0.0))
    run_search(config, progress=False)
    with Store.open(config.run_dir) as store:
        before = store.candidates()
    with RunLock.acquire(config.run_dir), pytest.raises(RunLocked, match="in use"):
        resume(config.run_dir, progress=False)
    with Store.open(config.run_dir) as store:
        assert store.candidates() == before
    assert resume(config.run_dir, progress=False).stopped == "budget"

