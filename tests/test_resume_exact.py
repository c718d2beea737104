"""A property-guided search killed with SIGKILL at any moment and resumed
ends with exactly the store of an uninterrupted run: same candidates,
programs, hashes, parents, records (less timings) and metrics.

The synthesizer is where this could fail: Z3's answers depended on the
history of its context, and its budgets were counted in seconds. Each
synthesis now runs in a context of its own with budgets counted in work
(:mod:`synth.work`), so the run is a function of its config and seed even
on a machine kept busy by another process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest

from alphanas.evaluation.evaluator import AnalyticEvaluator, EvalContext, Evaluation, Fidelity
from alphanas.lang.ir import Program
from alphanas.search.config import load_config
from alphanas.search.loop import resume, run_search
from alphanas.search.store import Store
from alphanas.variation.property_mutation import PropertyMutation

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

_calls: Counter[str] = Counter()


def _maybe_kill(point: str) -> None:
    """SIGKILL this process at the N-th call of ``point`` when
    ALPHANAS_TEST_KILL=point:N says so."""
    _calls[point] += 1
    if os.environ.get("ALPHANAS_TEST_KILL") == f"{point}:{_calls[point]}":
        os.kill(os.getpid(), signal.SIGKILL)


if os.environ.get("ALPHANAS_TEST_KILL", "").startswith("synthesis:"):
    # a kill inside the solver: wrap the size solver the synthesizer calls
    import synth.synthesize  # noqa: F401  (the module; the package exports the function under its name)

    _synthesize_module = sys.modules["synth.synthesize"]
    _solve = _synthesize_module.solve_sizes

    def _killable_solve(*args: Any, **kwargs: Any) -> Any:
        _maybe_kill("synthesis")
        return _solve(*args, **kwargs)

    _synthesize_module.solve_sizes = _killable_solve


class KillableGuided(PropertyMutation):
    """Property-guided mutation that can be killed after making a child."""

    def vary(self, parent: Program, rng: Any, context: Any) -> Any:
        child = super().vary(parent, rng, context)
        _maybe_kill("variation")
        return child


class KillableEvaluator(AnalyticEvaluator):
    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        _maybe_kill("evaluation")
        return super().evaluate(program, fidelity, context)


def _config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f"""\
seed_program = "zoo:small_cnn"
seed_params = {{ width = 8 }}
run_dir = "{name}"
seed = 11
population = 8
objectives = ["params", "flops"]

[strategy]
variation = "test_resume_exact:KillableGuided"
selection = "pareto_weighted"

[budget]
children = 16

[executor]
kind = "serial"

[evaluator]
kind = "test_resume_exact:KillableEvaluator"
""")
    return path


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    return value


def _rows(run_dir: Path) -> list[tuple[Any, ...]]:
    with Store.open(run_dir) as store:
        return [(c.id, c.parent_id, c.generation, c.operator, c.program, c.hash, _untimed(dict(c.record)),
                 dict(c.metrics), c.status, c.phase, c.reason) for c in store.candidates()]


def _killed_run(config: Path, kill_at: str) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]), "ALPHANAS_TEST_KILL": kill_at}
    script = (
        "import os, signal, sys\n"
        "import test_resume_exact\n"
        "from alphanas.search.config import load_config\n"
        "from alphanas.search.loop import run_search\n"
        "point = os.environ['ALPHANAS_TEST_KILL']\n"
        "def hook(c):\n"
        "    if point == f'finish:{c.id}':\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "run_search(load_config(sys.argv[1]), progress=False, on_finish=hook)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(config)], env=env, cwd=ROOT, capture_output=True,
                          timeout=300)
    return proc.returncode


@pytest.fixture
def busy_cpu() -> Any:
    """A process spinning on a core beside the run (the synthesizer's
    budgets must not depend on how fast the machine is)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("kill_at", [
    "evaluation:1",  # during the seed's evaluation
    "finish:5",  # between candidates
    "evaluation:9",  # in the middle of an evaluation
    "synthesis:30",  # inside the solver, in the middle of a child's synthesis
    "variation:12",  # a child made, not yet stored
])
def test_a_killed_search_resumes_to_the_uninterrupted_store(tmp_path: Path, kill_at: str) -> None:
    run_search(load_config(_config(tmp_path, "reference")), progress=False)
    killed = _config(tmp_path, "killed")
    assert _killed_run(killed, kill_at) == -signal.SIGKILL
    result = resume(tmp_path / "killed", progress=False)
    assert result.stopped == "budget" and result.children == 16
    assert _rows(tmp_path / "killed") == _rows(tmp_path / "reference")


def test_the_same_under_a_loaded_cpu(tmp_path: Path, busy_cpu: Any) -> None:
    """Reference, kill and resume all beside a spinning process: the
    budgets are counted in work, so nothing changes."""
    run_search(load_config(_config(tmp_path, "reference")), progress=False)
    killed = _config(tmp_path, "killed")
    assert _killed_run(killed, "synthesis:20") == -signal.SIGKILL
    resume(tmp_path / "killed", progress=False)
    assert _rows(tmp_path / "killed") == _rows(tmp_path / "reference")


def test_two_resumes_of_two_kills_still_give_the_same_store(tmp_path: Path) -> None:
    run_search(load_config(_config(tmp_path, "reference")), progress=False)
    killed = _config(tmp_path, "killed")
    assert _killed_run(killed, "evaluation:5") == -signal.SIGKILL
    # the second kill happens in a resumed process: resume it with a kill point of its own
    env_script = (
        "import os, signal, sys\n"
        "import test_resume_exact\n"
        "from alphanas.search.loop import resume\n"
        "finished = []\n"
        "def hook(c):\n"
        "    finished.append(c.id)\n"
        "    if len(finished) == 5:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "resume(sys.argv[1], progress=False, on_finish=hook)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    env.pop("ALPHANAS_TEST_KILL", None)
    proc = subprocess.run([sys.executable, "-c", env_script, str(tmp_path / "killed")], env=env, cwd=ROOT,
                          capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    resume(tmp_path / "killed", progress=False)
    assert _rows(tmp_path / "killed") == _rows(tmp_path / "reference")
