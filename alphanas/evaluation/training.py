"""Scoring candidates by training them: the :class:`TrainingEvaluator`, and
successive halving over a list of programs.

:class:`TrainingEvaluator` implements :class:`alphanas.evaluation.evaluator.Evaluator`:
it builds the program's module (:func:`alphanas.pytorch.codegen.build`), trains it at
the requested fidelity on a data set (:mod:`alphanas.evaluation.data`, loaded once per
process) with :func:`alphanas.evaluation.train.train`, and reports the metrics named in
:data:`alphanas.evaluation.evaluator.METRICS` plus ``train_loss``, ``val_loss``,
``test_loss``, ``epochs``, ``steps`` and, when it inherited weights,
``inherited_fraction``. A bad candidate — one that raises, whose loss turns
NaN, that runs past its time limit or out of memory — comes back as a failed
:class:`~alphanas.evaluation.evaluator.Evaluation` with the reason; ``evaluate`` never
raises for it.

**Weight inheritance** (:mod:`alphanas.evaluation.inheritance`). With
``context.parent_checkpoint``, the child's ops are aligned with its parent's
by structure (the parent's program is saved beside its weights) and every
tensor of an unchanged op is copied in before training; the synthesized
region starts fresh. ``inherited_fraction`` is the share of the child's
parameters (by element) that came from the parent, ``inherited_params`` their
number. A child that inherited trains as ``finetune`` says (its own epochs,
learning-rate factors for inherited and fresh parameters). ``seed_weights``
give the seed program its trained weights (the seed only, by its
fingerprint); it then trains at the search's fidelity, or is only scored
when that is ``epochs = 0``.

**Files.** With ``context.workdir``, the trained weights go to
``weights.pt`` (a ``state_dict``; its path is the evaluation's
``checkpoint``) and, unless ``keep_state=False``, the full training state to
``state.pt``. An evaluation at a rung above 0 (``fidelity.rung > 0``) whose
workdir holds the state of the same program continues it rather than
starting over; :func:`successive_halving` relies on that.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from alphanas.evaluation.data import DataSpec, Splits, load
from alphanas.evaluation.evaluator import (
    EVALUATORS,
    EvalContext,
    Evaluation,
    Evaluator,
    Fidelity,
    analytic_metrics,
    failed,
)
from alphanas.evaluation.inheritance import (
    PROGRAM_FILE,
    FineTune,
    SeedWeights,
    inherit_from_parent,
    load_seed_weights,
    program_fingerprint,
    read_parent,
)
from alphanas.evaluation.metrics import latency_ms, peak_memory_mb
from alphanas.evaluation.train import (
    TimeLimitExceeded,
    TrainConfig,
    TrainingFailed,
    TrainResult,
    TrainState,
    is_out_of_memory,
    train,
    uses_channels_last,
)
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.lang.printer import print_program
from alphanas.pytorch import codegen

__all__ = [
    "HalvingResult",
    "TrainingEvaluator",
    "cached_splits",
    "inherit_weights",
    "program_fingerprint",
    "successive_halving",
]

WEIGHTS_FILE = "weights.pt"
STATE_FILE = "state.pt"

#: Splits loaded in this process, by spec: a worker loads its data once and
#: every candidate it evaluates reuses the tensors.
_SPLITS: dict[DataSpec, Splits] = {}


def cached_splits(spec: DataSpec) -> Splits:
    """The splits of ``spec``, loaded on first use in this process."""
    if spec not in _SPLITS:
        _SPLITS[spec] = load(spec)
    return _SPLITS[spec]


def inherit_weights(model: nn.Module, checkpoint: str | Path, program: Program | None = None,
                    record: dict | None = None) -> tuple[float, dict[str, bool]] | float:
    """Copy a parent's weights into ``model``.

    Given the child's ``program``: the weights of every op that did not
    change, aligned by structure with the parent's program saved beside the
    checkpoint (:func:`alphanas.evaluation.inheritance.inherit_from_parent`;
    ``record``, the child's mutation record, makes its region start fresh);
    returns the inherited fraction and, per parameter name, whether it was
    inherited. Without it: every tensor whose name and shape exist in
    ``model`` (a module whose names are known to line up); returns the
    fraction of the model's parameter elements that were copied.
    """
    if program is not None:
        parent, state = read_parent(checkpoint)
        got = inherit_from_parent(model, program, parent, state, record)
        return got.fraction, {k: k in got.copied for k, _ in model.named_parameters()}
    parent_state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    own = model.state_dict()
    matched = {k: v for k, v in parent_state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matched, strict=False)
    params = dict(model.named_parameters())
    total = sum(p.numel() for p in params.values())
    return sum(params[k].numel() for k in matched if k in params) / total if total else 0.0


@EVALUATORS.register("training")
@dataclass(frozen=True)
class TrainingEvaluator:
    """Trains each candidate on ``data`` with ``config``.

    ``latency``: also measure ``latency_ms`` (batch 1) and
    ``latency_batch_ms`` (at ``latency_batch``, None: the training batch
    size) of the trained model on the training device; ``memory``: also
    ``peak_memory_mb`` of a training step (see :func:`alphanas.evaluation.metrics.peak_memory_mb`
    for what it counts). ``inherit``: use ``context.parent_checkpoint``.
    ``keep_state``: write ``state.pt`` next to the weights so that a higher
    rung can continue. ``finetune``: how a child that inherited weights
    trains; ``seed_weights``: the seed program's trained weights (set from
    the search config's ``seed_weights``).
    """

    data: DataSpec = field(default_factory=DataSpec)
    config: TrainConfig = field(default_factory=TrainConfig)
    latency: bool = False
    latency_batch: int | None = None
    latency_repeats: int = 20
    memory: bool = False
    inherit: bool = True
    keep_state: bool = True
    finetune: FineTune = field(default_factory=FineTune)
    seed_weights: SeedWeights | None = None

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        start = time.perf_counter()
        metrics: dict[str, float] = {}
        try:
            metrics.update(analytic_metrics(program))
            splits = cached_splits(self.data)
            _check_fits(program, splits)
            clock = time.perf_counter()  # loading data is the process's cost, not the candidate's
            torch.manual_seed(context.seed)
            model = codegen.build(program)
            resume = self._state_to_continue(program, fidelity, context)
            scales = None
            if resume is None:
                fidelity, scales = self._start_from_weights(model, program, fidelity, context, metrics)
            elif "inherited_fraction" in resume.extra:
                metrics["inherited_fraction"] = float(resume.extra["inherited_fraction"])
            limit = None if context.time_limit is None else context.time_limit - (time.perf_counter() - clock)
            result = train(model, splits, self.config, fidelity, context.seed, limit, resume, lr_scales=scales)
            metrics.update(_training_metrics(result))
            metrics.update(self._measured(model, splits))
            checkpoint = self._save(model, result, program, context, metrics)
        except TimeLimitExceeded as err:
            reason = f"time limit {float(context.time_limit or 0.0)} s exceeded after {err.steps} steps"
            return failed(reason, {**metrics, "steps": float(err.steps)}, time.perf_counter() - start)
        except TrainingFailed as err:
            return failed(err.reason, {**metrics, "steps": float(err.steps)}, time.perf_counter() - start)
        except AlphanasError as err:
            reason = err.message + (f" ({err.hint})" if err.hint else "")
            return failed(reason, metrics, time.perf_counter() - start)
        except Exception as err:  # a candidate's failure, recorded, never raised into the search
            reason = "out of memory" if is_out_of_memory(err) else f"{type(err).__name__}: {err}"
            return failed(reason, metrics, time.perf_counter() - start)
        return Evaluation("ok", metrics, seconds=time.perf_counter() - start, checkpoint=checkpoint)

    def _start_from_weights(self, model: nn.Module, program: Program, fidelity: Fidelity, context: EvalContext,
                            metrics: dict[str, float]) -> tuple[Fidelity, dict[str, float] | None]:
        """Load the seed's weights or the parent's into ``model``; the
        fidelity to train at and the learning-rate factor per parameter."""
        if self.seed_weights is not None and context.parent_checkpoint is None \
                and program_fingerprint(program) == self.seed_weights.program:
            load_seed_weights(self.seed_weights, model)
            metrics["inherited_fraction"] = 1.0
            return fidelity, None
        if not (self.inherit and context.parent_checkpoint is not None):
            return fidelity, None
        # a search that passes the child's mutation record lets its region start fresh for certain
        record = getattr(context, "record", None)
        fraction, inherited = inherit_weights(model, context.parent_checkpoint, program, record)  # type: ignore[misc]
        metrics["inherited_fraction"] = fraction
        metrics["inherited_params"] = float(sum(p.numel() for k, p in model.named_parameters() if inherited[k]))
        tune = self.finetune
        scales = {k: tune.lr_inherited if was else tune.lr_new for k, was in inherited.items()}
        if tune.epochs is not None and fraction > 0:
            fidelity = replace(fidelity, epochs=tune.epochs, steps=None)
        return fidelity, scales

    def _state_to_continue(self, program: Program, fidelity: Fidelity, context: EvalContext) -> TrainState | None:
        """The state a higher rung continues: in the workdir, of this very
        program (anything else there is an error, not a reason to start over
        quietly)."""
        if fidelity.rung <= 0 or context.workdir is None or not (Path(context.workdir) / STATE_FILE).is_file():
            return None
        state = TrainState.load(Path(context.workdir) / STATE_FILE)
        if state.extra.get("program") != program_fingerprint(program):
            raise AlphanasError(
                f"{Path(context.workdir) / STATE_FILE} holds the training state of another program",
                hint="give each candidate a workdir of its own",
            )
        return state

    def _measured(self, model: nn.Module, splits: Splits) -> dict[str, float]:
        out: dict[str, float] = {}
        device = next(model.parameters()).device
        channels_last = uses_channels_last(model, self.config, device)
        if self.latency:
            batch = self.latency_batch or self.config.batch_size
            out["latency_ms"] = latency_ms(model, splits.input_shape, 1, self.latency_repeats, channels_last=channels_last)
            out["latency_batch_ms"] = latency_ms(
                model, splits.input_shape, batch, self.latency_repeats, channels_last=channels_last
            )
        if self.memory:
            out["peak_memory_mb"] = peak_memory_mb(model, splits.input_shape, self.config.batch_size)
        return out

    def _save(self, model: nn.Module, result: TrainResult, program: Program, context: EvalContext,
              metrics: dict[str, float]) -> Path | None:
        if context.workdir is None:
            return None
        folder = Path(context.workdir)
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / WEIGHTS_FILE
        torch.save(result.state.model, weights)
        (folder / PROGRAM_FILE).write_text(print_program(program), encoding="utf-8")  # for its children
        if self.keep_state:
            result.state.extra.update(program=program_fingerprint(program))
            if "inherited_fraction" in metrics:
                result.state.extra["inherited_fraction"] = metrics["inherited_fraction"]
            result.state.save(folder / STATE_FILE)
        return weights


def _check_fits(program: Program, splits: Splits) -> None:
    """The model must take one input of the data's sample shape and return
    one logit per class."""
    from alphanas.lang.analysis import analyze

    inputs = program.model.inputs
    if len(inputs) != 1:
        raise AlphanasError(f"training needs a model with one input; {program.model.name} has {len(inputs)}")
    shape = tuple(inputs[0].shape or ())
    if shape != tuple(splits.input_shape):
        raise AlphanasError(
            f"the model takes inputs of shape {list(shape)} but the data's samples are {list(splits.input_shape)}",
            hint="change the model's input shape or the data's image_size",
        )
    out = tuple(analyze(program).output_shape)
    if out != (splits.classes,):
        raise AlphanasError(
            f"the model returns shape {list(out)} but the data has {splits.classes} classes",
            hint=f"the model must return [{splits.classes}] logits",
        )


def _training_metrics(result: TrainResult) -> dict[str, float]:
    return {
        "accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "val_loss": result.val_loss,
        "test_loss": result.test_loss,
        "train_loss": result.train_loss,
        "epochs": result.epochs,
        "steps": float(result.steps),
    }


# -- successive halving --------------------------------------------------------------------------


@dataclass(frozen=True)
class HalvingResult:
    """One candidate after successive halving: its last evaluation, the
    highest rung it was evaluated at (0-based), and its folder."""

    program: Program
    evaluation: Evaluation
    rung: int
    workdir: Path


def successive_halving(
    candidates: Sequence[Program],
    evaluator: Evaluator,
    rungs: Sequence[Fidelity],
    eta: int = 3,
    *,
    workdir: str | Path,
    seed: int = 0,
    time_limit: float | None = None,
) -> list[HalvingResult]:
    """Evaluate every candidate at ``rungs[0]``, keep the best
    ``len // eta`` (at least one) by validation ``accuracy``, evaluate those
    at ``rungs[1]``, and so on. Failed candidates are never promoted; ties go
    to the earlier candidate. Each candidate has its own folder under
    ``workdir``, so a :class:`TrainingEvaluator` continues its training state
    at the next rung instead of starting over. A ``TrainingEvaluator`` whose
    config sets no budget gets the last rung's as its schedule's horizon (the
    schedule must span every rung for continuation to follow one schedule).

    Returns one :class:`HalvingResult` per candidate, in the given order.
    """
    if eta < 2:
        raise ValueError(f"eta={eta} must be at least 2")
    if not rungs:
        raise ValueError("successive halving needs at least one rung")
    if isinstance(evaluator, TrainingEvaluator) and evaluator.config.epochs is None and evaluator.config.steps is None:
        last = rungs[-1]
        evaluator = replace(evaluator, config=replace(evaluator.config, epochs=last.epochs, steps=last.steps))
    root = Path(workdir)
    folders = [root / f"candidate-{i:04d}" for i in range(len(candidates))]
    last_eval: dict[int, Evaluation] = {}
    reached: dict[int, int] = {}
    alive = list(range(len(candidates)))
    for r, rung in enumerate(rungs):
        fidelity = Fidelity(epochs=rung.epochs, steps=rung.steps, rung=r)
        for i in alive:
            context = EvalContext(seed=seed, workdir=folders[i], time_limit=time_limit)
            last_eval[i] = evaluator.evaluate(candidates[i], fidelity, context)
            reached[i] = r
        if r + 1 < len(rungs):
            alive = _promote(alive, last_eval, eta)
    return [HalvingResult(candidates[i], last_eval[i], reached[i], folders[i]) for i in range(len(candidates))]


def _promote(alive: list[int], evaluations: dict[int, Evaluation], eta: int) -> list[int]:
    """The best ``len(alive) // eta`` (at least one) successful candidates."""
    ok = [i for i in alive if evaluations[i].ok and not math.isnan(evaluations[i].metrics.get("accuracy", math.nan))]
    ranked = sorted(ok, key=lambda i: (-evaluations[i].metrics["accuracy"], i))
    return sorted(ranked[: max(1, len(alive) // eta)])
