"""The training loop: it learns, it is deterministic, it continues exactly,
and it stops bad candidates with a specific reason. Also the measured metrics."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from inspect_runs import SEED_PROGRAM as DIGITS_CNN
from torch import nn

import alphanas
from alphanas.evaluation import metrics
from alphanas.evaluation.data import DataSpec
from alphanas.evaluation.evaluator import Fidelity
from alphanas.evaluation.train import (
    NonFiniteLoss,
    OutOfMemory,
    TimeLimitExceeded,
    TrainConfig,
    is_out_of_memory,
    learning_rate,
    score,
    train,
)
from alphanas.evaluation.training import cached_splits
from alphanas.lang.errors import AlphanasError
from alphanas.pytorch.codegen import build

pytest.importorskip("sklearn")



#: with dropout, so that determinism covers the global RNG too
DIGITS_MLP = """\
model digits_mlp(x: [1, 8, 8]) {
  h = relu(dense(flatten(x), 64))
  return dense(dropout(h, p=0.2), 10)
}
"""

FAST = TrainConfig(lr=0.1, batch_size=64, device="cpu")  # CPU: bit-for-bit determinism


@pytest.fixture(scope="module")
def digits():
    return cached_splits(DataSpec("digits"))


def _model(text: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build(alphanas.parse(text))


def test_a_small_cnn_learns_digits_in_a_few_epochs(digits) -> None:
    # (a few seconds on two cores; the suite asserts no times)
    result = train(_model(DIGITS_CNN), digits, FAST, Fidelity(epochs=5), seed=0)
    assert result.val_accuracy > 0.85  # chance is 0.1
    assert result.test_accuracy > 0.85
    assert result.steps == 5 * (1257 // 64) and result.epochs == pytest.approx(5.0)
    assert result.train_loss < 1.0 and result.val_loss < 1.0
    assert result.train_seconds <= result.seconds


def test_same_seed_same_numbers_other_seed_other_numbers(digits) -> None:
    config = TrainConfig(lr=0.05, batch_size=64, device="cpu")
    a = train(_model(DIGITS_MLP), digits, config, Fidelity(epochs=2), seed=5)
    b = train(_model(DIGITS_MLP), digits, config, Fidelity(epochs=2), seed=5)
    c = train(_model(DIGITS_MLP), digits, config, Fidelity(epochs=2), seed=6)
    assert (a.val_accuracy, a.train_loss, a.test_loss) == (b.val_accuracy, b.train_loss, b.test_loss)
    assert all(torch.equal(a.state.model[k], b.state.model[k]) for k in a.state.model)
    assert a.train_loss != c.train_loss


def test_continuing_a_state_equals_training_straight_through(digits) -> None:
    config = TrainConfig(lr=0.05, batch_size=64, device="cpu", epochs=2, warmup_epochs=0.5)
    straight = train(_model(DIGITS_MLP), digits, config, Fidelity(epochs=2), seed=1)
    first = train(_model(DIGITS_MLP), digits, config, Fidelity(epochs=0.7), seed=1)  # stops mid-epoch
    assert first.steps == math.ceil(0.7 * 19) and first.state.step == first.steps
    second = train(_model(DIGITS_MLP, seed=99), digits, config, Fidelity(epochs=2), seed=1, start_state=first.state)
    assert second.steps == straight.steps and second.epochs == pytest.approx(2.0)
    for key, value in straight.state.model.items():
        assert torch.equal(value, second.state.model[key]), key
    assert second.val_accuracy == straight.val_accuracy


def test_a_state_continues_only_its_own_schedule(digits) -> None:
    config = TrainConfig(lr=0.05, batch_size=64, device="cpu", epochs=2)
    first = train(_model(DIGITS_MLP), digits, config, Fidelity(epochs=1), seed=1)
    with pytest.raises(AlphanasError, match="schedule steps"):
        train(_model(DIGITS_MLP), digits, TrainConfig(lr=0.05, batch_size=64, device="cpu", epochs=3), Fidelity(epochs=2),
              seed=1, start_state=first.state)
    with pytest.raises(AlphanasError, match="seed"):
        train(_model(DIGITS_MLP), digits, config, Fidelity(epochs=2), seed=2, start_state=first.state)
    with pytest.raises(AlphanasError, match="schedule spans"):
        train(_model(DIGITS_MLP), digits, config, Fidelity(epochs=3), seed=1)
    with pytest.raises(AlphanasError, match="no training budget"):
        train(_model(DIGITS_MLP), digits, TrainConfig(device="cpu"), None)


def test_steps_cap_the_budget(digits) -> None:
    result = train(_model(DIGITS_MLP), digits, TrainConfig(batch_size=64, device="cpu"), Fidelity(epochs=5, steps=7))
    assert result.steps == 7 and result.epochs == pytest.approx(7 / 19)


def test_a_huge_learning_rate_stops_at_the_nan(digits) -> None:
    with pytest.raises(NonFiniteLoss, match=r"^nan loss at step \d+") as err:
        train(_model(DIGITS_CNN), digits, TrainConfig(lr=1e20, batch_size=64, device="cpu", weight_decay=0.0), Fidelity(epochs=3))
    assert 1 <= err.value.steps < 10
    # checked every 5 steps, the NaN is still reported at the step it happened
    with pytest.raises(NonFiniteLoss) as late:
        train(_model(DIGITS_CNN), digits, TrainConfig(lr=1e20, batch_size=64, device="cpu", weight_decay=0.0, check_every=5),
              Fidelity(epochs=3))
    assert late.value.steps == err.value.steps


def test_the_time_limit_is_checked_between_steps(digits) -> None:
    with pytest.raises(TimeLimitExceeded, match=r"^time limit 0.0 s exceeded after 0 steps$"):
        train(_model(DIGITS_CNN), digits, FAST, Fidelity(epochs=50), time_limit=0.0)
    with pytest.raises(TimeLimitExceeded, match=r"time limit 0.05 s exceeded after [1-9]\d* steps"):
        train(_model(DIGITS_CNN), digits, FAST, Fidelity(epochs=50), time_limit=0.05)


class _Exhausting(nn.Module):
    """Stands in for a model too large for the device: its forward fails
    as the allocator does."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.dense = nn.Linear(64, 10)
        self.error = error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.error


