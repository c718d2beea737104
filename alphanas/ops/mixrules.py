"""Mixing transfer functions: the shared machinery behind ``Op.mixing``.

Every op of the library has a *product dependency*: an output element
depends on a box of input elements, one set of positions per input axis
(a convolution's channel group × window rows × window columns, a reshape's
single element, attention's whole sample). An op describes that box with a
:data:`Dep` — a function from a per-sample output index to one ``range`` per
per-sample input axis, or None when the element does not read the input at
all (the other side of a concat) — and :func:`from_deps` turns it into the
mixing matrix of the αNAS *linear operator pairing*, exactly as
:mod:`alphanas.properties.concrete` measures it on the built module:

- the centre ``c`` of the output (index ``size // 2`` on every axis) and the
  line ``S`` of the output through ``c`` along output axis ``j``;
- input axis ``i`` is *paired* with ``j`` when every position along ``i``
  feeds some element of ``S``;
- a paired entry is ALL when every position along ``i`` feeds ``c``, MANY
  when more than one does, ONE otherwise; an unpaired one is NONE.

The batch axis (axis 0, first row and column) is handled in closed form:
every op maps sample ``b`` to sample ``b`` (batch size ≥ 2), so the batch
feeds the batch one-to-one and no other axis, and a per-sample input axis
feeds the output's batch axis (all-to-one) exactly when the centre reads the
whole of it.

Shapes must be concrete ints here (the rules enumerate positions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alphanas.ops.levels import Level, Matrix

#: per-sample output index -> one range of positions per per-sample input
#: axis (the box the element reads), or None if it reads nothing of the input
Dep = Callable[[tuple[int, ...]], Sequence[range] | None]


def level(count: int, size: int) -> Level:
    """The level of a paired entry whose centre reads ``count`` of the
    ``size`` positions of the input axis. A paired axis that does not feed
    the centre itself (the centre comes from another input of a concat)
    counts as one-to-one."""
    if count == size:
        return Level.ALL
    return Level.MANY if count > 1 else Level.ONE


def clip(r: range, n: int) -> range:
    """The positions of a window ``r`` (any step) that fall inside ``[0, n)``."""
    start = r.start
    if start < 0:
        start += -(start // r.step) * r.step  # first position at or after 0
    return range(start, min(r.stop, n), r.step)


def point(v: int) -> range:
    return range(v, v + 1)


def from_deps(x: Sequence[int], out: Sequence[int], dep: Dep) -> Matrix:
    """The mixing matrix (input axes × output axes, batch first) of an op
    whose output element ``o`` reads the box ``dep(o)`` of input ``x``."""

    def box(o: tuple[int, ...]) -> Sequence[range] | None:
        d = dep(o)
        return None if d is None or any(len(r) == 0 for r in d) else d

    r, rank = len(x), len(out)
    centre = tuple(n // 2 for n in out)
    at_centre = box(centre)
    m = [[Level.NONE] * (rank + 1) for _ in range(r + 1)]
    if at_centre is not None:
        m[0][0] = Level.ONE
        for i in range(r):
            if len(at_centre[i]) == x[i]:
                m[i + 1][0] = Level.ALL
    for j in range(rank):
        seen = [bytearray(n) for n in x]
        for t in range(out[j]):
            d = box((*centre[:j], t, *centre[j + 1 :]))
            if d is None:
                continue
            for i, rg in enumerate(d):
                seen[i][rg.start : rg.stop : rg.step] = b"\x01" * len(rg)
        for i in range(r):
            if all(seen[i]):
                count = 0 if at_centre is None else len(at_centre[i])
                m[i + 1][j + 1] = level(count, x[i])
    return tuple(tuple(row) for row in m)


def pointwise(x: Sequence[int], out: Sequence[int], index: Callable[[tuple[int, ...]], Sequence[int] | None]) -> Matrix:
    """An op that moves elements: output ``o`` is input element ``index(o)``
    (reshape, permute, slice, ...)."""

    def dep(o: tuple[int, ...]) -> Sequence[range] | None:
        at = index(o)
        return None if at is None else [point(v) for v in at]

    return from_deps(x, out, dep)


def broadcast_dep(x: Sequence[int], out: Sequence[int], whole: Sequence[int] = ()) -> Dep:
    """Output ``o`` reads the input element at the same index (aligned at the
    last axis, size-1 input axes broadcast), except along the input axes
    ``whole`` (normalised), which it reads entirely."""
    shift = len(out) - len(x)
    full = set(whole)

    def dep(o: tuple[int, ...]) -> Sequence[range]:
        return [
            range(n) if i in full or n == 1 else point(o[i + shift])
            for i, n in enumerate(x)
        ]

    return dep


def elementwise(ins: Sequence[Sequence[int]], out: Sequence[int], whole: Sequence[int] = ()) -> tuple[Matrix, ...]:
    """Elementwise ops (activations, normalisations in evaluation, add, mul
    with broadcasting); ``whole`` names axes read entirely (softmax's).
    Computed in closed form (:func:`broadcast_matrix`)."""
    return tuple(broadcast_matrix(x, out, whole) for x in ins)


def broadcast_matrix(x: Sequence[int], out: Sequence[int], whole: Sequence[int] = ()) -> Matrix:
    """``from_deps(x, out, broadcast_dep(x, out, whole))`` without walking
    the lines: the box is a product whose range along input axis ``i`` is
    all of it (``i`` in ``whole`` or of size 1) or the one position of output
    axis ``i + shift``. So along output axis ``j`` the line covers axis ``i``
    iff ``i`` is read whole or ``j`` is its aligned axis (of the same size);
    the centre reads all of a whole axis and one position of the others."""
    if any(n < 1 for n in (*x, *out)):
        return from_deps(x, out, broadcast_dep(x, out, whole))
    shift = len(out) - len(x)
    full = set(whole)
    rank = len(out)
    m = [[Level.NONE] * (rank + 1) for _ in range(len(x) + 1)]
    m[0][0] = Level.ONE
    for i, n in enumerate(x):
        read_all = i in full or n == 1
        count = n if read_all else 1
        if read_all:
            m[i + 1][0] = Level.ALL
        for j in range(rank):
            if read_all or (j == i + shift and out[j] >= n):
                m[i + 1][j + 1] = level(count, n)
    return tuple(tuple(row) for row in m)


def nothing(x: Sequence[int], out: Sequence[int]) -> Matrix:
    """An op whose output reads nothing of its input (a constant, such as
    ``zero``): every entry NONE, the batch axis included.
    ``from_deps(x, out, lambda o: None)`` in closed form."""
    return tuple(tuple(Level.NONE for _ in range(len(out) + 1)) for _ in range(len(x) + 1))


def unravel(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    index = []
    for n in reversed(shape):
        flat, v = divmod(flat, n)
        index.append(v)
    return tuple(reversed(index))


def ravel(index: Sequence[int], shape: Sequence[int]) -> int:
    flat = 0
    for v, n in zip(index, shape):
        flat = flat * n + v
    return flat


def regroup(x: Sequence[int], out: Sequence[int]) -> Matrix:
    """A reshape: the same elements in row-major order, new axes.

    ``pointwise(x, out, lambda o: unravel(ravel(o, out), x))`` computed with
    numpy over whole lines at once: flattening a [C, H, W] activation gives
    an output axis of millions of positions, which the position-by-position
    walk of :func:`from_deps` takes minutes over."""
    import numpy as np

    rank = len(out)
    centre = [n // 2 for n in out]
    c_flat = ravel(centre, out)
    strides = [1] * rank
    for j in range(rank - 2, -1, -1):
        strides[j] = strides[j + 1] * out[j + 1]
    m = [[Level.NONE] * (rank + 1) for _ in range(len(x) + 1)]
    m[0][0] = Level.ONE
    for i, n in enumerate(x):
        if n == 1:  # the centre reads the whole of a length-1 axis
            m[i + 1][0] = Level.ALL
    chunk = 1 << 20  # positions per step, so that a long line needs little memory
    for j in range(rank):
        seen = [np.zeros(n, dtype=bool) for n in x]
        for lo in range(0, out[j], chunk):
            t = np.arange(lo, min(out[j], lo + chunk), dtype=np.int64)
            coords = np.unravel_index(c_flat + (t - centre[j]) * strides[j], tuple(x))
            for i in range(len(x)):
                seen[i][coords[i]] = True
        for i, n in enumerate(x):
            if seen[i].all():
                m[i + 1][j + 1] = level(1, n)
    return tuple(tuple(row) for row in m)
