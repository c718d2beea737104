"""The search loop: it runs to its budget, a serial run is a function of
its config and seed, and a run killed at any point resumes to exactly the
uninterrupted run's candidates without evaluating a finished one again."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from alphanas.cli import main
from alphanas.evaluation.evaluator import (
    AnalyticEvaluator,
    EvalContext,
    Evaluation,
    Fidelity,
    failed,
)
from alphanas.evaluation.pareto import Objective, dominates
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.search.config import load_config
from alphanas.search.loop import evaluation_seed, resume, run_search
from alphanas.search.store import DB_NAME, Store
from alphanas.variation.base import Child, VariationContext, VariationFailed
from alphanas.variation.random_edit import RandomEdit

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# -- helpers that a config names as module:Class ------------------------------------------------------

_calls: Counter[str] = Counter()


def _maybe_exit(point: str) -> None:
    """Exit the process abruptly at the N-th call of ``point`` when the
    environment asks for it (ALPHANAS_TEST_EXIT=point:N)."""
    _calls[point] += 1
    if os.environ.get("ALPHANAS_TEST_EXIT") == f"{point}:{_calls[point]}":
        os._exit(9)


@dataclass(frozen=True)
class CountingEvaluator:
    """The analytic evaluator, logging one line per call (the evaluation
    seed, which names the candidate) before it evaluates."""

    log: str
    delay: float = 0.0
    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        with open(self.log, "a") as f:
            f.write(f"{context.seed}\n")
        _maybe_exit("evaluation")
        time.sleep(self.delay)
        return AnalyticEvaluator().evaluate(program, fidelity, context)


@dataclass(frozen=True)
class WeightsEvaluator:
    """The analytic evaluator keeping a checkpoint file per candidate; a
    child given a parent checkpoint that is not there fails, as training
    would when it cannot load the weights it is to inherit."""

    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        if context.parent_checkpoint is not None and not context.parent_checkpoint.is_file():
            return failed(f"no parent checkpoint at {context.parent_checkpoint}")
        assert context.workdir is not None
        checkpoint = context.workdir / "weights.pt"
        checkpoint.write_text(str(context.seed))
        return replace(AnalyticEvaluator().evaluate(program, fidelity, context), checkpoint=checkpoint)


class KillableRandomEdit(RandomEdit):
    """RandomEdit that can exit in the middle of making a child."""

    def vary(self, parent: Program, rng: random.Random, context: VariationContext) -> Child:
        child = super().vary(parent, rng, context)
        _maybe_exit("variation")
        return child


class AimedRandomEdit(RandomEdit):
    """RandomEdit that writes down what each parent was drawn for."""

    def vary(self, parent: Program, rng: random.Random, context: VariationContext) -> Child:
        child = super().vary(parent, rng, context)
        return Child(child.program, child.operator, {**child.record, "told": context.aim})


class NeverVaries:
    name = "never"

    def vary(self, parent: Program, rng: random.Random, context: VariationContext) -> Child:
        raise VariationFailed(f"nothing to do ({rng.random():.3f})")


@dataclass(frozen=True)
class FailsEverything:
    metrics: ClassVar[dict[str, str]] = {"params": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        return failed("out of memory")


# -- configs -------------------------------------------------------------------------------------------


def _config(tmp_path: Path, name: str, *, children: int = 24, seed: int = 5, selection: str = "nsga2",
            delay: float = 0.0, variation: str = "test_search:KillableRandomEdit",
            evaluator: str = "test_search:CountingEvaluator", extra: str = "", executor: str = "serial") -> Path:
    log = tmp_path / f"{name}.log"
    options = f'{{ log = "{log}", delay = {delay} }}' if evaluator.endswith("CountingEvaluator") else "{}"
    text = f"""\
seed_program = "zoo:small_cnn"
seed_params = {{ width = 8 }}
run_dir = "{name}"
seed = {seed}
population = 8
objectives = ["params", "flops"]
{extra}
[strategy]
variation = "{variation}"
selection = "{selection}"

[budget]
children = {children}

[executor]
kind = "{executor}"

