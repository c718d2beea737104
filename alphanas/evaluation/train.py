"""Training a candidate: one plain, seeded loop over in-memory tensors.

:func:`train` runs SGD or AdamW with a cosine schedule (and optional linear
warm-up) on :class:`alphanas.evaluation.data.Splits`, then scores the model on the
validation and test splits. It is the loop every candidate of a search goes
through, so it is kept as lean as a hand-written PyTorch loop (``alphanas
bench training`` measures the difference) and guarded so that a bad
candidate stops early with a reason instead of wasting its budget:

- a non-finite loss raises :class:`NonFiniteLoss` ("nan loss at step N");
- the wall-clock limit, checked between steps, raises
  :class:`TimeLimitExceeded`;
- running out of memory (CUDA or CPU allocator) raises :class:`OutOfMemory`.

All three are :class:`TrainingFailed`, which the evaluator turns into a failed
evaluation.

**Budget and schedule.** The learning-rate schedule spans the *horizon*: the
budget of the :class:`TrainConfig` (``epochs``/``steps``) when it sets one,
else the budget of the :class:`~alphanas.evaluation.evaluator.Fidelity`. Training stops
at the fidelity's budget, which may be less than the horizon: successive
halving sets the horizon to its last rung, trains every candidate to the first
rung, and continues the survivors from their :class:`TrainState`, so that a
continued run follows exactly the schedule (and, on CPU, the very numbers) of
an uninterrupted one.

**Randomness.** Everything random flows from ``seed``: the batch order of
epoch ``e`` from a generator seeded by ``(seed, e)``, augmentation and the
global RNG (dropout, stochastic depth) reseeded by ``(seed, step)`` at every
step. Resuming at any step therefore draws what the uninterrupted run draws.
Model initialisation is the caller's (seed ``torch.manual_seed`` before
building).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from alphanas.evaluation.data import Split, Splits, prepare_batch
from alphanas.evaluation.evaluator import Fidelity
from alphanas.lang.errors import AlphanasError

__all__ = [
    "NonFiniteLoss",
    "OutOfMemory",
    "TimeLimitExceeded",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "TrainingFailed",
    "is_out_of_memory",
    "learning_rate",
    "make_optimizer",
    "on_device",
    "resolve_device",
    "score",
    "set_threads",
    "steps_per_epoch",
    "train",
    "uses_channels_last",
]


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``epochs``/``steps`` set the schedule's horizon (see
    the module docstring; None for both: the fidelity's budget is the
    horizon). ``warmup_epochs`` of linear warm-up precede the cosine decay
    to zero (``cosine=False``: constant rate after warm-up). Weight decay
    applies to weights of two or more dimensions only, not to biases and
    normalisation scales, which it would only pull towards zero.

    ``channels_last``: "auto" uses it for convolutional models on CUDA only.
    On CPU it is off unless asked for, although with torch 2.11–2.14 it
    measured 15–36% faster per training step for ResNet-18 (CIFAR stem) and
    the digits CNN (``alphanas bench training --channels-last on``).
    ``threads``: intra-op threads (None: every CPU this process may use).
    ``check_every``: how often (in steps) the loss is checked for NaN/Inf
    (None: every step on the CPU, where a check costs nothing, every 20 on
    a GPU, where each check waits for the device and would stop the host
    from queueing the next step; a NaN is then noticed a few steps late, but
    reported at the step where it happened).
    """

    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    batch_size: int = 128
    epochs: float | None = None
    steps: int | None = None
    cosine: bool = True
    warmup_epochs: float = 0.0
    grad_clip: float | None = None
    channels_last: bool | Literal["auto"] = "auto"
    threads: int | None = None
    device: str = "auto"
    eval_batch_size: int = 1024
    check_every: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adamw"):
            raise AlphanasError(f"unknown optimizer {self.optimizer!r}", hint='use "sgd" or "adamw"')
        positive = {"lr": self.lr, "batch_size": self.batch_size, "eval_batch_size": self.eval_batch_size}
        for name, value in positive.items():
            if not value > 0:
                raise AlphanasError(f"{name}={value} must be positive")
        for name, value in {"epochs": self.epochs, "steps": self.steps, "threads": self.threads,
                            "grad_clip": self.grad_clip, "check_every": self.check_every}.items():
            if value is not None and not value > 0:
                raise AlphanasError(f"{name}={value} must be positive (or None)")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or not 0 <= self.label_smoothing < 1:
            raise AlphanasError("weight_decay and warmup_epochs must be >= 0, label_smoothing in [0, 1)")
        if self.channels_last not in (True, False, "auto"):
            raise AlphanasError(f"channels_last={self.channels_last!r} must be true, false or \"auto\"")


