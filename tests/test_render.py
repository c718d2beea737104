"""``alphanas render``: architecture graphs as SVG and PNG, block instances
framed, every data dependency drawn, the synthesized region highlighted."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from inspect_runs import digits_run

from alphanas import analyze, ops, parse
from alphanas.cli import main
from alphanas.lang.analysis import Instance
from alphanas.runs.diff import diff_candidates
from alphanas.runs.inspection import load_run
from alphanas.runs.render import HIGHLIGHT, KINDS, Polygon, flatten, layout, node_kind, to_svg

SVG = "{http://www.w3.org/2000/svg}"

#: nested blocks, a residual connection and a two-input merge
NESTED = """\
block act(x) {
  return relu(batchnorm(x))
}

block res(x, c: int) {
  y = act(conv2d(x, c, k=3, p=1, bias=false))
  y = act(conv2d(y, c, k=3, p=1, bias=false))
  return add(x, y)
}

model net(x: [3, 16, 16]) {
  h = conv2d(x, 8, k=3, p=1)
  h = res(h, 8)
  h = res(h, 8)
  a = mean(h, [1, 2])
  b = dropout(a)
  return dense(concat(a, b), 10)
}
"""


def _instances(inst: Instance) -> int:
    """Block instances the model runs, nested ones included."""
    return sum(1 + _instances(sub) for sub in inst.calls.values())


def _ops(inst: Instance) -> int:
    return sum(1 for _ in inst.walk())


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)


def _rects(root: ET.Element, cls: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if cls in (r.get("class") or "").split()]


def test_every_op_is_a_box_and_every_block_instance_a_frame() -> None:
    program = parse(NESTED)
    root = analyze(program)
    svg = _svg(to_svg(layout(program)))
    # the ops of every instance, the model's input and its output
    assert len(_rects(svg, "node")) == _ops(root) + len(program.model.inputs) + 1
    assert len(_rects(svg, "block")) == _instances(root) == 6
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert any(t and t.startswith("h_1.y.out = relu") for t in titles)  # nested paths name the op


def test_every_data_dependency_has_one_arrow() -> None:
    program = parse(NESTED)
    rows, _ = flatten(program)
    scene = layout(program)
    arrows = [s for s in scene.shapes if isinstance(s, Polygon)]
    assert len(arrows) == sum(len(r.inputs) for r in rows)
    # the residual adds and the concat read a row that is not the one above them
    index = {r.key: k for k, r in enumerate(rows)}
    assert sum(1 for k, r in enumerate(rows) for i in r.inputs if index[i] != k - 1) >= 3


def test_kinds_come_from_the_op_library() -> None:
    for name, op in ops.all_ops().items():
        for params in (0, 10):
            kind = node_kind(op, params)
            assert kind in KINDS, name
            if op.arity is None:
                assert kind == "merge"
            elif op.depth_kind == "neutral":
                assert kind == "neutral"
            elif params:
                assert kind == "weights"
            else:
                assert kind == ("nonlinear" if op.depth_kind == "nonlinear" else "linear")


def test_highlighting_a_block_node_marks_it_in_every_instance() -> None:
    program = parse(NESTED)
    relu = next(n.id for n in program.block("act").nodes if n.op == "relu")
    scene = layout(program, [("act", relu)])
    assert len(scene.highlighted) == 4  # two res instances with two act calls each
    svg = _svg(to_svg(scene))
    assert len(_rects(svg, "highlighted")) == 4
    assert not layout(program).highlighted


def test_highlighting_a_block_call_frames_that_instance() -> None:
    program = parse(NESTED)
    second = [n.id for n in program.model.nodes if n.op == "res"][1]
    svg = _svg(to_svg(layout(program, [("net", second)], highlight_label="added")))
    frames = _rects(svg, "block")
    assert len(_rects(svg, "highlighted")) == 1 and len(frames) == 6
    assert [r.get("stroke") for r in frames].count(HIGHLIGHT.stroke) == 1
    assert any(t.text == "added" for t in svg.iter(f"{SVG}text"))  # the legend says what it means


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return digits_run(tmp_path_factory)


def _child(run_dir: Path) -> int:
    run = load_run(run_dir)
    return next(c.id for c in run.candidates if c.operator == "property_mutation" and c.program is not None)


def test_render_a_candidate_highlights_what_its_mutation_synthesized(trained: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = load_run(trained)
    cid = _child(trained)
    marked = diff_candidates(run, cid).new_marked
    svg_path = tmp_path / "g.svg"
    assert main(["render", str(trained), "--id", str(cid), "-o", str(svg_path)]) == 0
    assert "highlighted as synthesized region" in capsys.readouterr().out
    svg = _svg(svg_path.read_text())
    hot = _rects(svg, "highlighted")
    assert hot and all(r.get("stroke") == HIGHLIGHT.stroke for r in hot)
    hot_titles = {r.find(f"{SVG}title").text.split(" = ")[1].split("(")[0] for r in hot}  # type: ignore[union-attr]
    program = run.program(cid)
    marked_ops = {(program.model if g == program.model.name else program.block(g)).node(n).op for g, n in marked}
    assert hot_titles == marked_ops


def test_render_png_draws_the_highlight(trained: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    def pixels_of(path: Path, color: str) -> int:
        image = np.asarray(Image.open(path).convert("RGB"))
        assert image.shape[0] > 300 and image.shape[1] > 300
        rgb = [int(color[k:k + 2], 16) for k in (1, 3, 5)]
        return int((image == rgb).all(axis=2).sum())

    cid = _child(trained)
    png = tmp_path / "g.png"
    assert main(["render", str(trained), "--id", str(cid), "-o", str(png)]) == 0
    assert pixels_of(png, HIGHLIGHT.stroke) > 100
    plain = tmp_path / "seed.png"
    assert main(["render", str(trained), "--id", "0", "-o", str(plain)]) == 0
    assert pixels_of(plain, HIGHLIGHT.stroke) == 0


def test_render_a_program_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.arch").write_text(NESTED)
    out = tmp_path / "net.svg"
    assert main(["render", str(tmp_path / "net.arch"), "-o", str(out)]) == 0
    assert _rects(_svg(out.read_text()), "node")


@pytest.mark.parametrize("argv,message", [
    (["{prog}", "-o", "{tmp}/g.pdf"], "must be a .svg or .png"),
    (["{prog}", "-o", "{tmp}/missing/g.svg"], "no such folder"),
    (["{prog}", "--id", "3", "-o", "{tmp}/g.svg"], "is not a run folder"),
    (["{run}", "-o", "{tmp}/g.svg"], "name one of its candidates with --id"),
    (["{run}", "--id", "999", "-o", "{tmp}/g.svg"], "has no candidate 999"),
    (["{tmp}", "--id", "1", "-o", "{tmp}/g.svg"], "holds no run"),
])
def test_render_mistakes_exit_with_status_2(argv: list[str], message: str, trained: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.arch").write_text(NESTED)
    args = [a.format(prog=tmp_path / "net.arch", run=trained, tmp=tmp_path) for a in argv]
    assert main(["render", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
