"""Plug-ins from outside the package: for each kind (op, variation,
selection, evaluator, executor) a toy written as one module in a temporary
folder, with its registry's decorator, named in a search config as
``module:Class`` (the op: used by the seed program), and a real search run
with it. Each test checks in the run's store that the toy was used, with the
settings the config gave it (docs/extending.md describes the protocols)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from alphanas.evaluation.evaluator import EVALUATORS
from alphanas.evaluation.executors import EXECUTORS
from alphanas.lang.analysis import analyze
from alphanas.lang.errors import AlphanasError
from alphanas.lang.parse import parse
from alphanas.ops import registry as op_registry
from alphanas.registry import Registry
from alphanas.search.config import load_config
from alphanas.search.loop import resume, run_search
from alphanas.search.selection import SELECTIONS
from alphanas.search.store import Candidate, Store
from alphanas.variation.base import VARIATIONS


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path`` for the toy modules; whatever they register
    (in the op library or a registry) is forgotten after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(op_registry, "_OPS", dict(op_registry._OPS))
    registry: Registry[object]
    for registry in (VARIATIONS, SELECTIONS, EVALUATORS, EXECUTORS):  # type: ignore[assignment]
        registry.load_builtins()
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("toy_"):
            del sys.modules[name]


def _module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def _config(folder: Path, *, seed_program: str = '"zoo:small_cnn"', objectives: str = '["params", "flops"]',
            variation: str = "random_edit", selection: str = "nsga2", options: str = "", executor: str = 'kind = "serial"', evaluator: str = 'kind = "analytic"',
            children: int = 6) -> Path:
    path = folder / "search.toml"
    path.write_text(f"""\
seed_program = {seed_program}
seed_params = {{ width = 8 }}
run_dir = "run"
seed = 0
population = 8
objectives = {objectives}

[strategy]
variation = "{variation}"
selection = "{selection}"
{options}

[budget]
children = {children}

[executor]
{executor}

