"""Search-space evolution: a grammar space that shrinks and grows from what
the search has learned (after NSE, Ci et al. 2021, and ABS, Hu et al. 2020).

- :mod:`~alphanas.variation.space_evolution.choices`: the choices of a
  space grammar (each alternative of a rule, each value of an integer
  slot), which choices a program's derivation makes, and the grammar
  written again with some choices left out or added;
- :mod:`~alphanas.variation.space_evolution.evidence`: per choice, from a
  run's finished evaluations, how often it occurs, on the Pareto front and
  among dominated candidates, and its estimated effect on each objective
  with a confidence (a Bayesian linear model over choice counts);
- :mod:`~alphanas.variation.space_evolution.rounds`: the shrink and grow
  rules, and the rounds they make (each round's grammar a pure function of
  the run's history);
- :mod:`~alphanas.variation.space_evolution.variation`: the
  ``evolving_space`` variation, which wraps any registered variation and
  runs it in the current round's grammar, writing each round's grammar
  beside the run (``RUN/space_rounds/round_K.lark``).
"""


from alphanas.variation.space_evolution.choices import Choice, GrammarChoices
from alphanas.variation.space_evolution.evidence import (
    ChoiceEvidence,
    Evidence,
    collect_evidence,
    render_evidence,
)
from alphanas.variation.space_evolution.rounds import Round, RoundRule, Universe, evolve_rounds

__all__ = [
    "Choice",
    "ChoiceEvidence",
    "Evidence",
    "GrammarChoices",
    "Round",
    "RoundRule",
    "Universe",
    "collect_evidence",
    "evolve_rounds",
    "render_evidence",
]
