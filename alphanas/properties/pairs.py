"""(input, output) pairs: how depth and mixing key their values.

A property holds one value per (input index, output index) pair: positions
among the program's model inputs (a region's inputs, in order) and among its
outputs (0 for one output), not value ids, so that a region and its
synthesized replacement compare pair by pair. The value ids are kept as
``labels`` for display only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

#: (input index, output index)
Pair = tuple[int, int]
#: display names: the inputs' value ids in order, the outputs' in order
Labels = tuple[tuple[str, ...], tuple[str, ...]]

V = TypeVar("V")


def pair_label(labels: Labels, pair: Pair) -> tuple[str, str]:
    """The display names of a pair (``in0``/``out0`` when unlabelled)."""
    ins, outs = labels
    i, o = pair
    return (ins[i] if i < len(ins) else f"in{i}", outs[o] if o < len(outs) else f"out{o}")


def combine_pairs(
    parts: Sequence[tuple[Iterable[tuple[Pair, V]], Labels]],
    inputs: Sequence[str] | None = None,
) -> tuple[dict[Pair, V], Labels]:
    """Merge per-output properties (a region with several outputs, extracted
    as one program per output), given as (items, labels) per part: part
    ``k``'s pairs become output ``k``'s. With ``inputs`` (the region's inputs,
    in order), each part's input index is remapped through its labels to its
    position in ``inputs`` (an extracted program keeps only the inputs its
    output reads); without, the parts must share their inputs."""
    result: dict[Pair, V] = {}
    ins: tuple[str, ...] = tuple(inputs) if inputs is not None else ()
    outs: list[str] = []
    for k, (items, labels) in enumerate(parts):
        for pair, value in items:
            i = pair[0] if inputs is None else ins.index(pair_label(labels, pair)[0])
            result[(i, k)] = value
        if inputs is None and len(labels[0]) > len(ins):
            ins = labels[0]
        outs.append(labels[1][0] if labels[1] else f"out{k}")
    return result, (ins, tuple(outs))


def combined(make: Callable[[dict[Pair, Any], Labels], V], parts: Sequence[Any], inputs: Sequence[str] | None) -> V:
    """:func:`combine_pairs` over property objects with ``items()`` and
    ``labels``, rebuilt with ``make(values, labels)``."""
    values, labels = combine_pairs([(p.items(), p.labels) for p in parts], inputs)
    return make(values, labels)