# -- failures ------------------------------------------------------------------------------------


class TrainingFailed(Exception):
    """A candidate's training stopped; ``reason`` says why, ``steps`` how far it got."""

    def __init__(self, reason: str, steps: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.steps = steps


class NonFiniteLoss(TrainingFailed):
    """The loss became NaN or infinite."""


class TimeLimitExceeded(TrainingFailed):
    """The wall-clock limit passed (checked between steps)."""


class OutOfMemory(TrainingFailed):
    """The device (or the CPU allocator) ran out of memory."""


def is_out_of_memory(err: BaseException) -> bool:
    """Whether an exception is the allocator's: CUDA's own error type, or
    the RuntimeError text of CUDA and of the CPU allocator."""
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


# -- state and result ----------------------------------------------------------------------------


@dataclass
class TrainState:
    """Everything needed to continue training: the weights, the optimizer's
    buffers, the step reached and the schedule it belongs to (``total_steps``
    of the horizon, ``steps_per_epoch``, ``seed``). Tensors are CPU copies,
    independent of the model that goes on training."""

    model: dict[str, Tensor]
    optimizer: dict[str, Any]
    step: int
    total_steps: int
    steps_per_epoch: int
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        torch.save(
            {"model": self.model, "optimizer": self.optimizer, "step": self.step, "total_steps": self.total_steps,
             "steps_per_epoch": self.steps_per_epoch, "seed": self.seed, "extra": self.extra},
            path,
        )

    @classmethod
    def load(cls, path: str | Path) -> TrainState:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return cls(**data)

    @property
    def epochs(self) -> float:
        return self.step / self.steps_per_epoch


@dataclass(frozen=True)
class TrainResult:
    """What a training run measured. ``epochs``/``steps`` count from the
    start of the schedule (a continued run includes what it continued);
    ``seconds`` is this call's wall time, ``train_seconds`` its step loop
    alone; ``train_loss`` is the mean loss of the last epoch's steps (of this
    call)."""

    val_accuracy: float
    val_loss: float
    test_accuracy: float
    test_loss: float
    train_loss: float
    epochs: float
    steps: int
    seconds: float
    train_seconds: float
    state: TrainState = field(repr=False)


# -- helpers -------------------------------------------------------------------------------------


def resolve_device(device: str) -> torch.device:
    """"auto": CUDA when there is a GPU, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None: every CPU this process may run
    on, by its affinity mask, which is what containers and ``taskset``
    restrict). Returns the number set."""
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches per pass over ``n`` samples: a last partial batch is
    dropped (a batch of one would break batch norm), and a set smaller than
    one batch is one batch."""
    return max(1, n // batch_size)


def _budget(epochs: float | None, steps: int | None, per_epoch: int) -> int | None:
    """Steps of a budget given in epochs and/or steps (whichever ends first)."""
    limits = []
    if epochs is not None:
        # 0 epochs: score only (a seed from its trained weights); any other budget takes a step at least
        limits.append(0 if epochs == 0 else max(1, math.ceil(epochs * per_epoch - 1e-9)))
    if steps is not None:
        limits.append(int(steps))
    return min(limits) if limits else None


def learning_rate(config: TrainConfig, step: int, total_steps: int, per_epoch: int) -> float:
    """The rate of step ``step`` (0-based) of a schedule of ``total_steps``:
    linear warm-up from ``lr / warmup`` to ``lr``, then cosine to zero."""
    warmup = min(total_steps, round(config.warmup_epochs * per_epoch))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if not config.cosine:
        return config.lr
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, config: TrainConfig,
                   lr_scales: Mapping[str, float] | None = None) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov) or AdamW; no weight decay on 1-d tensors.
    ``lr_scales``: a factor on the learning rate per parameter name (a group
    per distinct factor, its ``lr_scale``; parameters at factor 0 are left out)."""
    scales = lr_scales or {}
    keyed: dict[tuple[bool, float], list[nn.Parameter]] = {(True, 1.0): [], (False, 1.0): []}
    for name, p in model.named_parameters():
        scale = float(scales.get(name, 1.0))
        if p.requires_grad and scale > 0:
            keyed.setdefault((p.ndim > 1, scale), []).append(p)
    groups = [{"params": ps, "weight_decay": config.weight_decay if decays else 0.0, "lr_scale": scale}
              for (decays, scale), ps in sorted(keyed.items(), key=lambda kv: (not kv[0][0], kv[0][1]))]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                           nesterov=config.nesterov and config.momentum > 0)


