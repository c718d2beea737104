"""A run whose seed failed can be retried: ``alphanas resume RUN --config
NEW.toml`` continues under a corrected config and evaluates the seed again
(its failure kept in its record's history); ``alphanas resume RUN`` retries
the seed under the stored config. A failed child is a result, never retried."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from alphanas.cli import main
from alphanas.evaluation.evaluator import (
    AnalyticEvaluator,
    EvalContext,
    Evaluation,
    Fidelity,
    failed,
)
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.search.ask_tell import AskTell
from alphanas.search.config import load_config
from alphanas.search.loop import evaluation_seed, resume, run_search
from alphanas.search.store import Store


@dataclass(frozen=True)
class NeedsTime:
    """Evaluates in ``seconds`` (pretended): it gives up, as a training
    evaluator would, when the time limit it is given is shorter."""

    seconds: float = 10.0
    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        if context.time_limit is not None and context.time_limit < self.seconds:
            return failed(f"timed out after {context.time_limit:g} s")
        return AnalyticEvaluator().evaluate(program, fidelity, context)


@dataclass(frozen=True)
class FailsOnce:
    """Fails the first evaluation of each candidate listed in ``ids`` (by
    evaluation seed) with "out of memory"; the marker files in ``folder``
    remember which failed already."""

    folder: str
    seeds: tuple[int, ...] = ()
    always: bool = False
    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        if context.seed in self.seeds:
            marker = Path(self.folder) / f"failed-{context.seed}"
            if self.always or not marker.exists():
                marker.touch()
                return failed("out of memory")
        return AnalyticEvaluator().evaluate(program, fidelity, context)


SEED = 4


def _config(tmp_path: Path, name: str = "run.toml", *, timeout: float | None = 1.0, run_dir: str = "run",
            evaluator: str = "test_retry_seed:NeedsTime", options: str = "{}", seed: int = SEED,
            objectives: str = '["params", "flops"]', children: int = 5,
            seed_program: str = "zoo:small_cnn") -> Path:
    limit = f"timeout_seconds = {timeout}" if timeout is not None else ""
    path = tmp_path / name
    path.write_text(f"""\
seed_program = "{seed_program}"
seed_params = {{ width = 8 }}
run_dir = "{run_dir}"
seed = {seed}
population = 8
objectives = {objectives}

[strategy]
variation = "random_edit"

[budget]
children = {children}

[executor]
kind = "serial"
{limit}

