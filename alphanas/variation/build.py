"""A variation from its name and options, inside a grammar space or not.

The search config names a variation (``[strategy] variation``) and gives
its options (``variation_options`` and the budgets of ``[constraints]``);
:func:`build_variation` turns them into the object, through the
:data:`~alphanas.variation.base.VARIATIONS` registry.

Inside a grammar space (``[space]``), a built-in variation keeps its
meaning but acts on derivations of the grammar: its registration says how
(``space_mode``: property-guided re-derivation, a random re-derivation of
one fragment, or a random derivation of the whole body), and it takes the
settings of property-guided mutation (:class:`MutationSettings`) there, as
it always has. A variation registered without ``space_mode`` (a user's own)
is built as it is and finds the space in its
:class:`~alphanas.variation.base.VariationContext`; the search keeps only
the children the space derives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alphanas.registry import Entry
from alphanas.variation.base import VARIATIONS, Variation
from alphanas.variation.property_mutation import MutationSettings
from alphanas.variation.space import ProgramSpace, SpaceMutation

__all__ = ["build_variation", "variation_entry"]


def variation_entry(name: str, in_space: bool = False) -> Entry[Any]:
    """The registry entry that builds variation ``name`` (registered, or
    ``module:Class``); inside a space, the entry of its space form."""
    entry = VARIATIONS.get(name)
    mode = entry.meta.get("space_mode")
    if not in_space or mode is None:
        return entry

    def in_space_form(space: ProgramSpace, settings: MutationSettings) -> SpaceMutation:
        return SpaceMutation(space, mode, settings, name=name)

    return Entry(name, in_space_form, MutationSettings, entry.meta)  # type: ignore[arg-type]


def build_variation(name: str, options: Mapping[str, Any], space: ProgramSpace | None = None) -> Variation:
    """The variation ``name`` with its options; inside ``space`` when one is
    given (see the module doc). A :class:`~alphanas.registry.PluginError`
    says which option it refuses."""
    entry = variation_entry(name, space is not None)
    if space is not None and entry.meta.get("space_mode") is not None:
        return entry.build(options, space)
    return entry.build(options)
