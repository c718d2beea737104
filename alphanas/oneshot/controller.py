"""The REINFORCE controller: a policy over a space's choices, as a variation.

Zoph & Le's controller samples an architecture, is told its score, and
moves its policy towards what scored above a baseline. Here the policy is
one vector of logits per choice point of the space's skeleton
(:mod:`alphanas.oneshot.choices`), a child is drawn choice by choice from
the softmax of those logits, and the policy is trained with REINFORCE:

    advantage = (reward - baseline) / spread
    logits[k] += learning_rate * advantage * (onehot(pick[k]) - softmax(logits[k]))

with an exponential moving average of the rewards as the baseline and of
their squared deviations as the spread, so one learning rate serves a table
in percent and a training evaluator in [0, 1]. The reward is a metric of the
evaluation (the run's first objective unless ``metric`` is set), negated
when it is minimised.

**Resumable by construction.** The policy is a pure function of the run's
history (:attr:`VariationContext.history`): every finished evaluation, in
the order the search took them, is replayed as one update. The object keeps
the policy and how much of the history it has replayed, so each child costs
only the new evaluations; a history that is not a continuation of the one
replayed (another run, a resumed one) is replayed from the start. A run
resumed from its store therefore continues exactly as an uninterrupted one.

It imports no torch: a search on a table evaluator stays light.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from alphanas.lang.canonical import program_hash
from alphanas.lang.ir import Program
from alphanas.lang.printer import print_program
from alphanas.oneshot.choices import Skeleton, derive_program, picks_of, read_skeleton
from alphanas.variation.base import VARIATIONS, Child, Evaluated, VariationContext, VariationFailed
from alphanas.variation.space import ProgramSpace

__all__ = ["Policy", "Reinforce", "ReinforceSettings"]


@dataclass(frozen=True)
class ReinforceSettings:
    """``learning_rate``: the step of each REINFORCE update (on the
    normalised advantage); ``baseline_decay``: how slowly the moving
    average of the rewards (the baseline) forgets; ``metric``: the reward
    (None: the run's first objective); ``draws``: samples drawn before
    giving up on a child the search does not have yet.
    ``synth_time_limit`` is accepted and unused (the controller synthesizes
    nothing): the table harness (``alphanas bench nb201``) gives it to every
    strategy."""

    learning_rate: float = 0.2
    baseline_decay: float = 0.9
    metric: str | None = None
    draws: int = 200
    synth_time_limit: float | None = None

    def __post_init__(self) -> None:
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate = {self.learning_rate} is impossible: it must be a positive number")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"baseline_decay = {self.baseline_decay} is impossible: it must be in [0, 1)")
        if self.draws < 1:
            raise ValueError(f"draws = {self.draws} is impossible: it must be at least 1")


@dataclass
class Policy:
    """Per-choice logits, the reward baseline and spread, and how many updates made them."""

    logits: list[list[float]]
    baseline: float | None = None
    spread: float = 0.0
    updates: int = 0

    @staticmethod
    def uniform(arity: tuple[int, ...]) -> Policy:
        return Policy([[0.0] * n for n in arity])

    def probabilities(self) -> list[list[float]]:
        return [_softmax(row) for row in self.logits]

    def argmax(self) -> tuple[int, ...]:
        return tuple(max(range(len(row)), key=row.__getitem__) for row in self.logits)

    def sample(self, rng: random.Random) -> tuple[tuple[int, ...], float]:
        """Picks drawn from the policy with ``rng``, and their log-probability."""
        picks, log_p = [], 0.0
        for p in self.probabilities():
            u, total, j = rng.random(), 0.0, len(p) - 1
            for i, q in enumerate(p):
                total += q
                if u < total:
                    j = i
                    break
            picks.append(j)
            log_p += math.log(max(p[j], 1e-300))
        return tuple(picks), log_p

    def update(self, picks: tuple[int, ...], reward: float, settings: ReinforceSettings) -> None:
        """One REINFORCE step with the moving-average baseline (see the module docstring)."""
        if self.baseline is None:
            self.baseline = reward  # the first reward is its own baseline: no step
            self.updates += 1
            return
        deviation = reward - self.baseline
        spread = math.sqrt(self.spread) if self.spread > 0 else abs(deviation)
        advantage = deviation / spread if spread > 0 else 0.0
        for row, p, pick in zip(self.logits, self.probabilities(), picks):
            for j in range(len(row)):
                row[j] += settings.learning_rate * advantage * ((1.0 if j == pick else 0.0) - p[j])
        decay = settings.baseline_decay
        self.baseline = decay * self.baseline + (1 - decay) * reward
        self.spread = decay * self.spread + (1 - decay) * deviation * deviation
        self.updates += 1


def _softmax(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


@VARIATIONS.register("reinforce", settings=ReinforceSettings)
class Reinforce:
    """The REINFORCE controller (see the module docstring). It needs a
    ``[space]`` whose skeleton has choice points; the parent only gives
    the program around the space's graph."""

    name = "reinforce"

    def __init__(self, settings: ReinforceSettings | None = None) -> None:
        self.settings = settings or ReinforceSettings()
        self._space: ProgramSpace | None = None
        self._skeleton: Skeleton | None = None
        self._policy: Policy | None = None
        #: (id, hash) of each history entry replayed into the policy, in order
        self._replayed: list[tuple[int, str]] = []
        #: (the parent's text, picks) -> the derived program and its hash (a policy draws the same picks often)
        self._derived: dict[tuple[str, tuple[int, ...]], tuple[Program, str]] = {}

    def vary(self, parent: Program, rng: random.Random, context: VariationContext) -> Child:
        skeleton = self._skeleton_of(context)
        policy = self.policy(context, parent)
        template = print_program(parent)
        draws = 0
        while draws < self.settings.draws:
            draws += 1
            picks, log_p = policy.sample(rng)
            if (template, picks) not in self._derived:
                program = derive_program(context.space, skeleton, template, picks)  # type: ignore[arg-type]
                self._derived[(template, picks)] = (program, program_hash(program))
            program, digest = self._derived[(template, picks)]
            if digest in context.seen:
                continue
            record = {"picks": list(picks), "log_prob": round(log_p, 6), "draws": draws,
                      "updates": policy.updates, "argmax": list(policy.argmax()),
                      "policy": [[round(q, 4) for q in row] for row in policy.probabilities()]}
            return Child(program, self.name, record)
        raise VariationFailed(f"{self.settings.draws} draws from the policy gave only programs the search has")

    # -- the policy as a function of the history ---------------------------------------------------
    def policy(self, context: VariationContext, parent: Program) -> Policy:
        """The policy after every evaluation of ``context.history`` (replayed incrementally)."""
        skeleton = self._skeleton_of(context)
        history = context.history
        done = len(self._replayed)
        continues = done <= len(history) and all(
            (e.id, e.hash) == seen for e, seen in zip(history[:done], self._replayed))
        if self._policy is None or not continues:
            self._policy, self._replayed = Policy.uniform(tuple(len(c.alternatives) for c in skeleton.choices)), []
        graph = context.space.graph_of(parent)  # type: ignore[union-attr]
        metric, sign = self._reward_of(context)
        for entry in history[len(self._replayed):]:
            self._replayed.append((entry.id, entry.hash))
            reward = _reward(entry, metric, sign)
            if reward is None:
                continue
            try:
                picks = picks_of(skeleton, entry.program, graph)
            except ValueError:
                continue  # a program the skeleton does not write (a seed outside it): nothing to learn
            self._policy.update(picks, reward, self.settings)
        return self._policy

    def _skeleton_of(self, context: VariationContext) -> Skeleton:
        if context.space is None:
            raise VariationFailed("the reinforce controller samples a space's choices: the search needs a [space]")
        if self._space is not context.space or self._skeleton is None:
            self._space, self._skeleton, self._policy, self._replayed = context.space, read_skeleton(context.space), None, []
            self._derived = {}
        return self._skeleton

    def _reward_of(self, context: VariationContext) -> tuple[str, float]:
        directions = dict(context.objectives)
        metric = self.settings.metric or (context.objectives[0][0] if context.objectives else "accuracy")
        return metric, (-1.0 if directions.get(metric) == "min" else 1.0)


def _reward(entry: Evaluated, metric: str, sign: float) -> float | None:
    if not entry.ok or metric not in entry.metrics:
        return None
    value = float(entry.metrics[metric])
    return sign * value if math.isfinite(value) else None
