"""The training evaluator: real training on digits, metrics by their fixed
names, failures that come back instead of raising, weight inheritance,
checkpoints, and successive halving with continued training."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import alphanas
from alphanas.evaluation.data import DataSpec
from alphanas.evaluation.evaluator import METRICS, EvalContext, Evaluator, Fidelity
from alphanas.evaluation.train import TrainConfig, TrainState, score
from alphanas.evaluation.training import (
    STATE_FILE,
    TrainingEvaluator,
    cached_splits,
    inherit_weights,
    successive_halving,
)
from alphanas.pytorch import codegen

pytest.importorskip("sklearn")


PARENT = """\
block conv_bn_relu(x, c: int) {
  return relu(batchnorm(conv2d(x, c, k=3, p=1, bias=false)))
}
model digits_cnn(x: [1, 8, 8], classes: int = 10, width: int = 8) {
  h = conv_bn_relu(x, width)
  h = maxpool(conv_bn_relu(h, width * 2), 2)
  h = conv_bn_relu(h, width * 4)
  return dense(flatten(adaptive_avgpool(h, 1)), classes)
}
"""

#: the parent with its last block narrowed: the first two blocks and the
#: classifier's bias keep their names and shapes; the last block and the
#: classifier's weight change shape
CHILD = PARENT.replace("h = conv_bn_relu(h, width * 4)", "h = conv_bn_relu(h, width * 3)")

CONFIG = TrainConfig(lr=0.1, batch_size=64, device="cpu")  # CPU: bit-for-bit determinism
EVALUATOR = TrainingEvaluator(data=DataSpec("digits"), config=CONFIG)


@pytest.fixture(scope="module")
def digits():
    return cached_splits(DataSpec("digits"))


@pytest.fixture(scope="module")
def parent() -> alphanas.Program:
    return alphanas.parse(PARENT)


def test_it_is_a_picklable_evaluator() -> None:
    assert isinstance(EVALUATOR, Evaluator)
    assert pickle.loads(pickle.dumps(EVALUATOR)) == EVALUATOR


def test_training_reports_the_named_metrics(parent, digits) -> None:
    evaluator = TrainingEvaluator(config=CONFIG, latency=True, latency_batch=32, latency_repeats=3, memory=True)
    result = evaluator.evaluate(parent, Fidelity(epochs=3), EvalContext(seed=0))
    assert result.ok and result.reason is None and result.checkpoint is None
    m = result.metrics
    assert set(METRICS) <= set(m)
    assert {"train_loss", "epochs", "steps", "val_loss", "test_loss"} <= set(m)
    assert m["accuracy"] > 0.8 and 0 <= m["test_accuracy"] <= 1
    assert m["params"] == alphanas.analyze(parent).total.params
    assert m["epochs"] == pytest.approx(3.0)
    assert m["latency_ms"] > 0 and m["latency_batch_ms"] > 0 and m["peak_memory_mb"] > 0
    assert result.seconds > 0
    plain = EVALUATOR.evaluate(parent, Fidelity(steps=2), EvalContext(seed=0))
    assert not {"latency_ms", "latency_batch_ms", "peak_memory_mb", "inherited_fraction"} & set(plain.metrics)


def test_same_seed_gives_identical_metrics(parent) -> None:
    a = EVALUATOR.evaluate(parent, Fidelity(epochs=1), EvalContext(seed=3))
    b = EVALUATOR.evaluate(parent, Fidelity(epochs=1), EvalContext(seed=3))
    c = EVALUATOR.evaluate(parent, Fidelity(epochs=1), EvalContext(seed=4))
    assert a.metrics == b.metrics
    assert a.metrics["train_loss"] != c.metrics["train_loss"]


# -- failures come back, never raise -------------------------------------------------------------


def test_a_nan_loss_is_a_failed_evaluation(parent) -> None:
    exploding = TrainingEvaluator(config=TrainConfig(lr=1e20, batch_size=64, weight_decay=0.0, device="cpu"))
    result = exploding.evaluate(parent, Fidelity(epochs=2), EvalContext(seed=0))
    assert result.status == "failed"
    assert result.reason is not None and result.reason.startswith("nan loss at step ")
    assert result.metrics["params"] == alphanas.analyze(parent).total.params  # known before training
    assert "accuracy" not in result.metrics


def test_a_candidate_that_raises_is_a_failed_evaluation(parent, monkeypatch) -> None:
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom in forward")

    monkeypatch.setattr(codegen, "build", lambda program, instance=None: Broken())
    result = EVALUATOR.evaluate(parent, Fidelity(epochs=1), EvalContext(seed=0))
    assert result.status == "failed" and result.reason == "RuntimeError: boom in forward"
    assert "params" in result.metrics


def test_a_model_that_does_not_fit_the_data_is_a_failed_evaluation() -> None:
    wrong_input = alphanas.parse("model m(x: [3, 8, 8]) {\n  return dense(flatten(x), 10)\n}\n")
    result = EVALUATOR.evaluate(wrong_input, Fidelity(epochs=1), EvalContext())
    assert result.status == "failed" and "[3, 8, 8]" in (result.reason or "") and "[1, 8, 8]" in (result.reason or "")
    wrong_classes = alphanas.parse("model m(x: [1, 8, 8]) {\n  return dense(flatten(x), 7)\n}\n")
    result = EVALUATOR.evaluate(wrong_classes, Fidelity(epochs=1), EvalContext())
    assert result.status == "failed" and "10 classes" in (result.reason or "")


def test_a_time_limit_is_a_failed_evaluation(parent) -> None:
    result = EVALUATOR.evaluate(parent, Fidelity(epochs=100), EvalContext(seed=0, time_limit=0.01))
    assert result.status == "failed"
    assert result.reason is not None and result.reason.startswith("time limit 0.01 s exceeded after ")
    assert result.metrics["steps"] < 100 * 19
    assert result.seconds < 30


def test_out_of_memory_is_a_failed_evaluation(parent, monkeypatch) -> None:
    class Huge(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Linear(1, 1)

        def forward(self, x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(codegen, "build", lambda program, instance=None: Huge())
    result = EVALUATOR.evaluate(parent, Fidelity(epochs=1), EvalContext(seed=0))
    assert result.status == "failed" and result.reason == "out of memory"


def test_a_bad_data_spec_fails_every_candidate_with_its_reason(parent, tmp_path: Path) -> None:
    evaluator = TrainingEvaluator(data=DataSpec("imagefolder", root=tmp_path / "missing"), config=CONFIG)
    result = evaluator.evaluate(parent, Fidelity(epochs=1), EvalContext())
    assert result.status == "failed" and "is not a folder" in (result.reason or "")


# -- inheritance and checkpoints -----------------------------------------------------------------


def test_weights_are_inherited_where_names_and_shapes_match(parent, tmp_path: Path) -> None:
    trained = EVALUATOR.evaluate(parent, Fidelity(epochs=1), EvalContext(seed=0, workdir=tmp_path / "parent"))
    assert trained.ok and trained.checkpoint == tmp_path / "parent" / "weights.pt"
    parent_weights = torch.load(trained.checkpoint, weights_only=True)

    child = alphanas.parse(CHILD)
    torch.manual_seed(0)
    model = codegen.build(child)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    fraction = inherit_weights(model, trained.checkpoint)
    copied, kept = 0, 0
    for key, value in model.state_dict().items():
        if key in parent_weights and parent_weights[key].shape == value.shape:
            assert torch.equal(value, parent_weights[key]), key
            copied += 1
        else:
            assert torch.equal(value, fresh[key]), key
            kept += 1
    assert copied and kept  # both kinds occur in this child
    params = dict(model.named_parameters())
    expected = sum(p.numel() for k, p in params.items() if parent_weights.get(k, torch.empty(0)).shape == p.shape)
    assert fraction == pytest.approx(expected / sum(p.numel() for p in params.values()))
    assert 0 < fraction < 1

    result = EVALUATOR.evaluate(child, Fidelity(epochs=1), EvalContext(seed=0, parent_checkpoint=trained.checkpoint))
    assert result.ok and result.metrics["inherited_fraction"] == pytest.approx(fraction)
    off = TrainingEvaluator(config=CONFIG, inherit=False)
    result = off.evaluate(child, Fidelity(epochs=1), EvalContext(seed=0, parent_checkpoint=trained.checkpoint))
    assert "inherited_fraction" not in result.metrics


def test_a_missing_parent_checkpoint_is_a_failed_evaluation(parent, tmp_path: Path) -> None:
    result = EVALUATOR.evaluate(parent, Fidelity(epochs=1), EvalContext(parent_checkpoint=tmp_path / "none.pt"))
    assert result.status == "failed" and "none.pt" in (result.reason or "")


def test_the_checkpoint_reproduces_the_test_accuracy(parent, digits, tmp_path: Path) -> None:
    result = EVALUATOR.evaluate(parent, Fidelity(epochs=2), EvalContext(seed=1, workdir=tmp_path / "w"))
    assert result.ok and result.checkpoint is not None and result.checkpoint.is_file()
    assert (tmp_path / "w" / STATE_FILE).is_file()
    model = codegen.build(parent)
    model.load_state_dict(torch.load(result.checkpoint, weights_only=True))
    accuracy, loss = score(model, digits.test, digits)
    assert accuracy == result.metrics["test_accuracy"]
    assert loss == pytest.approx(result.metrics["test_loss"])


# -- successive halving --------------------------------------------------------------------------


def test_successive_halving_keeps_the_best_and_continues_them(tmp_path: Path) -> None:
    widths = (1, 2, 4, 8)
    programs = [alphanas.parse(PARENT).with_model_params(width=w) for w in widths]
    rungs = [Fidelity(epochs=1), Fidelity(epochs=2)]
    results = successive_halving(programs, EVALUATOR, rungs, eta=2, workdir=tmp_path, seed=0)
    assert [r.program for r in results] == programs
    promoted = [r for r in results if r.rung == 1]
    assert len(promoted) == 2  # the top 1/eta of four
    stayed = [r for r in results if r.rung == 0]
    assert all(r.evaluation.metrics["epochs"] == pytest.approx(1.0) for r in stayed)
    assert all(r.evaluation.metrics["epochs"] == pytest.approx(2.0) for r in promoted)
    # continuing from the saved state equals training straight to the last rung
    # under the same schedule (the horizon successive halving gave the evaluator)
    straight = TrainingEvaluator(config=TrainConfig(lr=0.1, batch_size=64, epochs=2, device="cpu"))
    for r in promoted:
        assert TrainState.load(r.workdir / STATE_FILE).step == 2 * 19
        direct = straight.evaluate(r.program, Fidelity(epochs=2), EvalContext(seed=0))
        assert direct.metrics["accuracy"] == r.evaluation.metrics["accuracy"]
        assert direct.metrics["train_loss"] == r.evaluation.metrics["train_loss"]


def test_successive_halving_promotes_by_accuracy_and_never_a_failure(tmp_path: Path) -> None:
    class Scripted:
        """Scores from a table, so that the ranking is known; "bad" fails."""

        def __init__(self) -> None:
            self.calls: list[tuple[str, int]] = []

        def evaluate(self, program, fidelity, context):
            from alphanas.evaluation.evaluator import Evaluation, failed

            name = program.model.name
            self.calls.append((name, fidelity.rung))
            if name == "bad":
                return failed("broken")
            accuracy = {"a": 0.5, "b": 0.9, "c": 0.7, "d": 0.2, "e": 0.1}[name] + fidelity.rung
            return Evaluation("ok", {"accuracy": accuracy})

    programs = [alphanas.parse(f"model {n}(x: [1, 8, 8]) {{\n  return dense(flatten(x), 10)\n}}\n")
                for n in ("a", "bad", "b", "c", "d", "e")]
    scripted = Scripted()
    results = successive_halving(programs, scripted, [Fidelity(steps=1), Fidelity(steps=2), Fidelity(steps=4)],
                                 eta=3, workdir=tmp_path)
    assert [r.rung for r in results] == [0, 0, 2, 1, 0, 0]
    assert results[2].evaluation.metrics["accuracy"] == pytest.approx(2.9)
    assert ("bad", 1) not in scripted.calls
    with pytest.raises(ValueError, match="eta"):
        successive_halving(programs, scripted, [Fidelity(steps=1)], eta=1, workdir=tmp_path)


def test_a_state_of_another_program_is_not_continued(parent, tmp_path: Path) -> None:
    first = EVALUATOR.evaluate(parent, Fidelity(epochs=1), EvalContext(seed=0, workdir=tmp_path))
    assert first.ok
    other = parent.with_model_params(width=4)
    result = EVALUATOR.evaluate(other, Fidelity(epochs=2, rung=1), EvalContext(seed=0, workdir=tmp_path))
    assert result.status == "failed" and "another program" in (result.reason or "")