[evaluator]
kind = "{evaluator}"
options = {options}
"""
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _rows(run_dir: Path) -> list[tuple[Any, ...]]:
    """Everything about each candidate that a run determines (not timings)."""
    with Store.open(run_dir) as store:
        return [(c.id, c.parent_id, c.generation, c.operator, c.program, c.hash, dict(c.record), dict(c.metrics),
                 c.status, c.phase, c.reason) for c in store.candidates()]


def _csv_without_times(path: Path) -> list[list[str]]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    drop = rows[0].index("elapsed_seconds") if "elapsed_seconds" in rows[0] else None
    return [[v for k, v in enumerate(r) if k != drop] for r in rows]


def _log_counts(log: Path) -> Counter[int]:
    return Counter(int(line) for line in log.read_text().split()) if log.exists() else Counter()


def _run_in_subprocess(config: Path, exit_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    env.pop("ALPHANAS_TEST_EXIT", None)
    if exit_at is not None:
        env["ALPHANAS_TEST_EXIT"] = exit_at
    script = (
        "import os, sys\n"
        "from alphanas.search.config import load_config\n"
        "from alphanas.search.loop import run_search\n"
        "point = os.environ.get('ALPHANAS_TEST_EXIT', '')\n"
        "def hook(c):\n"
        "    if point == f'finish:{c.id}':\n"
        "        os._exit(9)\n"
        "run_search(load_config(sys.argv[1]), progress=False, on_finish=hook)\n"
    )
    return subprocess.Popen([sys.executable, "-c", script, str(config)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# -- tests ---------------------------------------------------------------------------------------------


def test_a_serial_run_reaches_its_budget(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "run"))
    result = run_search(config, progress=False)
    assert result.stopped == "budget" and result.children == 24 and result.failed == 0
    with Store.open(config.run_dir) as store:
        rows = store.candidates()
        finished = store.finished()
        info = store.run_info()
    assert info.seed == 5 and info.config["strategy"]["selection"] == "nsga2"
    assert rows[0].operator == "seed" and finished[0].id == 0  # the seed is evaluated first
    evaluated = [c for c in rows if c.evaluated]
    assert len(evaluated) == 25 and all(c.ok for c in evaluated)
    assert [c.id for c in finished] == [c.id for c in evaluated]  # serial: finish order = index order
    assert all(c.parent_id is not None and c.parent_id < c.id for c in rows[1:])
    assert len({c.hash for c in evaluated}) == 25  # duplicates are not evaluated again
    objs = [Objective("params", "min"), Objective("flops", "min")]
    points = {c.id: (c.metrics["params"], c.metrics["flops"]) for c in evaluated}
    front = {c.id for c in result.front}
    assert front == {i for i, p in points.items() if not any(dominates(q, p, objs) for q in points.values())}
    assert 0 < result.hypervolume <= 1
    pareto = (config.run_dir / "pareto.csv").read_text().splitlines()
    assert pareto[0] == "id,generation,parent_id,operator,params,flops,hash" and len(pareto) == len(front) + 1
    history = (config.run_dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("evaluations,failed,variation_failed,elapsed_seconds,hypervolume,best_params")
    assert len(history) == 26
    assert float(history[-1].split(",")[4]) == pytest.approx(result.hypervolume, abs=1e-6)


@pytest.mark.parametrize("selection", ["nsga2", "pareto_weighted", "aging"])
def test_same_seed_same_run(tmp_path: Path, selection: str) -> None:
    a = load_config(_config(tmp_path, "a", selection=selection, children=16))
    b = load_config(_config(tmp_path, "b", selection=selection, children=16))
    c = load_config(_config(tmp_path, "c", selection=selection, children=16, seed=6))
    for config in (a, b, c):
        run_search(config, progress=False)
    assert _rows(a.run_dir) == _rows(b.run_dir)
    assert _rows(a.run_dir) != _rows(c.run_dir)


@pytest.mark.parametrize("exit_at", ["finish:6", "evaluation:9", "variation:12"])
def test_resume_after_an_abrupt_exit(tmp_path: Path, exit_at: str) -> None:
    """Exit between candidates, in the middle of an evaluation and in the
    middle of a variation; resuming gives the uninterrupted run."""
    reference = load_config(_config(tmp_path, "reference"))
    run_search(reference, progress=False)
    path = _config(tmp_path, "killed")
    proc = _run_in_subprocess(path, exit_at)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 9, err.decode()
    killed = load_config(path)
    with Store.open(killed.run_dir) as store:
        finished_at_kill = {c.id for c in store.candidates() if c.evaluated}
        running_at_kill = {c.id for c in store.candidates("running")}
    assert finished_at_kill and len(running_at_kill) <= 1
    if exit_at.startswith("evaluation"):
        assert running_at_kill  # the candidate being evaluated is left running
    result = resume(killed.run_dir, progress=False)
    assert result.stopped == "budget" and result.children == 24
    assert _rows(killed.run_dir) == _rows(reference.run_dir)
    for name in ("pareto.csv", "history.csv"):  # rebuilt from the store on resume
        assert _csv_without_times(killed.run_dir / name) == _csv_without_times(reference.run_dir / name)
    calls = _log_counts(tmp_path / "killed.log")
    seeds = {evaluation_seed(5, i): i for i in range(100)}
    for seed_value, n in calls.items():
        i = seeds[seed_value]
        assert n == 1 or (n == 2 and i in running_at_kill), (i, n)
    assert sum(calls.values()) == 25 + len(running_at_kill)


def test_a_moved_run_resumes_inheriting_the_weights_in_its_new_folder(tmp_path: Path) -> None:
    """The store keeps absolute checkpoint paths; a run folder moved between
    a kill and its resume passes its children the parents' checkpoints
    where they are now."""
    weights = "keep_checkpoints = true\ninherit_weights = true\n"
    reference = _config(tmp_path, "reference", evaluator="test_search:WeightsEvaluator")
    reference.write_text(reference.read_text() + weights)
    run_search(load_config(reference), progress=False)
    path = _config(tmp_path, "killed", evaluator="test_search:WeightsEvaluator")
    path.write_text(path.read_text() + weights)
    proc = _run_in_subprocess(path, "finish:8")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 9, err.decode()
    moved = (tmp_path / "killed").rename(tmp_path / "moved")
    result = resume(moved, progress=False)
    assert result.stopped == "budget" and result.failed == 0
    assert _rows(moved) == _rows(tmp_path / "reference")
    with Store.open(moved) as store:
        stored = [c.checkpoint for c in store.candidates()[9:] if c.checkpoint]
    assert stored and all(Path(p).is_relative_to(moved) for p in stored)


def test_resume_after_sigkill_at_a_random_moment(tmp_path: Path) -> None:
    reference = load_config(_config(tmp_path, "reference", delay=0.02, executor="process"))
    run_search(reference, progress=False)
    path = _config(tmp_path, "killed", delay=0.02, executor="process")
    proc = _run_in_subprocess(path)
    db = tmp_path / "killed" / DB_NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    (n,) = conn.execute("SELECT COUNT(*) FROM candidates WHERE finish_order IS NOT NULL").fetchone()
            except sqlite3.OperationalError:
                continue
            if n >= 8:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed = load_config(path)
    with Store.open(killed.run_dir) as store:
        finished_at_kill = {c.id for c in store.candidates() if c.evaluated}
    assert 8 <= len(finished_at_kill) < 25
    calls_before = _log_counts(tmp_path / "killed.log")
    resume(killed.run_dir, progress=False)
    assert _rows(killed.run_dir) == _rows(reference.run_dir)
    calls = _log_counts(tmp_path / "killed.log")
    seeds = {evaluation_seed(5, i): i for i in range(100)}
    for seed_value, n in calls.items():
        i = seeds[seed_value]
        if i in finished_at_kill:
            assert n == 1 == calls_before[seed_value]  # never evaluated again
        else:
            assert n - calls_before[seed_value] == 1  # evaluated once by the resumed run


def test_resuming_a_finished_run_evaluates_nothing(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "run", children=6))
    first = run_search(config, progress=False)
    before = _rows(config.run_dir)
    log = tmp_path / "run.log"
    calls = log.read_text()
    again = resume(config.run_dir, progress=False)
    assert _rows(config.run_dir) == before and log.read_text() == calls
    assert again.front == first.front and again.hypervolume == first.hypervolume


def test_variation_failures_are_recorded_and_capped(tmp_path: Path) -> None:
    path = _config(tmp_path, "run", variation="test_search:NeverVaries",
                   extra="", children=5)
    path.write_text(path.read_text().replace("children = 5", "children = 5\nmax_variation_failures = 7"))
    result = run_search(load_config(path), progress=False)
    assert result.stopped == "variation failures"
    assert (result.children, result.variation_failed) == (0, 7)
    with Store.open(tmp_path / "run") as store:
        rows = store.candidates()
    assert [c.phase for c in rows[1:]] == ["variation"] * 7
    assert all(c.status == "failed" and c.reason.startswith("nothing to do") for c in rows[1:])


def test_wall_time_stops_submitting(tmp_path: Path) -> None:
    path = _config(tmp_path, "run")
    path.write_text(path.read_text().replace("children = 24", "children = 24\nwall_seconds = 1e-6"))
    result = run_search(load_config(path), progress=False)
    assert result.stopped == "wall time" and result.children == 0


def test_a_failing_seed_stops_the_run(tmp_path: Path) -> None:
    path = _config(tmp_path, "run", evaluator="test_search:FailsEverything")
    path.write_text(path.read_text().replace('objectives = ["params", "flops"]', 'objectives = ["params"]'))
    with pytest.raises(AlphanasError, match="seed program failed to evaluate: out of memory"):
        run_search(load_config(path), progress=False)


def test_a_variation_without_budgets_is_refused(tmp_path: Path) -> None:
    path = _config(tmp_path, "run", variation="test_search:NeverVaries", extra="[constraints]\nmax_params = 1e6\n")
    with pytest.raises(AlphanasError, match="does not take the budget max_params"):
        run_search(load_config(path), progress=False)
    assert not (tmp_path / "run").exists()


def test_cli_search_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, "run", children=5, variation="random_edit", evaluator="analytic")
    assert main(["search", str(path), "-q", "--run-dir", str(tmp_path / "elsewhere")]) == 0
    out = capsys.readouterr().out
    assert "stopped by budget" in out and "5 children evaluated" in out and "Pareto front" in out
    assert (tmp_path / "elsewhere" / DB_NAME).exists() and not (tmp_path / "run").exists()
    assert main(["resume", str(tmp_path / "elsewhere"), "-q"]) == 0
    assert "5 children evaluated" in capsys.readouterr().out
    assert main(["search", str(path), "-q", "--run-dir", str(tmp_path / "elsewhere")]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_an_asynchronous_run_resumes_without_evaluating_twice(tmp_path: Path) -> None:
    """Two workers: the run is not reproducible, but a resumed one reaches
    its budget and never evaluates a finished candidate again."""
    path = _config(tmp_path, "killed", delay=0.05, executor="process")
    path.write_text(path.read_text().replace('kind = "process"', 'kind = "process"\nworkers = 2'))
    proc = _run_in_subprocess(path, "finish:8")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 9, err.decode()
    killed = load_config(path)
    with Store.open(killed.run_dir) as store:
        finished_at_kill = {c.id for c in store.candidates() if c.evaluated}
        assert store.counts()["running"] <= 2
    before = _log_counts(tmp_path / "killed.log")
    result = resume(killed.run_dir, progress=False)
    assert result.stopped == "budget" and result.children == 24
    calls = _log_counts(tmp_path / "killed.log")
    for i in finished_at_kill:
        assert calls[evaluation_seed(5, i)] == before[evaluation_seed(5, i)] == 1
    with Store.open(killed.run_dir) as store:
        counts = store.counts()
    assert (counts["running"], counts["ok"], counts["failed"]) == (0, 25, 0)


@pytest.mark.parametrize(("selection", "aims"), [("aging", {"first_objective"}), ("nsga2", {"front"}),
                                                   ("pareto_weighted", {"front", "first_objective"})])
def test_the_variation_is_told_what_each_parent_was_drawn_for(tmp_path: Path, selection: str,
                                                               aims: set[str]) -> None:
    config = load_config(_config(tmp_path, "run", selection=selection, children=30,
                                 variation="test_search:AimedRandomEdit"))
    run_search(config, progress=False)
    with Store.open(config.run_dir) as store:
        records = [c.record for c in store.candidates()[1:] if c.program is not None]
    assert len(records) >= 20
    assert all(r["told"] == r["aim"] for r in records)  # told, and recorded with the child
    assert {r["aim"] for r in records} == aims


@pytest.mark.slow
def test_a_property_guided_search_runs(tmp_path: Path) -> None:
    pytest.importorskip("alphanas.variation.property_mutation")
    path = _config(tmp_path, "run", children=3, variation="alphanas", evaluator="analytic")
    result = run_search(load_config(path), progress=False)
    assert result.stopped == "budget" and result.children == 3


def test_a_kept_child_is_what_its_text_parses_to() -> None:
    """The loop keeps a child's checked program instead of parsing its
    stored text again; that is exact, locations included."""
    from alphanas import parse, zoo

    program = zoo.load("small_cnn", width=8)
    for k in range(10):
        child = RandomEdit().vary(program, random.Random(k), VariationContext(label="<candidate 4>"))
        assert child.checked is not None
        kept, fresh = child.checked.program, parse(child.checked.text, "<candidate 4>")
        assert kept == fresh and (kept.source, kept.text) == (fresh.source, fresh.text)
        for a, b in zip(kept.graphs(), fresh.graphs()):
            assert a.loc == b.loc and [n.loc for n in a.nodes] == [n.loc for n in b.nodes]
            assert [i.loc for i in a.inputs] == [i.loc for i in b.inputs]
        program = kept
