"""Small search runs for the inspection tests (show, diff, render, report,
export), each made once per test session and shared by the test files
that read them (nothing here writes to a run after it is made).

- :func:`digits_run`: property-guided mutation on scikit-learn's digits,
  trained for one epoch per candidate, checkpoints kept (~5-15 s);
- :func:`analytic_run`: the same search scored without training (no weights).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alphanas.search.config import load_config
from alphanas.search.loop import run_search

#: a digits CNN small enough to train in a fraction of a second per epoch
SEED_PROGRAM = """\
block conv_bn_relu(x, c: int) {
  return relu(batchnorm(conv2d(x, c, k=3, p=1, bias=false)))
}

model digits_cnn(x: [1, 8, 8], classes: int = 10, width: int = 8) {
  h = conv_bn_relu(x, width)
  h = maxpool(conv_bn_relu(h, width * 2), 2)
  return dense(flatten(adaptive_avgpool(h, 1)), classes)
}
"""

TRAINING = """\
seed_program = "seed.arch"
seed = 3
run_dir = "run"
population = 8
objectives = ["accuracy", "params"]

[strategy]
variation = "alphanas"
selection = "pareto_weighted"

[budget]
children = {children}

[executor]
kind = "serial"

[evaluator]
kind = "training"
fidelity = {{ epochs = 1 }}
keep_checkpoints = true

[evaluator.options]
data = {{ name = "digits" }}
config = {{ optimizer = "adamw", lr = 0.01, batch_size = 64, threads = 1, device = "cpu" }}
"""

ANALYTIC = """\
seed_program = "seed.arch"
seed = 3
run_dir = "run"
population = 8
objectives = ["params", "flops"]
{extra}
[strategy]
variation = "alphanas"

[budget]
children = {children}

[executor]
kind = "serial"

[evaluator]
kind = "analytic"
"""

_made: dict[str, Path] = {}


def make_run(folder: Path, config_text: str) -> Path:
    """Run the search the config text describes in ``folder``; its run folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seed.arch").write_text(SEED_PROGRAM)
    config = folder / "search.toml"
    config.write_text(config_text)
    return run_search(load_config(config), progress=False).run_dir


def _shared(name: str, factory: pytest.TempPathFactory, text: str) -> Path:
    if name not in _made or not _made[name].is_dir():
        _made[name] = make_run(factory.mktemp(name), text)
    return _made[name]


def digits_run(factory: pytest.TempPathFactory) -> Path:
    """The trained run (a copy of it may be changed; this one must not be)."""
    pytest.importorskip("sklearn")
    return _shared("digits", factory, TRAINING.format(children=10))


def analytic_run(factory: pytest.TempPathFactory) -> Path:
    return _shared("analytic", factory, ANALYTIC.format(children=12, extra=""))


def copy_run(run_dir: Path, target: Path) -> Path:
    """A copy of a run folder (for a test that moves or changes it)."""
    shutil.copytree(run_dir, target)
    return target
