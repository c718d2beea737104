"""Search configs: a valid one loads and round-trips; each kind of mistake
is an AlphanasError at the key's line with a hint, and the CLI exits 2."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from alphanas.cli import main
from alphanas.evaluation.evaluator import EvalContext, Evaluation, Fidelity
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.search.config import (
    ConfigError,
    SearchConfig,
    build_evaluator,
    load_config,
    load_seed_program,
)

VALID = """\
seed_program = "zoo:small_cnn"
seed_params = { width = 8 }
run_dir = "runs/a"
seed = 7
population = 12
objectives = ["params", { name = "flops", worst = 1e9 }]

[constraints]
max_params = 1e6

[strategy]
variation = "random_edit"
selection = "aging"
variation_options = { max_attempts = 8 }
selection_options = { tournament = 4 }

[budget]
children = 20

[executor]
kind = "serial"
timeout_seconds = 30

[evaluator]
kind = "analytic"
fidelity = { epochs = 2 }
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "search.toml"
    path.write_text(text)
    return path


def test_valid_config(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, VALID))
    assert config.run_dir == (tmp_path / "runs" / "a").resolve()  # relative to the file's folder
    assert config.seed == 7 and config.population == 12
    assert [o.name for o in config.objectives] == ["params", "flops"]
    assert config.objectives[1].worst == 1e9 and config.objectives[1].direction == "min"
    assert config.constraints.as_kwargs() == {"max_params": 1_000_000}
    assert isinstance(config.constraints.as_kwargs()["max_params"], int)
    assert config.strategy.selection_options == {"tournament": 4}
    assert config.budget.children == 20 and config.budget.variation_failure_cap == 200
    assert config.executor.kind == "serial" and config.executor.timeout_seconds == 30
    assert config.evaluator.fidelity == Fidelity(epochs=2)
    again = SearchConfig.from_dict(config.to_dict(), source=config.source)
    assert again == config
    program = load_seed_program(config)
    assert program.model.name == "small_cnn"


def test_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, 'seed_program = "zoo:small_cnn"\nrun_dir = "r"\nobjectives = ["params"]\n'
                                           '[strategy]\nvariation = "random_edit"\n'))
    assert config.executor.kind == "process" and config.executor.workers == 1
    assert config.strategy.selection == "pareto_weighted"
    assert config.evaluator.kind == "analytic"
    assert config.budget.children == 100


def _error(tmp_path: Path, text: str) -> AlphanasError:
    with pytest.raises(AlphanasError) as err:
        config = load_config(_write(tmp_path, text))
        load_seed_program(config)
    return err.value


