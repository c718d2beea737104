"""The search strategies the table benchmarks compare, by name.

A strategy is what a search config's ``[strategy]`` table holds: a
variation, a selection, and the options of each. The table harness
(``alphanas bench nb201``, ``alphanas bench nbmacro``) runs every strategy
named on its command line from the same seeds and start points, so that
two strategies can be compared seed by seed.

To add a strategy, add one entry to :data:`STRATEGIES` below (one
:func:`strategy` call), e.g. for a learned variation registered as
``surrogate``::

    strategy("surrogate_aging", "surrogate", "aging", variation_options={"pool": 8}),

``variation_options`` and ``selection_options`` are exactly what
``[strategy] variation_options`` and ``selection_options`` would say. The
harness's ``--variation-option`` / ``--selection-option`` are given to the
strategies whose variation / selection takes them; a strategy's own options
win over them (they are what the strategy is).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STRATEGIES", "Strategy", "strategy", "strategy_names"]


@dataclass(frozen=True)
class Strategy:
    """A named variation × selection with its options."""

    name: str
    variation: str
    selection: str
    #: options of the variation, as ``[strategy] variation_options`` (key, value) pairs
    variation_options: tuple[tuple[str, Any], ...] = ()
    #: options of the selection, as ``[strategy] selection_options`` (key, value) pairs
    selection_options: tuple[tuple[str, Any], ...] = ()
    #: what it is, for ``--help`` and the docs
    doc: str = field(default="", compare=False)

    def with_options(self, variation: Sequence[tuple[str, Any]], selection: Sequence[tuple[str, Any]]
                     ) -> Strategy:
        """This strategy with the harness's options added under its own
        (its own win: they define it)."""
        return Strategy(self.name, self.variation, self.selection,
                        tuple({**dict(variation), **dict(self.variation_options)}.items()),
                        tuple({**dict(selection), **dict(self.selection_options)}.items()), self.doc)


def strategy(name: str, variation: str, selection: str, *, variation_options: Mapping[str, Any] | None = None,
             selection_options: Mapping[str, Any] | None = None, doc: str = "") -> tuple[str, Strategy]:
    """One entry of :data:`STRATEGIES`."""
    return name, Strategy(name, variation, selection, tuple((variation_options or {}).items()),
                          tuple((selection_options or {}).items()), doc)


#: name -> strategy; the order is the order of the benchmark's tables
STRATEGIES: dict[str, Strategy] = dict([
    strategy("random_sample", "random_sample", "nsga2", doc="the whole cell drawn again at random each time"),
    strategy("aging_evolution", "random_edit", "aging",
             doc="regularized evolution (Real et al. 2019): random edits with aging selection"),
    strategy("random_edit_nsga2", "random_edit", "nsga2", doc="random edits with NSGA-II"),
    strategy("alphanas_nsga2", "alphanas", "nsga2", doc="property-guided mutation (αNAS) with NSGA-II"),
    strategy("alphanas_pareto_weighted", "alphanas", "pareto_weighted",
             doc="αNAS with Pareto-weighted parent sampling"),
    strategy("alphanas_aging", "alphanas", "aging", doc="αNAS with aging selection"),
    strategy("reinforce", "reinforce", "aging",
             doc="REINFORCE controller (Zoph & Le 2017) over the cell's choices; the parent is only its template"),
])


def strategy_names() -> tuple[str, ...]:
    return tuple(STRATEGIES)
