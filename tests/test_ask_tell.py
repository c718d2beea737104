"""Ask and tell: a search whose candidates the caller evaluates gives the
same run as ``alphanas search`` with an evaluator computing the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alphanas.evaluation.evaluator import analytic_metrics
from alphanas.lang.errors import AlphanasError
from alphanas.search.ask_tell import AskTell
from alphanas.search.config import load_config
from alphanas.search.loop import run_search
from alphanas.search.store import Store


def _config(tmp_path: Path, name: str, variation: str = "alphanas", children: int = 12) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f"""\
seed_program = "zoo:small_cnn"
seed_params = {{ width = 8 }}
run_dir = "{name}"
seed = 3
population = 8
objectives = ["params", "flops"]

[strategy]
variation = "{variation}"
selection = "nsga2"

[budget]
children = {children}

[executor]
kind = "serial"

[evaluator]
kind = "analytic"
""")
    return path


def _untimed(value: Any) -> Any:
    """A record without its wall-clock timings (synthesis seconds)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    return value


def _rows(run_dir: Path) -> list[tuple]:
    """Everything about each candidate that a run determines (not timings)."""
    with Store.open(run_dir) as store:
        return [(c.id, c.parent_id, c.generation, c.operator, c.program, c.hash, _untimed(dict(c.record)),
                 dict(c.metrics), c.status, c.phase, c.reason) for c in store.candidates()]


def _drive(search: AskTell, fail: set[int] = frozenset()) -> None:
    """The caller's own evaluation loop: metrics computed here, not by an evaluator."""
    while (trial := search.ask()) is not None:
        assert trial.folder.is_dir()
        if trial.id in fail:
            search.tell_failed(trial.id, "my cluster lost it")
        else:
            search.tell(trial.id, analytic_metrics(trial.program))


@pytest.mark.parametrize("variation", ["alphanas", "random_edit"])
def test_ask_and_tell_gives_the_store_of_a_search(tmp_path: Path, variation: str) -> None:
    reference = run_search(load_config(_config(tmp_path, "searched", variation)), progress=False)
    with AskTell.start(load_config(_config(tmp_path, "asked", variation))) as search:
        _drive(search)
        assert search.done
    assert search.result is not None and search.result.children == reference.children == 12
    assert _rows(tmp_path / "asked") == _rows(tmp_path / "searched")
    assert (tmp_path / "asked" / "pareto.csv").read_text() == (tmp_path / "searched" / "pareto.csv").read_text()


def test_an_unfinished_ask_and_tell_run_resumes_to_the_same_store(tmp_path: Path) -> None:
    reference = tmp_path / "whole"
    with AskTell.start(load_config(_config(tmp_path, "whole", "random_edit"))) as search:
        _drive(search)
    with AskTell.start(load_config(_config(tmp_path, "parts", "random_edit"))) as search:
        for _ in range(5):
            trial = search.ask()
            assert trial is not None
            search.tell(trial.id, analytic_metrics(trial.program))
        asked = search.ask()  # asked, never told: asked again after the resume
        assert asked is not None
    with AskTell.resume(tmp_path / "parts") as search:
        again = search.ask()
        assert again is not None and (again.id, again.text) == (asked.id, asked.text)
        search.tell(again.id, analytic_metrics(again.program))
        _drive(search)
    assert _rows(tmp_path / "parts") == _rows(reference)


def test_failures_and_mistakes_are_recorded_or_refused(tmp_path: Path) -> None:
    with AskTell.start(load_config(_config(tmp_path, "run", "random_edit", children=6))) as search:
        seed = search.ask()
        assert seed is not None and seed.id == 0 and seed.parent_id is None
        assert search.ask() is None  # no parent to draw from until the seed is told
        with pytest.raises(AlphanasError, match="was not asked"):
            search.tell(7, {"params": 1.0, "flops": 1.0})
        search.tell(seed.id, analytic_metrics(seed.program))
        with pytest.raises(AlphanasError, match="told already"):
            search.tell(seed.id, analytic_metrics(seed.program))
        _drive(search, fail={2, 4})
    with Store.open(tmp_path / "run") as store:
        failed = {c.id: c.reason for c in store.candidates() if c.status == "failed"}
    assert failed == {2: "my cluster lost it", 4: "my cluster lost it"}
    with pytest.raises(AlphanasError, match="closed"):
        search.ask()
