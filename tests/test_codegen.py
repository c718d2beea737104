"""The PyTorch code generator and `alphanas export`: standalone, equal outputs."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import alphanas
from alphanas.cli import main
from alphanas.pytorch.codegen import build, module_source

PROGRAM = """
# squeeze-excite and a residual block with int parameters, used twice
block se(x, c: int, r: int = 4) {
  s = relu(conv2d(adaptive_avgpool(x, 1), c // r))
  return mul(x, sigmoid(conv2d(s, c)))
}
block res(x, c: int) {
  y = relu(batchnorm(conv2d(x, c, k=3, p=1, bias=false)))
  y = se(batchnorm(conv2d(y, c, k=3, p=1, bias=false)), c)
  return relu(add(x, y))
}
model net(x: [3, 16, 16], classes: int = 7) {
  h = relu(batchnorm(conv2d(x, 16, k=3, p=1)))
  h = res(res(h, 16), 16)
  h = maxpool(h, 2)
  h = concat(h, avgpool(h, 3, s=1, p=1))
  return dense(dropout(flatten(h), p=0.1), classes)
}
"""

# Run in a fresh interpreter where alphanas and its other dependencies cannot be
# imported: the exported file must need torch alone.
RUNNER = textwrap.dedent(
    """
    import importlib.util, json, sys
    for name in ("alphanas", "grammars", "synth", "lark", "z3", "networkx", "deap"):
        sys.modules[name] = None  # makes `import name` fail
    import torch
    spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = getattr(mod, sys.argv[2])()
    model.load_state_dict(torch.load(sys.argv[3]))
    model.eval()
    x = torch.load(sys.argv[4])
    with torch.no_grad():
        torch.save(model(x), sys.argv[5])
    names = [(n, list(p.shape)) for n, p in model.named_parameters()]
    print(json.dumps(names))
    """
)


@pytest.fixture()
def program() -> alphanas.Program:
    return alphanas.parse(PROGRAM, "net.arch")


def test_generated_source_imports_only_torch(program: alphanas.Program) -> None:
    source, _ = module_source(program)
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"torch"}


def test_built_module_matches_analysis(program: alphanas.Program) -> None:
    inst = alphanas.analyze(program)
    model = build(program, inst).eval()
    assert sum(p.numel() for p in model.parameters()) == inst.total.params
    out = model(torch.randn(3, 3, 16, 16))
    assert tuple(out.shape) == (3, *inst.output_shape)


def test_block_instances_are_separate_modules_of_one_class(program: alphanas.Program) -> None:
    model = build(program)
    first, second = (m for name, m in model.named_children() if type(m).__name__ == "Res")
    assert type(first) is type(second)
    assert first.y_conv2d.weight.data_ptr() != second.y_conv2d.weight.data_ptr()


def test_exported_file_runs_without_alphanas_and_gives_identical_outputs(
    program: alphanas.Program, tmp_path: Path
) -> None:
    path = tmp_path / "model.py"
    assert main(["export", str(_write(tmp_path, PROGRAM)), "-o", str(path)]) == 0
    torch.manual_seed(0)
    reference = build(program).eval()
    for buf in reference.buffers():  # non-trivial batchnorm statistics
        if buf.is_floating_point():
            buf.uniform_(0.5, 1.5)
    torch.save(reference.state_dict(), tmp_path / "weights.pt")
    x = torch.randn(4, 3, 16, 16)
    torch.save(x, tmp_path / "x.pt")
    _, top = module_source(program)
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(path), top, str(tmp_path / "weights.pt"),
         str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
        capture_output=True, text=True, timeout=120,
        # one thread on both sides: kernels pick their reduction order by thread count
        # (and, with several, by load), and bitwise equality is what is asserted
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    exported_names = [tuple(item) for item in json.loads(result.stdout)]
    assert exported_names == [(n, list(p.shape)) for n, p in reference.named_parameters()]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            expected = reference(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(torch.load(tmp_path / "y.pt"), expected)


def test_value_names_that_clash_with_python_or_nn_module_still_generate(tmp_path: Path) -> None:
    text = """
    model m(x: [4, 6, 6]) {
      eval = conv2d(x, 4, k=3, p=1)
      torch = relu(eval)
      self = add(torch, x)
      F = batchnorm(self)
      return mean(F, [1, 2])
    }
    """
    program = alphanas.parse(text)
    model = build(program).eval()
    assert tuple(model(torch.randn(2, 4, 6, 6)).shape) == (2, 4)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "net.arch"
    p.write_text(text)
    return p
