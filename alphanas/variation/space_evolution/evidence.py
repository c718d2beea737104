"""Evidence per choice of a space grammar, from a run's finished evaluations.

For every choice (:class:`~alphanas.variation.space_evolution.choices.Choice`)
the evidence says how many evaluated derivations make it, how many of those
are on the Pareto front of the evaluations and how many are dominated, and
its estimated effect on each objective with an uncertainty.

**The model.** Per objective, a Bayesian linear regression of the
objective's value (made "higher is better" and standardised) on the
number of times each derivation makes each choice, with a Gaussian prior of
precision ``ridge`` on the coefficients (ridge regression, read as a
posterior) and the noise variance estimated from the residuals. The
coefficients' posterior is Gaussian: a mean vector and a covariance. The
alternatives of one rule are collinear (a derivation takes exactly one of
them per use of the rule), so a coefficient means something only against
the other alternatives of its rule: the *effect* shown for a choice is its
coefficient minus the mean of its group's coefficients, in the objective's
own units and direction, per use. :meth:`Evidence.p_better` compares two
choices of a group: the posterior probability that one adds more to an
objective than the other.

Only evaluations that succeeded, have a finite value for each objective and
are derived by the grammar count; the others are counted as left out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alphanas.lang.errors import AlphanasError
from alphanas.variation.base import Evaluated
from alphanas.variation.space_evolution.choices import Choice, GrammarChoices

__all__ = ["ChoiceEvidence", "Effect", "Evidence", "collect_evidence", "render_evidence"]


@dataclass(frozen=True)
class Effect:
    """A choice's estimated effect on one objective, per use, against its
    group's average, in the objective's units (positive: the objective
    grows); ``p_better``: posterior probability that it is better than that
    average in the objective's direction."""

    objective: str
    mean: float
    sd: float
    p_better: float


@dataclass(frozen=True)
class ChoiceEvidence:
    choice: Choice
    #: evaluated derivations that make the choice (at least once), and how many of them are on the front
    derivations: int
    on_front: int
    effects: tuple[Effect, ...]

    @property
    def dominated(self) -> int:
        return self.derivations - self.on_front


@dataclass
class _Posterior:
    """One objective's coefficients: posterior mean and covariance (standardised,
    higher is better), and the scale back to the objective's units."""

    mean: np.ndarray
    cov: np.ndarray
    scale: float


@dataclass
class Evidence:
    """The evidence of a history over a grammar's choices."""

    objectives: tuple[tuple[str, str], ...]
    #: evaluations used, and those left out (failed, without values, or outside the grammar)
    used: int
    left_out: int
    #: ids of the front of the evaluations used, and the choices each front member makes
    front: tuple[int, ...]
    front_choices: frozenset[Choice]
    choices: tuple[ChoiceEvidence, ...]
    _index: dict[Choice, int]
    _posteriors: list[_Posterior]

    def of(self, choice: Choice) -> ChoiceEvidence:
        return self.choices[self._index[choice]]

    def p_better(self, a: Choice, b: Choice, objective: int) -> float:
        """Posterior probability that choice ``a`` does more for objective
        number ``objective`` (in its direction) than choice ``b``, per use."""
        post = self._posteriors[objective]
        i, j = self._index[a], self._index[b]
        diff = post.mean[i] - post.mean[j]
        var = post.cov[i, i] + post.cov[j, j] - 2 * post.cov[i, j]
        if var <= 1e-18:
            return 0.5 if abs(diff) < 1e-12 else float(diff > 0)
        return _normal_cdf(diff / math.sqrt(var))


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere (higher is better)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def _goodness(e: Evaluated, objectives: Sequence[tuple[str, str]]) -> tuple[float, ...] | None:
    """The evaluation's objective values with "min" ones negated, or None
    when one is missing or not finite."""
    out = []
    for name, direction in objectives:
        v = e.metrics.get(name)
        if v is None or not math.isfinite(float(v)):
            return None
        out.append(float(v) if direction == "max" else -float(v))
    return tuple(out)