def _replace(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


CASES = {
    # name: (config text, line, words in the message, words in the hint)
    "unknown top-level key": (_replace("population = 12", "populaton = 12"), 5,
                              ("unknown key 'populaton'",), ("did you mean 'population'",)),
    "unknown key in a table": (_replace('selection = "aging"', 'selction = "aging"'), 13,
                               ("unknown key 'selction' in [strategy]",), ("did you mean 'selection'",)),
    "wrong type": (_replace("children = 20", 'children = "many"'), 18,
                   ("budget.children must be an integer", "a string"), ()),
    "bool is not a number": (_replace("population = 12", "population = true"), 5,
                             ("population must be an integer", "boolean"), ()),
    "unknown objective": (_replace('objectives = ["params",', 'objectives = ["parms",'), 6,
                          ("unknown objective 'parms'",), ("did you mean 'params'",)),
    "objective the evaluator does not measure": (_replace('objectives = ["params",', 'objectives = ["accuracy",'),
                                                 6, ("does not measure 'accuracy'",), ("params, flops",)),
    "wrong direction": (_replace('{ name = "flops", worst = 1e9 }', '{ name = "flops", direction = "max" }'), 6,
                        ("better when minimised",), ()),
    "seed program over the budget": (_replace("max_params = 1e6", "max_params = 1000"), 9,
                                     ("already breaks the budget", "params 4,514 > max_params 1,000"),
                                     ("raise max_params to at least 4,514",)),
    "impossible budget": (_replace("max_params = 1e6", "max_params = 0"), 9,
                          ("max_params = 0 is impossible", "at least 1"), ()),
    "no children": (_replace("children = 20", "children = 0"), 18, ("children = 0 is impossible",), ()),
    "variation option typo": (_replace("max_attempts = 8", "max_atempts = 8"), 14,
                              ("takes no option 'max_atempts'",), ("did you mean 'max_attempts'",)),
    "mutation probability above 1": (_replace('variation = "random_edit"', 'variation = "alphanas"')
                                     .replace("max_attempts = 8", "p_mixing = 1.2"), 14,
                                     ("p_mixing = 1.2 is not a probability",), ()),
    "mutation budget of no work": (_replace('variation = "random_edit"', 'variation = "alphanas"')
                                   .replace("max_attempts = 8", "synth_steps = 0"), 14,
                                   ("synth_steps = 0 must be at least 1",), ()),
    "unknown variation": (_replace('variation = "random_edit"', 'variation = "random_edits"'), 12,
                          ("unknown variation 'random_edits'",), ("did you mean 'random_edit'",)),
    "unknown selection option": (_replace("{ tournament = 4 }", "{ min_accuracy = 0.5 }"), 15,
                                 ("selection 'aging' takes no option 'min_accuracy'",), ("its options: tournament",)),
    "unknown selection": (_replace('selection = "aging"', 'selection = "agin"'), 13,
                          ("unknown selection 'agin'",), ("did you mean 'aging'",)),
    "selection option of the wrong type": (_replace("{ tournament = 4 }", "{ tournament = 2.5 }"), 15,
                                           ("tournament must be an integer",), ()),
    "min_accuracy without accuracy": (_replace("{ tournament = 4 }", "{ min_accuracy = 0.5 }")
                                      .replace('selection = "aging"', 'selection = "pareto_weighted"'), 15,
                                      ("min_accuracy needs accuracy among the objectives",), ()),
    "probability above 1": (_replace("{ tournament = 4 }", "{ first_objective_probability = 1.5 }")
                            .replace('selection = "aging"', 'selection = "nsga2"'), 15,
                            ("first_objective_probability = 1.5 is impossible", "at most 1"), ()),
    "unknown executor": (_replace('kind = "serial"', 'kind = "threads"'), 21, ("unknown executor 'threads'",),
                         ("serial, process, ray",)),
    "address for a local executor": (_replace('kind = "serial"', 'kind = "serial"\naddress = "auto"'), 22,
                                     ("executor 'serial' takes no option 'address'",), ("timeout_seconds",)),
    "serial with workers": (_replace('kind = "serial"', 'kind = "serial"\nworkers = 2'), 22,
                            ("one evaluation at a time",), ()),
    "missing seed file": (_replace('"zoo:small_cnn"', '"nets/missing.arch"'), 1, ("no such file",), ()),
    "unknown zoo model": (_replace('"zoo:small_cnn"', '"zoo:small_cn"'), 1, ("the zoo has no model",),
                          ("did you mean 'small_cnn'",)),
    "grammar key is now a table": ('grammar = "g.lark"\n' + VALID, 1, ("unknown key 'grammar'",), ()),
    "missing space grammar": (VALID + '\n[space]\ngrammar = "g.lark"\nrule = "body"\n', 29,
                              ("no such space grammar",), ("relative to the config file",)),
    "invalid TOML": (_replace("population = 12", "population = [12"), 6, ("invalid TOML",), ()),
    "unknown evaluator": (_replace('kind = "analytic"', 'kind = "analytical"'), 25,
                          ("unknown evaluator 'analytical'",), ("did you mean 'analytic'",)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_mistakes_are_located(tmp_path: Path, name: str) -> None:
    text, line, message, hint = CASES[name]
    err = _error(tmp_path, text)
    assert err.loc is not None, err.render()
    assert err.loc.line == line, err.render()
    assert err.loc.file.endswith("search.toml")
    for word in message:
        assert word in err.message, err.render()
    for word in hint:
        assert word in (err.hint or ""), err.render()
    rendered = err.render()
    assert f"search.toml:{line}:" in rendered and "^" in rendered


def test_missing_required_keys(tmp_path: Path) -> None:
    err = _error(tmp_path, 'run_dir = "r"\nobjectives = ["params"]\n')
    assert "missing key 'seed_program'" in err.message
    err = _error(tmp_path, 'seed_program = "zoo:small_cnn"\nobjectives = ["params"]\n')
    assert "missing key 'run_dir'" in err.message


def test_unavailable_classes_are_config_errors(tmp_path: Path) -> None:
    err = _error(tmp_path, _replace('variation = "random_edit"', 'variation = "no_such_module:Thing"'))
    assert isinstance(err, ConfigError) and "cannot import no_such_module" in err.message
    assert err.loc is not None and err.loc.line == 12


def test_cli_exits_2_with_the_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _replace("population = 12", "populaton = 12"))
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err
    assert "search.toml:5:1: config error: unknown key 'populaton'" in err
    assert "did you mean 'population'" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing was started
    assert main(["resume", str(tmp_path / "nowhere")]) == 2
    assert "holds no run" in capsys.readouterr().err


@dataclass(frozen=True)
class Inner:
    name: str = "a"
    size: int = 1
    where: Path | None = None
    dims: tuple[int, ...] = ()


@dataclass(frozen=True)
class NestedEvaluator:
    """An evaluator whose options are dataclasses, as the training evaluator's are."""

    inner: Inner = field(default_factory=Inner)
    scale: float = 1.0
    metrics: ClassVar[dict[str, str]] = {"params": "min"}

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise AlphanasError(f"scale {self.scale} must be positive", hint="use a positive scale")

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        return Evaluation("ok", {"params": 1.0})


NESTED = """\
seed_program = "zoo:small_cnn"
run_dir = "r"
objectives = ["params"]
[strategy]
variation = "random_edit"
[evaluator]
kind = "test_config:NestedEvaluator"
[evaluator.options]
scale = 2.0
inner = { name = "b", size = 3, where = "data", dims = [1, 2] }
"""


def test_nested_tables_become_the_annotated_dataclasses(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, NESTED))
    assert config.evaluator.options["inner"]["where"] == str(tmp_path / "data")  # relative to the config
    evaluator = build_evaluator(config.evaluator)
    assert evaluator == NestedEvaluator(Inner("b", 3, tmp_path / "data", (1, 2)), 2.0)
    err = _error(tmp_path, NESTED.replace("size = 3", "sise = 3"))
    assert "option 'inner' takes no option 'sise'" in err.message and "did you mean 'size'" in (err.hint or "")
    assert err.loc is not None and err.loc.line == 10
    err = _error(tmp_path, NESTED.replace("scale = 2.0", "scale = -1.0"))
    assert "scale -1.0 must be positive" in err.message and err.hint == "use a positive scale"
    assert err.loc is not None and err.loc.line == 7