[evaluator]
{evaluator}
""")
    return path


def _run(path: Path) -> list[Candidate]:
    result = run_search(load_config(path), progress=False)
    assert result.stopped == "budget", result
    with Store.open(path.parent / "run") as store:
        return store.candidates()


# -- a variation ------------------------------------------------------------------------------------------

VARIATION = '''
    from __future__ import annotations

    import random
    from dataclasses import dataclass

    from alphanas.lang.ir import Program
    from alphanas.variation.base import VARIATIONS, Child, VariationContext, VariationFailed


    @dataclass(frozen=True)
    class WidenSettings:
        step: int = 1

        def __post_init__(self) -> None:
            if self.step < 1:
                raise ValueError(f"step = {self.step} is impossible: it must be at least 1")


    @VARIATIONS.register("toy_widen", settings=WidenSettings)
    class Widen:
        """Widens the model: its ``width`` parameter grows by 1 to 3 steps."""

        name = "toy_widen"

        def __init__(self, settings: WidenSettings) -> None:
            self.settings = settings

        def vary(self, parent: Program, rng: random.Random, context: VariationContext) -> Child:
            width = next((p.default for p in parent.model.params if p.name == "width"), None)
            if width is None:
                raise VariationFailed("the model has no width parameter")
            new = width + self.settings.step * rng.randint(1, 3)
            return Child(parent.with_model_params(width=new), "toy_widen", {"width": new, "aim": context.aim})
'''


def test_a_variation_of_ones_own(plugin_dir: Path) -> None:
    _module(plugin_dir, "toy_variation", VARIATION)
    path = _config(plugin_dir, variation="toy_variation:Widen", options="variation_options = { step = 4 }")
    candidates = _run(path)
    children = [c for c in candidates if c.id > 0 and c.status == "ok"]
    assert len(children) == 6
    assert {c.operator for c in children} == {"toy_widen"}
    assert all(c.record["width"] > 8 and (c.record["width"] - 8) % 4 == 0 for c in children)  # step = 4
    assert all(f"width: int = {c.record['width']}" in (c.program or "") for c in children)


LEARNER = '''
    from __future__ import annotations

    import random

    from alphanas.lang.ir import Program
    from alphanas.variation.base import VARIATIONS, Child, VariationContext, VariationFailed


    @VARIATIONS.register("toy_learner")
    class Learner:
        """Widens the model by the number of evaluations it has seen, and
        records what it learned from the history."""

        name = "toy_learner"

        def vary(self, parent: Program, rng: random.Random, context: VariationContext) -> Child:
            width = next(p.default for p in parent.model.params if p.name == "width")
            seen = [e.id for e in context.history]
            smallest = min(e.metrics["params"] for e in context.history if e.ok)
            assert context.objectives == (("params", "min"), ("flops", "min"))
            assert context.run_dir is not None and context.run_dir.is_dir()
            return Child(parent.with_model_params(width=width + len(seen) + rng.randint(0, 3)), "toy_learner",
                         {"seen": seen, "smallest": smallest})
'''


def test_a_variation_learns_from_the_history_and_resumes_to_the_same_run(plugin_dir: Path) -> None:
    """Every child sees the evaluations finished before it (serial: all of
    them), in order; a run stopped after 3 children and resumed to 6 makes
    the same children as one run to 6."""
    _module(plugin_dir, "toy_learner", LEARNER)
    whole = _run(_config(plugin_dir, variation="toy_learner:Learner"))
    evaluated = [c for c in whole if c.evaluated]
    assert len(evaluated) == 7
    for c in evaluated[1:]:
        before = [e for e in evaluated if e.id < c.id]
        assert c.record["seen"] == [e.id for e in before], c
        assert c.record["smallest"] == min(e.metrics["params"] for e in before)

    import shutil

    shutil.rmtree(plugin_dir / "run")
    first = run_search(load_config(_config(plugin_dir, variation="toy_learner:Learner", children=3)), progress=False)
    assert first.children == 3
    resume(plugin_dir / "run", config=load_config(_config(plugin_dir, variation="toy_learner:Learner")), progress=False)
    with Store.open(plugin_dir / "run") as store:
        resumed = store.candidates()
    assert [(c.program, c.record) for c in resumed] == [(c.program, c.record) for c in whole]


def test_a_variation_of_ones_own_checks_its_settings(plugin_dir: Path) -> None:
    _module(plugin_dir, "toy_variation", VARIATION)
    path = _config(plugin_dir, variation="toy_variation:Widen", options="variation_options = { step = 0 }")
    with pytest.raises(AlphanasError, match="step = 0 is impossible") as err:
        load_config(path)
    assert err.value.loc is not None and err.value.loc.line == 11  # variation_options
    path = _config(plugin_dir, variation="toy_variation:Widen", options="variation_options = { stepp = 2 }")
    with pytest.raises(AlphanasError, match="takes no option 'stepp'") as err:
        load_config(path)
    assert "did you mean 'step'" in (err.value.hint or "")


# -- a selection ------------------------------------------------------------------------------------------

SELECTION = '''
    from __future__ import annotations

    import random
    from collections.abc import Sequence
    from dataclasses import dataclass

    from alphanas.evaluation.pareto import Objective, ReferenceBox
    from alphanas.search.selection import SELECTIONS, Draw
    from alphanas.search.store import Candidate


    @dataclass(frozen=True)
    class OldestSettings:
        aim: str = "front"

        def __post_init__(self) -> None:
            if self.aim not in ("front", "first_objective"):
                raise ValueError(f"aim must be 'front' or 'first_objective', not {self.aim!r}")


    @SELECTIONS.register("toy_oldest", settings=OldestSettings)
    class Oldest:
        """Every child from the oldest candidate there is (the seed)."""

        name = "toy_oldest"

        def __init__(self, objectives: Sequence[Objective], population_size: int, box: ReferenceBox,
                     settings: OldestSettings) -> None:
            self.population_size = population_size
            self.settings = settings

        def survivors(self, population: list[Candidate]) -> list[Candidate]:
            return population[: self.population_size]

        def draw(self, population: Sequence[Candidate], rng: random.Random) -> Draw:
            return Draw(min(population, key=lambda c: c.id), self.settings.aim)
'''


def test_a_selection_of_ones_own(plugin_dir: Path) -> None:
    _module(plugin_dir, "toy_selection", SELECTION)
    path = _config(plugin_dir, selection="toy_selection:Oldest",
                   options='selection_options = { aim = "first_objective" }')
    candidates = _run(path)
    children = [c for c in candidates if c.id > 0]
    assert len([c for c in children if c.status == "ok"]) == 6
    assert {c.parent_id for c in children} == {0}  # the seed, always
    assert {c.record.get("aim") for c in children} == {"first_objective"}  # the setting reached the draws
    path = _config(plugin_dir, selection="toy_selection:Oldest", options='selection_options = { aim = "x" }')
    with pytest.raises(AlphanasError, match="aim must be") as err:
        load_config(path)
    assert err.value.loc is not None and err.value.loc.line == 11  # selection_options


# -- an evaluator -----------------------------------------------------------------------------------------

EVALUATOR = '''
    from __future__ import annotations

    import time
    from dataclasses import dataclass
    from typing import ClassVar

    from alphanas.evaluation.evaluator import (
        EVALUATORS,
        EvalContext,
        Evaluation,
        Fidelity,
        analytic_metrics,
        failed,
    )
    from alphanas.lang.ir import Program


    @EVALUATORS.register("toy_score")
    @dataclass(frozen=True)
    class ScoreEvaluator:
        """Scores a program by its parameters times ``scale``."""

        scale: float = 1.0
        metrics: ClassVar[dict[str, str]] = {"toy_score": "min", "params": "min"}

        def __post_init__(self) -> None:
            if self.scale <= 0:
                raise ValueError(f"scale must be positive, got {self.scale}")

        def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
            start = time.perf_counter()
            try:
                params = analytic_metrics(program)["params"]
            except Exception as err:  # a bad candidate fails, it never raises
                return failed(f"{type(err).__name__}: {err}", seconds=time.perf_counter() - start)
            return Evaluation("ok", {"toy_score": params * self.scale, "params": params},
                              seconds=time.perf_counter() - start)
'''


def test_an_evaluator_of_ones_own(plugin_dir: Path) -> None:
    _module(plugin_dir, "toy_evaluator", EVALUATOR)
    path = _config(plugin_dir, objectives='["toy_score", "params"]',
                   evaluator='kind = "toy_evaluator:ScoreEvaluator"\noptions = { scale = 0.5 }')
    candidates = _run(path)
    ok = [c for c in candidates if c.status == "ok"]
    assert len(ok) == 7  # the seed and six children
    assert all(c.metrics["toy_score"] == 0.5 * c.metrics["params"] for c in ok)
    # what it does not measure is no objective
    path = _config(plugin_dir, objectives='["toy_score", "flops"]',
                   evaluator='kind = "toy_evaluator:ScoreEvaluator"')
    with pytest.raises(AlphanasError, match="does not measure 'flops'"):
        load_config(path)


# -- an executor ------------------------------------------------------------------------------------------

EXECUTOR = '''
    from __future__ import annotations

    import collections
    from dataclasses import dataclass, replace

    from alphanas.evaluation.evaluator import Evaluator
    from alphanas.evaluation.executors import EXECUTORS, Job, Outcome, run_job

    #: the candidates this executor evaluated, in order
    RAN: list[int] = []


    @dataclass(frozen=True)
    class InlineSettings:
        workers: int = 1
        timeout_seconds: float | None = None

        def __post_init__(self) -> None:
            if self.workers != 1:
                raise ValueError(f"workers = {self.workers}: the inline executor runs one job at a time")


    @EXECUTORS.register("toy_inline", settings=InlineSettings)
    class InlineExecutor:
        """Runs each job when the search waits for it, and remembers which."""

        slots = 1

        def __init__(self, evaluator: Evaluator, settings: InlineSettings) -> None:
            self.evaluator = evaluator
            self.settings = settings
            self._queue: collections.deque[Job] = collections.deque()

        def submit(self, job: Job) -> None:
            limit = self.settings.timeout_seconds
            self._queue.append(replace(job, context=replace(job.context, time_limit=limit)))

        def running(self) -> int:
            return len(self._queue)

        def free(self) -> int:
            return self.slots - len(self._queue)

        def wait(self) -> Outcome:
            job = self._queue.popleft()
            RAN.append(job.candidate_id)
            return Outcome(job.candidate_id, run_job(self.evaluator, job))

        def shutdown(self) -> None:
            self._queue.clear()
'''


def test_an_executor_of_ones_own(plugin_dir: Path) -> None:
    _module(plugin_dir, "toy_executor", EXECUTOR)
    path = _config(plugin_dir, executor='kind = "toy_executor:InlineExecutor"\ntimeout_seconds = 30')
    candidates = _run(path)
    import toy_executor  # type: ignore[import-not-found]  # the module the search imported

    evaluated = [c.id for c in candidates if c.status == "ok"]
    assert len(evaluated) == 7 and evaluated == toy_executor.RAN
    path = _config(plugin_dir, executor='kind = "toy_executor:InlineExecutor"\nworkers = 2')
    with pytest.raises(AlphanasError, match="the inline executor runs one job at a time") as err:
        load_config(path)
    assert err.value.loc is not None and err.value.loc.line == 18  # workers
    path = _config(plugin_dir, executor='kind = "toy_executor:InlineExecutor"\naddress = "auto"')
    with pytest.raises(AlphanasError, match="takes no option 'address'") as err:
        load_config(path)
    assert "workers, timeout_seconds" in (err.value.hint or "")


# -- an op --------------------------------------------------------------------------------------------------

OP = '''
    from __future__ import annotations

    from alphanas.ops import arith, mixrules
    from alphanas.ops.registry import register
    from alphanas.ops.spec import Cost, Op


    @register
    class Double(Op):
        """x * 2, elementwise."""

        name = "toy_double"
        doc = "x * 2"

        def shape(self, check, ins, a):
            return tuple(ins[0])

        def cost(self, ins, a, out):
            n = arith.prod(out)
            return Cost(other_flops=n, activations=n)

        def mixing(self, ins, a, out):
            return mixrules.elementwise(ins, out)

        def torch_call(self, xs, m, ins, a, out):
            return f"({xs[0]} * 2)"
'''

SEED = """\
model toy_net(x: [3, 8, 8], width: int = 4) {
  h = toy_double(conv2d(x, width, k=3, p=1))
  return dense(flatten(adaptive_avgpool(relu(h), 1)), 10)
}
"""


def test_an_op_of_ones_own(plugin_dir: Path) -> None:
    """The op library has no config key naming op modules: the module is
    imported (registering the op) before the config is read."""
    _module(plugin_dir, "toy_op", OP)
    (plugin_dir / "seed.arch").write_text(SEED)
    path = _config(plugin_dir, seed_program='"seed.arch"')
    with pytest.raises(AlphanasError, match="toy_double"):
        _run(path)  # not imported yet: an unknown op
    import toy_op  # type: ignore[import-not-found]  # noqa: F401  (registers toy_double)

    candidates = _run(path)
    seed = candidates[0]
    assert seed.status == "ok" and "toy_double(" in (seed.program or "")
    # its cost is counted: one FLOP per element of its output (width 8 x 8 x 8)
    without = parse(SEED.replace("toy_double(conv2d(x, width, k=3, p=1))", "conv2d(x, width, k=3, p=1)"))
    assert seed.metrics["flops"] - analyze(without.with_model_params(width=8)).total.flops == 8 * 8 * 8
    children = [c for c in candidates if c.id > 0 and c.status == "ok"]
    assert len(children) == 6 and any("toy_double(" in (c.program or "") for c in children)