def collect_evidence(grammar: GrammarChoices, history: Sequence[Evaluated],
                     objectives: Sequence[tuple[str, str]], ridge: float = 1.0) -> Evidence:
    """The evidence of ``history`` (a run's finished evaluations) over the
    choices of ``grammar``, for ``objectives`` (``(name, "min" | "max")``)."""
    rows: list[tuple[Evaluated, tuple[float, ...], Counter[Choice]]] = []
    left_out = 0
    for e in history:
        values = _goodness(e, objectives) if e.ok else None
        if values is None:
            left_out += 1
            continue
        try:
            made = grammar.choices_of(e.program)
        except AlphanasError:
            left_out += 1
            continue
        rows.append((e, values, made))
    front_rows = [r for r in rows if not any(_dominates(o[1], r[1]) for o in rows)]
    front_choices = frozenset(c for r in front_rows for c in r[2])
    choices = grammar.choices
    index = {c: k for k, c in enumerate(choices)}
    x = np.zeros((len(rows), len(choices)))
    for n, (_, _, made) in enumerate(rows):
        for c, count in made.items():
            if c in index:
                x[n, index[c]] = count
    posteriors = [_fit(x, np.array([r[1][k] for r in rows]), ridge) for k in range(len(objectives))]
    group_of = {c: [index[o] for o in grammar.groups[c.owner]] for c in choices}
    evidence = []
    for c in choices:
        k = index[c]
        effects = []
        for j, (name, direction) in enumerate(objectives):
            post = posteriors[j]
            group = group_of[c]
            # the coefficient against the group's mean: a linear contrast w·beta
            w = np.zeros(len(choices))
            w[group] -= 1.0 / len(group)
            w[k] += 1.0
            mean = float(w @ post.mean)
            sd = float(math.sqrt(max(w @ post.cov @ w, 0.0)))
            p = _normal_cdf(mean / sd) if sd > 1e-12 else (0.5 if abs(mean) < 1e-12 else float(mean > 0))
            sign = 1.0 if direction == "max" else -1.0
            effects.append(Effect(name, sign * mean * post.scale, sd * post.scale, p))
        evidence.append(ChoiceEvidence(c, int(np.count_nonzero(x[:, k])),
                                       sum(1 for r in front_rows if c in r[2]), tuple(effects)))
    return Evidence(tuple(objectives), len(rows), left_out, tuple(sorted(r[0].id for r in front_rows)), front_choices,
                    tuple(evidence), index, posteriors)


def _fit(x: np.ndarray, y: np.ndarray, ridge: float) -> _Posterior:
    """The posterior of ``y ≈ b0 + x·beta`` with prior beta ~ N(0, σ²/ridge)
    on standardised ``y``; the intercept is left free (columns centred)."""
    p = x.shape[1]
    if len(y) < 2 or float(np.std(y)) == 0.0:
        return _Posterior(np.zeros(p), np.eye(p) / ridge, float(np.std(y)) if len(y) else 0.0)
    scale = float(np.std(y))
    z = (y - y.mean()) / scale
    xc = x - x.mean(axis=0)
    inverse = np.linalg.inv(xc.T @ xc + ridge * np.eye(p))
    mean = inverse @ xc.T @ z
    residual = z - xc @ mean
    dof = float(np.trace(xc @ inverse @ xc.T))
    noise = float(residual @ residual) / max(len(z) - dof - 1.0, 1.0)
    return _Posterior(mean, noise * inverse, scale)


def render_evidence(evidence: Evidence, title: str = "") -> str:
    """The evidence as a table: per choice, the derivations making it (on
    the front, dominated) and its effect on each objective ± one standard
    deviation, with the probability that it beats its rule's average."""
    names = ", ".join(f"{n} ({d})" for n, d in evidence.objectives)
    lines = [title] if title else []
    lines.append(f"evidence from {evidence.used} evaluations ({evidence.left_out} left out: failed, without "
                 f"values or outside the grammar); front: {len(evidence.front)} candidates; objectives: {names}")
    lines.append("effect: per use, against the average of the choice's rule, ± one standard deviation; "
                 "P: probability that it is better than that average")
    header = ["choice", "derivations", "front", "dominated"] + [f"{n}: effect (P)" for n, _ in evidence.objectives]
    rows = [header]
    for ev in evidence.choices:
        shown = ev.choice.key if len(ev.choice.key) <= 70 else ev.choice.key[:67] + "..."
        rows.append([shown, str(ev.derivations), str(ev.on_front), str(ev.dominated)]
                    + [f"{e.mean:+.4g} ± {e.sd:.2g} ({e.p_better:.2f})" for e in ev.effects])
    widths = [max(len(r[k]) for r in rows) for k in range(len(header))]
    for r in rows:
        lines.append("  " + "  ".join(cell.ljust(w) if k == 0 else cell.rjust(w)
                                      for k, (cell, w) in enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines)