def _mix(seed: int, stream: int, index: int) -> int:
    """A seed for draw ``index`` of purpose ``stream`` (distinct streams,
    distinct seeds), within the 63 bits torch accepts."""
    return ((seed * 1_000_003 + stream) * 1_000_000_007 + index) % (2**63 - 1)


def uses_channels_last(model: nn.Module, config: TrainConfig, device: torch.device) -> bool:
    if config.channels_last == "auto":
        return device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules())
    return bool(config.channels_last)


# -- scoring -------------------------------------------------------------------------------------


def score(
    model: nn.Module,
    split: Split,
    splits: Splits,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    channels_last: bool = False,
) -> tuple[float, float]:
    """Accuracy in [0, 1] and mean cross-entropy (no label smoothing) of a
    model on a split, in evaluation mode. The model's training mode is
    restored afterwards."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    splits = on_device(splits, device)
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    with torch.inference_mode():
        for start in range(0, len(split), batch_size):
            x = prepare_batch(split.x[start : start + batch_size].to(device), splits)
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            y = split.y[start : start + batch_size].to(device)
            logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
    model.train(was_training)
    n = max(1, len(split))
    return correct.item() / n, loss_sum.item() / n


def on_device(splits: Splits, device: torch.device) -> Splits:
    """The splits with their normalisation on ``device``, so that preparing
    a batch copies nothing from the host (a copy from pageable host memory
    would wait for the GPU at every step). The images stay where they are."""
    if splits.mean is None or splits.std is None or splits.mean.device == device:
        return splits
    return dataclasses.replace(splits, mean=splits.mean.to(device), std=splits.std.to(device))


# -- the loop ------------------------------------------------------------------------------------


def train(
    model: nn.Module,
    splits: Splits,
    config: TrainConfig,
    fidelity: Fidelity | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    start_state: TrainState | None = None,
    *,
    lr_scales: Mapping[str, float] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``splits.train`` up to the fidelity's
    budget (None: the config's), continuing ``start_state`` when given, then
    score it on the validation and test splits. Raises
    :class:`TrainingFailed` subclasses for a NaN loss, the time limit
    (seconds from this call's start) or running out of memory.
    ``lr_scales``: a factor on the learning rate per parameter name (weight
    inheritance trains inherited and fresh parameters at different rates).
    A budget of 0 epochs or steps only scores the model."""
    start = time.perf_counter()
    device = resolve_device(config.device)
    set_threads(config.threads)
    per_epoch = steps_per_epoch(len(splits.train), config.batch_size)
    total, target = _plan(config, fidelity, per_epoch)
    try:
        model.to(device)
        channels_last = uses_channels_last(model, config, device)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(model, config, lr_scales)
        step = _resume(model, optimizer, start_state, total, per_epoch, seed, target)
        first = step
        loop_start = time.perf_counter()
        losses = _run_steps(model, optimizer, splits, config, device, channels_last, seed, step, target, total,
                            per_epoch, start, time_limit)
        train_seconds = time.perf_counter() - loop_start
        step = target
        val = score(model, splits.val, splits, config.eval_batch_size, device, channels_last)
        test = score(model, splits.test, splits, config.eval_batch_size, device, channels_last)
    except TrainingFailed:
        raise
    except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
        if is_out_of_memory(err):
            if device.type == "cuda":
                torch.cuda.empty_cache()
            raise OutOfMemory("out of memory", 0) from err
        raise
    state = TrainState(
        model={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        optimizer=_cpu_copy(optimizer.state_dict()),
        step=step,
        total_steps=total,
        steps_per_epoch=per_epoch,
        seed=seed,
    )
    return TrainResult(
        val_accuracy=val[0],
        val_loss=val[1],
        test_accuracy=test[0],
        test_loss=test[1],
        train_loss=losses if step > first else float("nan"),
        epochs=step / per_epoch,
        steps=step,
        seconds=time.perf_counter() - start,
        train_seconds=train_seconds,
        state=state,
    )


def _plan(config: TrainConfig, fidelity: Fidelity | None, per_epoch: int) -> tuple[int, int]:
    """(horizon, target) in steps: the schedule's length and where to stop."""
    horizon = _budget(config.epochs, config.steps, per_epoch)
    wanted = _budget(fidelity.epochs, fidelity.steps, per_epoch) if fidelity is not None else None
    if horizon is None and wanted is None:
        raise AlphanasError(
            "no training budget: neither the config nor the fidelity sets epochs or steps",
            hint="set TrainConfig(epochs=...) or pass Fidelity(epochs=...)",
        )
    horizon = horizon if horizon is not None else wanted
    target = wanted if wanted is not None else horizon
    assert horizon is not None and target is not None
    if target > horizon:
        raise AlphanasError(
            f"the fidelity asks for {target} steps but the schedule spans {horizon}",
            hint="set TrainConfig.epochs to the largest budget (the last rung) so that every fidelity fits in it",
        )
    return horizon, target


def _resume(model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainState | None, total: int,
            per_epoch: int, seed: int, target: int) -> int:
    """Load a state to continue from; the step it reached. A state of another
    schedule cannot be continued: its learning rates would not line up."""
    if state is None:
        return 0
    mismatch = [
        f"{name} {mine} != {theirs}"
        for name, mine, theirs in (("schedule steps", total, state.total_steps),
                                   ("steps per epoch", per_epoch, state.steps_per_epoch), ("seed", seed, state.seed))
        if mine != theirs
    ]
    if mismatch:
        raise AlphanasError(f"cannot continue this training state: {', '.join(mismatch)}",
                            hint="continue with the config, data and seed the state was trained with")
    if state.step > target:
        raise AlphanasError(f"the state is at step {state.step}, past the requested budget of {target} steps")
    model.load_state_dict(state.model)
    optimizer.load_state_dict(state.optimizer)
    return state.step


def _cpu_copy(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu_copy(v) for v in obj]
    return copy.copy(obj)


def _run_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    splits: Splits,
    config: TrainConfig,
    device: torch.device,
    channels_last: bool,
    seed: int,
    step: int,
    target: int,
    total: int,
    per_epoch: int,
    start: float,
    time_limit: float | None,
) -> float:
    """Steps ``step`` .. ``target - 1``; the mean loss of the last epoch's
    worth of them."""
    splits = on_device(splits, device)
    x_all, y_all = splits.train.x.to(device), splits.train.y.to(device)
    batch = min(config.batch_size, len(y_all))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    aug = torch.Generator(device=device)
    check_every = config.check_every or (1 if device.type == "cpu" else 20)
    recent: deque[Tensor] = deque(maxlen=per_epoch)
    pending: list[Tensor] = []
    order, order_epoch = None, -1
    model.train()
    while step < target:
        if time_limit is not None and time.perf_counter() - start > time_limit:
            raise TimeLimitExceeded(f"time limit {float(time_limit)} s exceeded after {step} steps", step)
        epoch, position = divmod(step, per_epoch)
        if epoch != order_epoch:
            order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(_mix(seed, 1, epoch)))
            order, order_epoch = order.to(device), epoch
        assert order is not None
        rows = order[position * batch : (position + 1) * batch]
        _seed_global(_mix(seed, 2, step), device)  # dropout and stochastic depth
        if splits.augment:
            aug.manual_seed(_mix(seed, 3, step))
        x = prepare_batch(x_all[rows], splits, aug, train=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step, total, per_epoch) * group.get("lr_scale", 1.0)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y_all[rows])
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        detached = loss.detach()
        recent.append(detached)
        pending.append(detached)
        if len(pending) >= check_every or step == target:
            _check_finite(pending, step)
            pending = []
    return torch.stack(list(recent)).float().mean().item() if recent else float("nan")


def _seed_global(seed: int, device: torch.device) -> None:
    """Seed the global generator that random ops (dropout) on ``device``
    draw from. Not ``torch.manual_seed``: on a CUDA build without a GPU it
    records a stack trace per call for lazy CUDA seeding, some milliseconds
    each, which would be paid at every step."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        torch.cuda.default_generators[index].manual_seed(seed)


def _check_finite(losses: list[Tensor], step: int) -> None:
    """Raise :class:`NonFiniteLoss` naming the first bad step among the
    last ``len(losses)`` (ending at ``step``)."""
    values = torch.stack(losses)
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    first = int((~finite).nonzero()[0, 0])
    at = step - len(losses) + first + 1
    value = float(values[first])
    detail = "" if math.isnan(value) else f" (loss={value})"
    raise NonFiniteLoss(f"nan loss at step {at}{detail}", at)