def test_running_out_of_memory_is_reported_as_such(digits) -> None:
    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
    for error in (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), cpu):
        with pytest.raises(OutOfMemory, match=r"^out of memory$"):
            train(_Exhausting(error), digits, FAST, Fidelity(steps=2))
    with pytest.raises(RuntimeError, match="something else"):
        train(_Exhausting(RuntimeError("something else")), digits, FAST, Fidelity(steps=2))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_learning_rate_warms_up_then_follows_the_cosine() -> None:
    config = TrainConfig(lr=0.1, warmup_epochs=1)
    rates = [learning_rate(config, s, 110, 10) for s in range(110)]
    assert rates[0] == pytest.approx(0.01) and rates[9] == pytest.approx(0.1)
    assert rates[10] == pytest.approx(0.1) and rates[60] == pytest.approx(0.05)
    assert all(a >= b for a, b in itertools.pairwise(rates[9:])) and rates[-1] < 1e-4
    assert learning_rate(TrainConfig(lr=0.1, cosine=False), 50, 100, 10) == 0.1


def test_score_matches_a_direct_count_and_keeps_the_mode(digits) -> None:
    model = _model(DIGITS_MLP)
    model.train()
    accuracy, loss = score(model, digits.test, digits, batch_size=100)
    assert model.training
    model.eval()
    with torch.no_grad():
        x = (digits.test.x - digits.mean.view(1, -1, 1, 1)) / digits.std.view(1, -1, 1, 1)
        logits = model(x)
    assert accuracy == pytest.approx((logits.argmax(1) == digits.test.y).float().mean().item())
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, digits.test.y).item(), rel=1e-5)


def test_config_mistakes_are_explained() -> None:
    with pytest.raises(AlphanasError, match="unknown optimizer"):
        TrainConfig(optimizer="lion")  # type: ignore[arg-type]
    with pytest.raises(AlphanasError, match="lr"):
        TrainConfig(lr=0)
    with pytest.raises(AlphanasError, match="epochs"):
        TrainConfig(epochs=-1)


# -- measured metrics ----------------------------------------------------------------------------


def test_peak_memory_on_cpu_counts_weights_gradients_input_and_saved_tensors() -> None:
    model = nn.Linear(4, 3, bias=False)  # 12 weights
    # weights 48 B + gradients 48 B + input 2x4 floats 32 B + the output the loss saves 2x3 floats 24 B
    assert metrics.peak_memory_mb(model, (4,), batch=2) * 1024 * 1024 == pytest.approx(152)
    assert model.weight.grad is None and model.training


def test_peak_memory_grows_with_the_batch_and_leaves_the_model_alone() -> None:
    model = _model(DIGITS_CNN)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small = metrics.peak_memory_mb(model, (1, 8, 8), batch=8)
    large = metrics.peak_memory_mb(model, (1, 8, 8), batch=64)
    assert 0 < small < large
    assert not model.training
    # the measured step moved neither weights nor batch-norm statistics
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_latency_is_a_positive_median_and_restores_the_mode() -> None:
    model = _model(DIGITS_CNN)
    model.train()
    state = torch.random.get_rng_state()
    ms = metrics.latency_ms(model, (1, 8, 8), batch=4, repeats=5, warmup=1)
    assert 0 < ms < 1000
    assert model.training
    assert torch.equal(state, torch.random.get_rng_state())  # measuring draws nothing from the global RNG
    with pytest.raises(ValueError):
        metrics.latency_ms(model, (1, 8, 8), repeats=0)


# -- the benchmark -------------------------------------------------------------------------------


def test_the_training_benchmark_runs_and_reports_a_ratio(tmp_path, capsys) -> None:
    import json

    from alphanas.bench import BENCHMARKS, run_benchmark

    assert "training" in BENCHMARKS
    out = tmp_path / "training.json"
    argv = ["--width", "2", "--batch", "4", "--steps", "2", "--repeats", "1", "--device", "cpu", "--json", str(out)]
    assert run_benchmark("training", argv) == 0
    report = json.loads(out.read_text())
    assert report["images_per_run"] == 8 and report["ratio"] > 0
    assert report["plain"]["images_per_s"] > 0 and report["alphanas"]["images_per_s"] > 0
    assert "ratio alphanas/plain" in capsys.readouterr().out
