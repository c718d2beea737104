"""Optional TensorBoard logging of a search (``tensorboard = true``): the
config key is checked, a missing package is a clear error, and the logged
scalars are the rows of ``history.csv``, each step once after a resume."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from inspect_runs import ANALYTIC, make_run

from alphanas.search.config import ConfigError, load_config
from alphanas.search.loop import resume
from alphanas.search.tensorboard_log import LOG_DIR


def _config(tmp_path: Path, extra: str, children: int = 6) -> Path:
    (tmp_path / "seed.arch").write_text("model m(x: [1, 8, 8]) {\n  return dense(flatten(x), 10)\n}\n")
    path = tmp_path / "search.toml"
    path.write_text(ANALYTIC.format(children=children, extra=extra))
    return path


def test_tensorboard_is_off_by_default_and_must_be_a_bool(tmp_path: Path) -> None:
    assert load_config(_config(tmp_path, "")).tensorboard is False
    with pytest.raises(ConfigError, match="tensorboard must be true or false") as err:
        load_config(_config(tmp_path, 'tensorboard = "yes"'))
    assert err.value.loc is not None and err.value.loc.line == 6  # the key's line in the file


def test_tensorboard_without_the_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    with pytest.raises(ConfigError, match="needs the tensorboard package") as err:
        load_config(_config(tmp_path, "tensorboard = true"))
    assert "pip install 'alphanas[tensorboard]'" in (err.value.hint or "")


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / LOG_DIR))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_the_log_holds_the_history_and_survives_a_resume(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    text = ANALYTIC.format(children=5, extra="tensorboard = true")
    run_dir = make_run(tmp_path / "a", text)
    with (run_dir / "history.csv").open(newline="") as f:
        history = list(csv.DictReader(f))
    logged = _scalars(run_dir)
    assert {"hypervolume", "best/params", "best/flops", "candidates/failed"} <= set(logged)
    assert [s for s, _ in logged["hypervolume"]] == [int(r["evaluations"]) for r in history]
    assert [v for _, v in logged["hypervolume"]] == pytest.approx([float(r["hypervolume"]) for r in history])
    assert [v for _, v in logged["best/params"]] == pytest.approx([float(r["best_params"]) for r in history])
    # resumed (here with nothing left to do), the run replays its history
    # into a new event file; TensorBoard shows each step once all the same
    resume(run_dir, progress=False)
    assert len(list((run_dir / LOG_DIR).iterdir())) == 2  # one event file per session
    again = _scalars(run_dir)
    assert again["hypervolume"] == logged["hypervolume"]