[evaluator]
kind = "{evaluator}"
options = {options}
""")
    return path


def _failed_seed_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A run whose seed timed out, through the CLI; its folder and the error."""
    path = _config(tmp_path)
    assert main(["search", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    return tmp_path / "run", err


def test_the_failure_says_how_to_retry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, err = _failed_seed_run(tmp_path, capsys)
    assert "the seed program failed to evaluate: timed out after 1 s" in err
    assert f"alphanas resume {run_dir} --config {tmp_path / 'run.toml'}" in err
    assert "Traceback" not in err
    # a new search into the folder says how, too
    assert main(["search", str(tmp_path / "run.toml"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and f"alphanas resume {run_dir} --config" in err


def test_resume_with_a_new_config_retries_the_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, _ = _failed_seed_run(tmp_path, capsys)
    fixed = _config(tmp_path, "fixed.toml", timeout=60.0, run_dir="elsewhere")  # its run_dir is ignored
    assert main(["resume", str(run_dir), "--config", str(fixed), "-q"]) == 0
    out = capsys.readouterr().out
    assert "stopped by budget" in out and "5 children evaluated" in out
    assert not (tmp_path / "elsewhere").exists()
    with Store.open(run_dir) as store:
        seed = store.candidate(0)
        info = store.run_info()
        replaced = store.get_state("replaced_configs")
        counts = store.counts()
    assert seed.ok and seed.finish_order == 0
    [attempt] = seed.record["history"]
    assert attempt["status"] == "failed" and attempt["reason"] == "timed out after 1 s"
    assert info.config["executor"]["timeout_seconds"] == 60.0 and info.config["run_dir"] == str(run_dir)
    assert [r["config"]["executor"]["timeout_seconds"] for r in replaced] == [1.0]
    assert counts == {"running": 0, "ok": 6, "failed": 0, "variation_failed": counts["variation_failed"]}
    # the run goes on under the new config: resuming it again changes nothing
    assert main(["resume", str(run_dir), "-q"]) == 0
    assert "5 children evaluated" in capsys.readouterr().out


def test_resume_without_a_config_retries_the_seed(tmp_path: Path) -> None:
    options = f'{{ folder = "{tmp_path}", seeds = [{evaluation_seed(SEED, 0)}] }}'
    path = _config(tmp_path, evaluator="test_retry_seed:FailsOnce", options=options, timeout=None)
    with pytest.raises(AlphanasError, match="seed program failed to evaluate: out of memory") as err:
        run_search(load_config(path), progress=False)
    assert f"alphanas resume {tmp_path / 'run'}`" in (err.value.hint or "")  # the stored config, as it is
    result = resume(tmp_path / "run", progress=False)
    assert result.stopped == "budget" and result.children == 5 and result.failed == 0
    with Store.open(tmp_path / "run") as store:
        seed = store.candidate(0)
    assert seed.ok and [a["reason"] for a in seed.record["history"]] == ["out of memory"]


def test_a_seed_failing_again_keeps_every_attempt(tmp_path: Path) -> None:
    options = f'{{ folder = "{tmp_path}", seeds = [{evaluation_seed(SEED, 0)}], always = true }}'
    path = _config(tmp_path, evaluator="test_retry_seed:FailsOnce", options=options, timeout=None)
    for _ in range(3):
        with pytest.raises(AlphanasError, match="seed program failed"):
            (run_search(load_config(path), progress=False) if not (tmp_path / "run").exists()
             else resume(tmp_path / "run", progress=False))
    with Store.open(tmp_path / "run") as store:
        seed = store.candidate(0)
        assert store.counts()["running"] == 0
    assert seed.status == "failed" and seed.reason == "out of memory"
    assert [a["reason"] for a in seed.record["history"]] == ["out of memory"] * 2  # the last one is the row's


def test_a_failed_child_is_not_retried(tmp_path: Path) -> None:
    child = evaluation_seed(SEED, 2)
    options = f'{{ folder = "{tmp_path}", seeds = [{child}] }}'
    path = _config(tmp_path, evaluator="test_retry_seed:FailsOnce", options=options, timeout=None)
    result = run_search(load_config(path), progress=False)
    assert result.failed == 1
    with Store.open(tmp_path / "run") as store:
        before = store.candidate(2)
    assert before.status == "failed" and before.reason == "out of memory"
    result = resume(tmp_path / "run", progress=False)
    with Store.open(tmp_path / "run") as store:
        assert store.candidate(2) == before
    assert result.failed == 1


@pytest.mark.parametrize(("change", "message"), [
    ({"seed": SEED + 1}, f"has seed {SEED}"),
    ({"seed_program": "zoo:resnet18_cifar"}, "is not the run's seed program"),
])
def test_a_config_for_another_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              change: dict, message: str) -> None:
    run_dir, _ = _failed_seed_run(tmp_path, capsys)
    with Store.open(run_dir) as store:
        before = (store.run_info(), store.candidates())
    other = _config(tmp_path, "other.toml", timeout=60.0, **change)
    assert main(["resume", str(run_dir), "--config", str(other), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    with Store.open(run_dir) as store:
        assert (store.run_info(), store.candidates()) == before  # untouched


def test_the_objectives_are_kept_once_the_seed_is_scored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, timeout=60.0, children=2)
    assert main(["search", str(path), "-q"]) == 0
    other = _config(tmp_path, "other.toml", timeout=60.0, children=4, objectives='["flops", "params"]')
    assert main(["resume", str(tmp_path / "run"), "--config", str(other), "-q"]) == 2
    assert "objectives differ from the run's" in capsys.readouterr().err
    more = _config(tmp_path, "more.toml", timeout=60.0, children=4)  # a larger budget is fine
    assert main(["resume", str(tmp_path / "run"), "--config", str(more), "-q"]) == 0
    assert "4 children evaluated" in capsys.readouterr().out


def test_ask_and_tell_asks_a_failed_seed_again(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, timeout=None, children=2))
    search = AskTell.start(config)
    trial = search.ask()
    assert trial is not None and trial.id == 0
    with pytest.raises(AlphanasError, match="seed program failed to evaluate: no GPU") as err:
        search.tell_failed(0, "no GPU")
    assert "alphanas resume" in (err.value.hint or "")
    search.close()
    with AskTell.resume(config.run_dir) as again:
        trial = again.ask()
        assert trial is not None and trial.id == 0
        again.tell(0, {"params": 1.0, "flops": 2.0})
        assert again.ask() is not None  # children follow
    with Store.open(config.run_dir) as store:
        assert [a["reason"] for a in store.candidate(0).record["history"]] == ["no GPU"]
