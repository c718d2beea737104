"""``alphanas export RUN_DIR --id ID``: a front member as standalone
PyTorch source with its trained weights, reproducing the test accuracy the
run stored for it."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from inspect_runs import analytic_run, digits_run

from alphanas.cli import main
from alphanas.evaluation.data import DataSpec, load, prepare_batch
from alphanas.pytorch.codegen import module_source
from alphanas.runs.inspection import load_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return digits_run(tmp_path_factory)


def _import_fresh(path: Path, name: str):  # type: ignore[no-untyped-def]
    """The file as a new module, outside every package of ours."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    return roots


def test_an_exported_front_member_reproduces_its_stored_test_accuracy(trained: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run = load_run(trained)
    member = max(run.front, key=lambda c: (c.parent_id is not None, c.metrics["test_accuracy"]))
    source, weights = tmp_path / "model.py", tmp_path / "model.pt"
    assert main(["export", str(trained), "--id", str(member.id), "-o", str(source), "--weights", str(weights)]) == 0
    assert "imports only torch" in capsys.readouterr().out
    assert _imported_roots(source) == {"torch"}

    before = {m for m in sys.modules if m.startswith("alphanas")}
    module = _import_fresh(source, f"exported_{member.id}")
    assert {m for m in sys.modules if m.startswith("alphanas")} == before  # it pulled in nothing of ours
    _, class_name = module_source(run.program(member.id))
    model = getattr(module, class_name)()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()

    # the test split through the same pipeline as training (alphanas.evaluation.data)
    spec = DataSpec(**run.setting("evaluator", "options", "data"))
    splits = load(spec)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(splits.test), 256):
            x = prepare_batch(splits.test.x[start:start + 256], splits)
            correct += int((model(x).argmax(1) == splits.test.y[start:start + 256]).sum())
    accuracy = correct / len(splits.test)
    assert accuracy == pytest.approx(member.metrics["test_accuracy"], abs=1e-6)


def test_the_export_header_says_where_the_model_came_from(trained: Path, tmp_path: Path) -> None:
    run = load_run(trained)
    c = run.front[-1]
    source = tmp_path / "m.py"
    assert main(["export", str(trained), "--id", str(c.id), "-o", str(source)]) == 0
    head = source.read_text().split('"""', 1)[0]
    assert f"candidate #{c.id}, generation {c.generation}" in head
    assert "prepare_batch" in head and "digits" in head
    assert not (tmp_path / "m.pt").exists()


def test_weights_of_a_run_that_kept_none_are_a_user_error(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = analytic_run(tmp_path_factory)
    out, pt = tmp_path / "m.py", tmp_path / "m.pt"
    assert main(["export", str(run_dir), "--id", "0", "-o", str(out), "--weights", str(pt)]) == 2
    err = capsys.readouterr().err
    assert "has no trained weights" in err and "keep_checkpoints" in err and "Traceback" not in err
    assert not out.exists() and not pt.exists()  # nothing half written
    assert main(["export", str(run_dir), "--id", "0", "-o", str(out)]) == 0  # the source alone is fine
    assert _imported_roots(out) == {"torch"}


@pytest.mark.parametrize("argv,message", [
    (["{run}", "--id", "999", "-o", "{tmp}/m.py"], "has no candidate 999"),
    (["{run}", "-o", "{tmp}/m.py"], "name one of its candidates with --id"),
    (["{run}", "--id", "0", "-o", "{tmp}/m.txt"], "a .py file"),
    (["{run}", "--id", "0", "-o", "{tmp}/m.py", "--weights", "{tmp}/m.bin"], "a .pt or .pth file"),
    (["{prog}", "-o", "{tmp}/m.py", "--weights", "{tmp}/m.pt"], "is not a run folder"),
    (["{prog}", "--id", "1", "-o", "{tmp}/m.py"], "is not a run folder"),
])
def test_export_mistakes_exit_with_status_2(argv: list[str], message: str, trained: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from inspect_runs import SEED_PROGRAM

    (tmp_path / "p.arch").write_text(SEED_PROGRAM)
    args = [a.format(run=trained, tmp=tmp_path, prog=tmp_path / "p.arch") for a in argv]
    assert main(["export", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
