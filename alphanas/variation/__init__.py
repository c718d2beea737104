"""How a child is made from a parent: the variation stage.

- :mod:`~alphanas.variation.base` — the :class:`Variation` protocol, :class:`Child`,
  :class:`VariationContext` and the :data:`VARIATIONS` registry;
- :mod:`~alphanas.variation.property_mutation` — αNAS's property-guided mutation;
- :mod:`~alphanas.variation.random_edit` — the random-edit baseline;
- :mod:`~alphanas.variation.sampling` — random sampling of whole programs;
- :mod:`~alphanas.variation.space` — user search spaces written as grammars;
- :mod:`~alphanas.variation.space_diagnostics` — a space's size, emptiness and samples.

May import: :mod:`alphanas.ops`, :mod:`alphanas.lang`, :mod:`alphanas.registry`,
:mod:`alphanas.pytorch`, :mod:`alphanas.zoo`, :mod:`alphanas.benchmarks`,
:mod:`alphanas.properties`, :mod:`synth`.
"""

from alphanas.variation.base import (
    VARIATIONS,
    Aim,
    Child,
    Evaluated,
    Variation,
    VariationContext,
    VariationFailed,
)

__all__ = ["VARIATIONS", "Aim", "Child", "Evaluated", "Variation", "VariationContext", "VariationFailed"]
