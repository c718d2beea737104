"""Executors: a crashing or hanging evaluation fails its own candidate and
nothing else; the run goes on. Ray, when installed, runs a short search."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from alphanas.evaluation.evaluator import AnalyticEvaluator, EvalContext, Evaluation, Fidelity
from alphanas.evaluation.executors import (
    Job,
    ProcessExecutor,
    ProcessSettings,
    RaySettings,
    SerialExecutor,
    SerialSettings,
    run_job,
)
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.search.config import load_config
from alphanas.search.loop import evaluation_seed, run_search
from alphanas.search.store import Store


def _program(name: str) -> str:
    return f"model {name}(x: [3, 8, 8]) {{\n  return conv2d(x, 4, k=3, p=1)\n}}\n"


def _job(i: int, name: str = "ok") -> Job:
    return Job(i, _program(name), Fidelity(), EvalContext(seed=i))


@dataclass(frozen=True)
class CrashingEvaluator:
    """Kills its process for models named ``crash`` (or for the listed
    evaluation seeds); analytic metrics otherwise."""

    seeds: tuple[int, ...] = ()
    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        if program.model.name == "crash" or context.seed in self.seeds:
            os._exit(3)
        if program.model.name == "hang":
            time.sleep(60)
        if program.model.name == "boom":
            raise RuntimeError("a bug in the evaluator")
        return AnalyticEvaluator().evaluate(program, fidelity, context)


@dataclass(frozen=True)
class LimitReporter:
    """Reports the time limit its context carried."""

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        return Evaluation("ok", {"limit": context.time_limit or -1.0})


def test_run_job_records_an_evaluator_that_raises() -> None:
    e = run_job(CrashingEvaluator(), _job(0, "boom"))
    assert e.status == "failed" and "raised RuntimeError: a bug in the evaluator" in (e.reason or "")
    e = run_job(CrashingEvaluator(), Job(0, "model m(", Fidelity(), EvalContext()))
    assert e.status == "failed" and "does not parse" in (e.reason or "")


def test_serial_executor_passes_the_time_limit() -> None:
    ex = SerialExecutor(LimitReporter(), SerialSettings(timeout_seconds=7.0))
    ex.submit(_job(1))
    assert ex.running() == 1 and ex.free() == 0
    out = ex.wait()
    assert out.candidate_id == 1 and out.evaluation.metrics == {"limit": 7.0}
    with pytest.raises(RuntimeError):
        ex.wait()


def test_process_executor_survives_a_crash_and_a_hang() -> None:
    ex = ProcessExecutor(CrashingEvaluator(), ProcessSettings(workers=2, timeout_seconds=3.0))
    try:
        ex.submit(_job(1, "crash"))
        ex.submit(_job(2, "ok"))
        outcomes = {o.candidate_id: o.evaluation for o in (ex.wait(), ex.wait())}
        assert outcomes[1].status == "failed" and outcomes[1].reason == "worker crashed (exit code 3)"
        assert outcomes[2].ok and outcomes[2].metrics["params"] == 4 * 3 * 9 + 4
        start = time.monotonic()
        ex.submit(_job(3, "hang"))
        ex.submit(_job(4, "ok"))
        outcomes = {o.candidate_id: o.evaluation for o in (ex.wait(), ex.wait())}
        assert outcomes[3].status == "failed" and "timed out after 3 s" in (outcomes[3].reason or "")
        assert outcomes[4].ok and time.monotonic() - start < 20
        ex.submit(_job(5, "ok"))  # the replaced workers work
        assert ex.wait().evaluation.ok
        assert ex.running() == 0 and ex.free() == 2
    finally:
        ex.shutdown()


def test_outcomes_finished_together_are_all_handed_out() -> None:
    """Two jobs that finish before the first wait(): the second outcome
    still counts as running until wait() hands it out."""
    ex = ProcessExecutor(CrashingEvaluator(), ProcessSettings(workers=2))
    try:
        ex.submit(_job(1))
        ex.submit(_job(2))
        time.sleep(3.0)  # both finish meanwhile
        first = ex.wait()
        assert ex.running() == 1 and ex.free() >= 1
        second = ex.wait()
        assert {first.candidate_id, second.candidate_id} == {1, 2}
        assert ex.running() == 0
    finally:
        ex.shutdown()


def test_process_executor_passes_the_time_limit() -> None:
    ex = ProcessExecutor(LimitReporter(), ProcessSettings(workers=1, timeout_seconds=9.0))
    try:
        ex.submit(_job(1))
        assert ex.wait().evaluation.metrics == {"limit": 9.0}
    finally:
        ex.shutdown()


def _config(tmp_path: Path, executor: str, evaluator: str, options: str = "{}", children: int = 8) -> Path:
    path = tmp_path / "search.toml"
    path.write_text(f"""\
