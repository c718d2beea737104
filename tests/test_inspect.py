"""Inspecting a run: loading it (front, lineage, hypervolume history,
failures), ``alphanas show`` and ``alphanas diff``."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
from inspect_runs import SEED_PROGRAM, analytic_run, digits_run

from alphanas import parse
from alphanas.cli import main
from alphanas.evaluation.pareto import Objective, ReferenceBox, hypervolume
from alphanas.lang.errors import AlphanasError
from alphanas.runs.diff import compare_programs, diff_candidates, marked_columns, render_diff
from alphanas.runs.inspection import load_run, reason_pattern
from alphanas.search.store import Candidate, Store


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return digits_run(tmp_path_factory)


@pytest.fixture(scope="session")
def analytic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analytic_run(tmp_path_factory)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# -- loading a run ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["trained", "analytic"])
def test_front_and_hypervolume_agree_with_what_the_search_wrote(which: str, request: pytest.FixtureRequest) -> None:
    run_dir = request.getfixturevalue(which)
    run = load_run(run_dir)
    assert [c.id for c in run.front] == [int(r["id"]) for r in _csv(run_dir / "pareto.csv")]
    history = _csv(run_dir / "history.csv")
    points = run.hypervolume_history()
    assert [p.evaluations for p in points] == [int(r["evaluations"]) for r in history]
    assert [p.hypervolume for p in points] == pytest.approx([float(r["hypervolume"]) for r in history], abs=1e-6)
    with Store.open(run_dir) as store:
        counts = store.counts()
    mine = run.counts()
    assert {k: mine[k] for k in counts} == counts
    assert mine["evaluated"] == mine["ok"] + mine["failed"] == len(points)


def test_lineage_runs_from_the_seed_through_parents(trained: Path) -> None:
    run = load_run(trained)
    assert any(c.parent_id is not None for c in run.candidates)
    for c in run.candidates:
        chain = run.lineage(c.id)
        assert chain[0].parent_id is None and chain[0].generation == 0
        assert chain[-1].id == c.id
        for parent, child in itertools.pairwise(chain):
            assert child.parent_id == parent.id
            assert child.generation == parent.generation + 1


def test_an_unknown_candidate_or_a_folder_without_a_run_is_a_user_error(trained: Path, tmp_path: Path) -> None:
    run = load_run(trained)
    with pytest.raises(AlphanasError, match="has no candidate 999"):
        run.candidate(999)
    with pytest.raises(AlphanasError, match="no such run folder"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(AlphanasError, match="holds no run"):
        load_run(tmp_path)


def test_a_copied_run_reads_its_own_weights(trained: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(trained, tmp_path / "copy"))
    run = load_run(copy)
    kept = [c for c in run.candidates if c.checkpoint]
    assert kept
    for c in kept:
        assert run.weights(c) == copy / "candidates" / f"{c.id:06d}" / "weights.pt"


# -- failures ----------------------------------------------------------------------------------------------


def _run_with_failures(folder: Path) -> tuple[Path, ReferenceBox]:
    """A run folder written through the store, with known failures."""
    objectives = [Objective("params", "min")]
    config = {"objectives": [{"name": "params", "direction": "min"}], "seed_program": "seed.arch",
              "strategy": {"variation": "alphanas", "selection": "nsga2"}, "evaluator": {"kind": "analytic"}}
    store = Store.create(folder, config, seed=0, engine_version="test")
    box = ReferenceBox.from_seed(objectives, {"params": 100.0})
    store.set_state("reference_box", box.as_list())

    def add(cid: int, parent: int | None, **kw: object) -> None:
        store.add(Candidate(id=cid, parent_id=parent, generation=0 if parent is None else 1,
                            operator="seed" if parent is None else "property_mutation",
                            program=None if kw.get("phase") == "variation" else SEED_PROGRAM,
                            hash=f"h{cid}", **kw))  # type: ignore[arg-type]

    add(0, None)
    store.finish(0, "ok", {"params": 100.0}, None, 0.1)
    add(1, 0)
    store.finish(1, "failed", {}, "out of memory", 0.1)
    add(2, 0, status="failed", phase="variation", reason="duplicate of candidate 0")
    add(3, 0)
    store.finish(3, "ok", {"params": 50.0}, None, 0.1)
    add(4, 0, status="failed", phase="variation", reason="duplicate of candidate 3")
    add(5, 0)
    store.finish(5, "failed", {}, "out of memory", 0.1)
    add(6, 0)
    store.finish(6, "failed", {}, "time limit 120.0 s exceeded after 57 steps", 0.1)
    add(7, 0)  # still running
    store.close()
    return folder, box


def test_failures_are_counted_and_grouped_by_reason(tmp_path: Path) -> None:
    folder, box = _run_with_failures(tmp_path / "run")
    run = load_run(folder)
    assert run.counts() == {"candidates": 8, "evaluated": 5, "ok": 2, "failed": 3, "variation_failed": 2,
                            "running": 1}
    groups = {(g.phase, g.pattern): g.ids for g in run.failures()}
    assert groups == {
        ("evaluation", "out of memory"): (1, 5),
        ("variation", "duplicate of candidate N"): (2, 4),
        ("evaluation", reason_pattern("time limit 120.0 s exceeded after 57 steps")): (6,),
    }
    assert run.failures()[0].count == 2  # largest groups first
    # in finish order 0, 1, 3, 5, 6: only the ok #3 moves the hypervolume
    expected = [hypervolume([(100.0,)], box)] * 2 + [hypervolume([(50.0,)], box)] * 3
    assert [p.hypervolume for p in run.hypervolume_history()] == pytest.approx(expected)
    assert [c.id for c in run.front] == [3]


def test_show_prints_counts_front_history_and_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = _run_with_failures(tmp_path / "run")
    assert main(["show", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "evaluated 5: 2 ok, 3 failed; 2 children could not be made; 1 running" in out
    assert "duplicate of candidate N" in out and "#2, #4" in out
    assert "out of memory" in out and "#1, #5" in out
    assert main(["show", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in data["front"]] == [3]
    assert sum(f["count"] for f in data["failures"]) == 5
    assert data["counts"]["running"] == 1


def test_show_json_matches_the_run(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = load_run(trained)
    assert main(["show", str(trained), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(m["id"] for m in data["front"]) == [c.id for c in run.front]
    for member in data["front"]:
        c = run.candidate(member["id"])
        assert member["parent_id"] == c.parent_id and member["operator"] == c.operator
        assert member["objectives"] == {o.name: c.metrics[o.name] for o in run.objectives}
    assert data["hypervolume"][-1]["hypervolume"] == pytest.approx(run.hypervolume_history()[-1].hypervolume)
    assert main(["show", str(trained)]) == 0
    text = capsys.readouterr().out
    for c in run.front:
        assert f"#{c.id} " in text


@pytest.mark.parametrize("argv", [["show", "{tmp}/nowhere"], ["show", "{tmp}"], ["diff", "{tmp}", "1"]])
def test_show_and_diff_of_a_missing_run_exit_with_status_2(argv: list[str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


# -- comparing programs ------------------------------------------------------------------------------------


BLOCKS = """\
block unit(x, c: int) {
  y = relu(batchnorm(conv2d(x, c, k=3, p=1, bias=false)))
  return add(x, y)
}

