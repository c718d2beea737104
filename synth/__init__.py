"""The Z3-backed synthesizer: concrete regions from properties, shapes and budgets.

Usable on its own::

    from synth import Problem, Budgets, synthesize
    result = synthesize(Problem(inputs=((64, 32, 32),), output=(128, 16, 16)), seed=0)
    print(result.text if result.ok else result.render())

One module per step: :mod:`synth.problem` (the request),
:mod:`synth.structure` (structures and templates with holes),
:mod:`synth.enumerate` (structures of the core language, smallest first),
:mod:`synth.grammar` (structures from a user's grammar),
:mod:`synth.domains` and :mod:`synth.sizes` (sizes by Z3),
:mod:`synth.verify` (independent re-verification), :mod:`synth.explain`
(infeasibility in the user's terms) and :mod:`synth.synthesize` (the loop).
"""

from synth.domains import Domain
from synth.enumerate import CoreSpace
from synth.explain import Infeasible
from synth.problem import Budgets, Problem, UnsupportedProblem
from synth.synthesize import Result, Stats, synthesize

__all__ = ["Budgets", "CoreSpace", "Domain", "Infeasible", "Problem", "Result", "Stats", "UnsupportedProblem", "synthesize"]