seed_program = "zoo:small_cnn"
seed_params = {{ width = 8 }}
run_dir = "run"
seed = 1
objectives = ["params", "flops"]

[strategy]
variation = "random_edit"
selection = "nsga2"

[budget]
children = {children}

[executor]
{executor}

[evaluator]
kind = "{evaluator}"
options = {options}
""")
    return path


def test_a_search_goes_on_when_a_worker_crashes(tmp_path: Path) -> None:
    crash = evaluation_seed(1, 3)  # candidate 3's evaluation kills its worker
    path = _config(tmp_path, 'kind = "process"\nworkers = 2', "test_executors:CrashingEvaluator",
                   f"{{ seeds = [{crash}] }}")
    result = run_search(load_config(path), progress=False)
    assert result.stopped == "budget" and result.children == 8 and result.failed == 1
    with Store.open(tmp_path / "run") as store:
        c = store.candidate(3)
        assert (c.status, c.phase, c.reason) == ("failed", "evaluation", "worker crashed (exit code 3)")
        assert len(store.candidates("ok")) == 8, [(c.id, c.status, c.phase, c.reason) for c in store.candidates()]


def test_ray_executor_runs_a_search(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        path = _config(tmp_path, 'kind = "ray"\nworkers = 2\ntimeout_seconds = 60', "analytic", children=6)
        result = run_search(load_config(path), progress=False)
        assert result.stopped == "budget" and result.children == 6 and result.failed == 0
        assert ray.is_initialized()  # the executor left the Ray it did not start running
    finally:
        ray.shutdown()


def test_ray_missing_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name: str, *args: object, **kwargs: object) -> object:
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from alphanas.evaluation.executors import RayExecutor

    with pytest.raises(AlphanasError, match="needs Ray") as err:
        RayExecutor(AnalyticEvaluator())
    assert "alphanas[ray]" in (err.value.hint or "")
    path = _config(tmp_path, 'kind = "ray"', "analytic")
    with pytest.raises(AlphanasError, match="needs Ray"):
        load_config(path)


@pytest.mark.slow
def test_ray_executor_survives_a_crash_and_a_hang() -> None:
    ray = pytest.importorskip("ray")
    import sys

    from alphanas.evaluation.executors import RayExecutor

    # Ray's workers cannot import this test module: send its classes by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ex = RayExecutor(CrashingEvaluator(), RaySettings(workers=2, timeout_seconds=5.0))
        assert ex.slots == 2
        ex.submit(_job(1, "crash"))
        ex.submit(_job(2, "ok"))
        outcomes = {o.candidate_id: o.evaluation for o in (ex.wait(), ex.wait())}
        assert outcomes[1].status == "failed" and "worker crashed" in (outcomes[1].reason or "")
        assert outcomes[2].ok
        ex.submit(_job(3, "hang"))
        ex.submit(_job(4, "ok"))
        outcomes = {o.candidate_id: o.evaluation for o in (ex.wait(), ex.wait())}
        assert "timed out after 5 s" in (outcomes[3].reason or "")
        assert outcomes[4].ok
        ex.shutdown()
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        ray.shutdown()