model m(x: [4, 8, 8]) {
  h = unit(x, 4)
  h = unit(h, 4)
  return dense(flatten(h), 10)
}
"""

#: the second call's block copied, its relu replaced by a gelu (as splicing does)
BLOCKS_CHILD = """\
block unit(x, c: int) {
  y = relu(batchnorm(conv2d(x, c, k=3, p=1, bias=false)))
  return add(x, y)
}

block unit_m1(x, c: int) {
  y = gelu(batchnorm(conv2d(x, c, k=3, p=1, bias=false)))
  return add(x, y)
}

model m(x: [4, 8, 8]) {
  h = unit(x, 4)
  h = unit_m1(h, 4)
  return dense(flatten(h), 10)
}
"""


def _node(program, graph: str, op: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    g = program.model if graph == program.model.name else program.block(graph)
    return graph, next(n.id for n in g.nodes if n.op == op)


def test_a_block_copy_is_paired_with_its_original_and_only_the_replacement_is_new() -> None:
    old, new = parse(BLOCKS), parse(BLOCKS_CHILD)
    relu, gelu = _node(old, "unit", "relu"), _node(new, "unit_m1", "gelu")
    for change in (compare_programs(old, new), compare_programs(old, new, "unit", [relu])):
        assert change.pairs == {"m": "m", "unit": "unit", "unit_m1": "unit"}
        assert change.added == {gelu}
        assert change.removed == {relu}


def test_a_synthesized_op_equal_to_a_replaced_one_counts_as_new() -> None:
    """A mutation may re-synthesize an op it replaced; the record says so."""
    old = parse(BLOCKS)
    new = parse(BLOCKS_CHILD.replace("gelu(batchnorm(", "relu(identity("))
    replaced = [_node(old, "unit", "relu"), _node(old, "unit", "batchnorm")]
    change = compare_programs(old, new, "unit", replaced)
    assert change.added == {_node(new, "unit_m1", "relu"), _node(new, "unit_m1", "identity")}
    assert compare_programs(old, new).added == {_node(new, "unit_m1", "identity")}


def test_a_change_in_the_model_body_and_its_marked_text() -> None:
    old = parse(BLOCKS)
    text = BLOCKS.replace("dense(flatten(h), 10)", "dense(flatten(maxpool(h, 2)), 10)")
    new = parse(text)
    change = compare_programs(old, new)
    pool = _node(new, "m", "maxpool")
    assert change.added == {pool} and change.removed == set()
    marks = marked_columns(new, change.added)
    (line, cols), = marks.items()
    source = text.splitlines()[line - 1]
    assert "".join(source[c - 1] for c in sorted(cols)) == "maxpool(h, 2)"
    # a marked call that reads unmarked nested calls does not mark them
    outer = marked_columns(new, [_node(new, "m", "dense")])
    assert "".join(source[c - 1] for c in sorted(outer[line])) == "dense(, 10)"


# -- diffs of a run ------------------------------------------------------------------------------------------


def _mutated(run_dir: Path) -> list[Candidate]:
    run = load_run(run_dir)
    found = [c for c in run.candidates if c.operator == "property_mutation" and c.program is not None]
    assert found, "the test run made no property-guided mutation"
    return found


def test_the_diff_marks_the_record_region_and_exactly_the_synthesized_ops(trained: Path) -> None:
    run = load_run(trained)
    for c in _mutated(trained):
        d = diff_candidates(run, c.id)
        assert d.is_parent and d.region is not None
        assert d.old_marked == {(c.record["graph"], n) for n in c.record["region"]}
        replacement = parse(c.record["replacement"])
        new = run.program(c.id)
        added_ops = sorted(new.model.node(n).op if g == new.model.name else new.block(g).node(n).op
                           for g, n in d.new_marked)
        assert added_ops == sorted(n.op for n in replacement.model.nodes)
        text = render_diff(run, d)
        caret_lines = [line for line in text.splitlines() if line.startswith("?")]
        assert any(line.endswith("replaced region") for line in caret_lines)
        assert any(line.endswith("synthesized region") for line in caret_lines)
        before = c.record["before"]["resources"]["params"]
        after = c.record["after"]["resources"]["params"]
        assert f"{before:,}" in text and f"{after:,}" in text
        assert c.record["replacement"].splitlines()[0] in text


def test_the_diff_lines_rebuild_both_programs(trained: Path) -> None:
    """Every changed line is in the diff: applying it to the parent's text
    (the - and context lines) and the child's (+ and context) gives back the
    lines of each that the hunks cover."""
    run = load_run(trained)
    for c in _mutated(trained)[:3]:
        d = diff_candidates(run, c.id)
        old = run.candidate(c.parent_id).program.splitlines()  # type: ignore[union-attr, arg-type]
        new = c.program.splitlines()  # type: ignore[union-attr]
        minus = [line.text for line in d.lines if line.tag in " -"]
        plus = [line.text for line in d.lines if line.tag in " +"]
        assert all(t in old for t in minus) and all(t in new for t in plus)
        assert set(old) - set(new) <= set(minus) and set(new) - set(old) <= set(plus)


def test_diff_cli_text_json_and_against(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = _mutated(trained)[-1]
    assert main(["diff", str(trained), str(c.id)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"candidate #{c.id} against its parent #{c.parent_id}")
    assert main(["diff", str(trained), str(c.id), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["against"] == c.parent_id and data["against_is_parent"]
    assert {(m["graph"], m["node"]) for m in data["marked"]["replaced region"]} == {
        (c.record["graph"], n) for n in c.record["region"]}
    assert main(["diff", str(trained), str(c.id), "--against", "0"]) == 0
    out = capsys.readouterr().out
    assert "against candidate #0" in out or c.parent_id == 0


@pytest.mark.parametrize("argv,message", [
    (["{run}", "0"], "is the seed"),
    (["{run}", "999"], "has no candidate 999"),
    (["{run}", "1", "--against", "999"], "has no candidate 999"),
])
def test_diff_mistakes_exit_with_status_2(argv: list[str], message: str, trained: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", *(a.format(run=trained) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
