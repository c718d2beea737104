"""How a candidate is scored: the evaluator interface of the search.

Every way of scoring a program — training it on a data set, looking it up in
a benchmark table, or just counting its parameters and FLOPs — implements
:class:`Evaluator`: ``evaluate(program, fidelity, context) -> Evaluation``.
An evaluator never raises for a bad candidate: a NaN loss, an exception, a
time limit or running out of memory comes back as an :class:`Evaluation`
with ``status="failed"`` and a ``reason``, so that the search records it and
goes on.

Metric names are fixed here, so that objectives in a search config, columns
in the store and axes in the report agree: :data:`METRICS` lists them with
the direction in which they are better.

The evaluators a search config names (``[evaluator] kind``) are registered
in :data:`EVALUATORS`: ``analytic`` here, ``training``
(:mod:`alphanas.evaluation.training`) and ``nb201``
(:mod:`alphanas.evaluation.table`). An evaluator's options
(``[evaluator.options]``) are its constructor's keyword arguments. What it
measures, for the config to check the objectives against, is its class
attribute ``metrics`` (name -> "max"/"min"), or its classmethod
``metrics_for(options)`` when the options decide it.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Protocol, runtime_checkable

from alphanas.lang.analysis import analyze
from alphanas.lang.ir import Program
from alphanas.registry import Registry

__all__ = [
    "EVALUATORS",
    "METRICS",
    "METRIC_PATTERNS",
    "AnalyticEvaluator",
    "EvalContext",
    "Evaluation",
    "Evaluator",
    "Fidelity",
    "analytic_metrics",
    "failed",
    "metric_direction",
]

#: metric name -> "max" or "min": the direction in which a value is better.
#: Evaluators may report more (``train_loss``, ``epochs``, ...); objectives
#: must be chosen among these or among columns a table evaluator declares.
METRICS: Mapping[str, Literal["max", "min"]] = {
    "accuracy": "max",  # validation accuracy in [0, 1], what the search optimises
    "test_accuracy": "max",  # reported, never optimised
    "params": "min",  # trainable parameters
    "flops": "min",  # FLOPs per sample (1 multiply-add = 2)
    "latency_ms": "min",  # median batch-1 forward latency
    "latency_batch_ms": "min",  # median forward latency at the configured batch size
    "peak_memory_mb": "min",  # peak memory of a training step
}

#: Directions of metric families, by name pattern (:mod:`fnmatch`): the
#: columns of a benchmark table (:mod:`alphanas.evaluation.table`) are named
#: by what they measure, e.g. ``cifar10_test_acc`` or ``latency_ms_pixel3``.
METRIC_PATTERNS: Mapping[str, Literal["max", "min"]] = {
    "*_acc": "max",  # an accuracy, in percent
    "latency_ms_*": "min",  # a latency measured on one device
}


def metric_direction(name: str) -> Literal["max", "min"] | None:
    """The direction in which a metric is better: from :data:`METRICS`, else
    from the first pattern of :data:`METRIC_PATTERNS` it matches; None for
    a metric of unknown direction."""
    if name in METRICS:
        return METRICS[name]
    for pattern, direction in METRIC_PATTERNS.items():
        if fnmatch.fnmatchcase(name, pattern):
            return direction
    return None


@dataclass(frozen=True)
class Fidelity:
    """How much effort to spend on one evaluation. ``epochs`` and ``steps``
    bound training (whichever is reached first; None: unbounded by it);
    ``rung`` is the successive-halving rung the evaluation belongs to."""

    epochs: float | None = None
    steps: int | None = None
    rung: int = 0


@dataclass(frozen=True)
class EvalContext:
    """What an evaluation may use besides the program: its seed (every
    random choice of training flows from it), a folder of its own for
    checkpoints (None: keep nothing), the parent's checkpoint for weight
    inheritance (None: train from scratch), and a wall-clock limit."""

    seed: int = 0
    workdir: Path | None = None
    parent_checkpoint: Path | None = None
    time_limit: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """The result of one evaluation. ``metrics`` holds what was measured
    (even for a failed candidate: its parameter count is still known)."""

    status: Literal["ok", "failed"]
    metrics: Mapping[str, float] = field(default_factory=dict)
    reason: str | None = None
    seconds: float = 0.0
    #: weights of the trained model, when the evaluator kept them
    checkpoint: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def failed(reason: str, metrics: Mapping[str, float] | None = None, seconds: float = 0.0) -> Evaluation:
    """A failed evaluation with its reason."""
    return Evaluation("failed", dict(metrics or {}), reason, seconds)


@runtime_checkable
class Evaluator(Protocol):
    """Scores programs. Implementations must be picklable (the process and
    Ray executors send them to workers) and must not raise for a bad
    candidate."""

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation: ...


#: The evaluators a search config names (``[evaluator] kind``). A class
#: registers with ``@EVALUATORS.register(name)``; ``[evaluator.options]`` are
#: its constructor's keyword arguments (a nested table becomes the dataclass
#: its argument is annotated with).
EVALUATORS: Registry[Evaluator] = Registry("evaluator", builtin_modules=(
    "alphanas.evaluation.evaluator",
    "alphanas.evaluation.training",
    "alphanas.evaluation.table",
))


def analytic_metrics(program: Program) -> dict[str, float]:
    """Parameters and FLOPs per sample from the IR's analysis (no torch)."""
    total = analyze(program).total
    return {"params": float(total.params), "flops": float(total.flops)}


@EVALUATORS.register("analytic")
@dataclass(frozen=True)
class AnalyticEvaluator:
    """Scores a program by its analytic costs alone: parameters and FLOPs,
    no training. The cheapest evaluator; the search's engine overhead is
    measured with it."""

    #: what it measures (all of it): the objectives it can serve
    metrics: ClassVar[Mapping[str, Literal["max", "min"]]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        start = time.perf_counter()
        try:
            metrics = analytic_metrics(program)
        except Exception as err:  # a candidate's failure, recorded, never raised into the loop
            return failed(f"{type(err).__name__}: {err}", seconds=time.perf_counter() - start)
        return Evaluation("ok", metrics, seconds=time.perf_counter() - start)
