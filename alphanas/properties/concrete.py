"""The concrete reference semantics of the properties, measured on the built
PyTorch module; the abstract inferences are tested against it.

:func:`probe_mixing` measures the mixing property (αNAS's linear operator
pairing) from Jacobians of the module in evaluation mode, float64, batch 3:

- ``c`` is the centre element of the output (index ``size // 2`` on every
  axis, batch included), ``S`` the line of the output through ``c`` along
  output axis ``j``;
- input axis ``i`` is paired with ``j`` when every position along ``i``
  influences some element of ``S`` (a nonzero Jacobian entry);
- a paired entry is ALL when every position along ``i`` influences ``c``,
  MANY when more than one does, ONE otherwise (also when the centre is fed
  by another input, as across a concat); unpaired entries are NONE.

"Influences" is structural: an entry counts when it is nonzero for some
draw of weights and inputs. Weights and statistics are redrawn generic
(nothing cancels to an exact zero by accident), the first draw keeps every
value positive (relus active), and draws go on until the union of the
nonzero masks stops changing (max pooling routes a gradient to one argmax per
window, so a window is seen whole only over several draws).
"""

from __future__ import annotations

import torch

from alphanas.analysis import analyze
from alphanas.codegen import build
from alphanas.ir import Program
from alphanas.properties import Level
from alphanas.properties.mixing import Mixing

BATCH = 3


def _redraw(module: torch.nn.Module, gen: torch.Generator, positive: bool) -> None:
    with torch.no_grad():
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if not t.is_floating_point():
                continue
            if positive or name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen, dtype=t.dtype) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen, dtype=t.dtype))


def _masks(module: torch.nn.Module, shapes, gen: torch.Generator, positive: bool) -> tuple[torch.Tensor, ...]:
    """For each input, the nonzero mask of d output / d input (output axes
    then input axes, batch included) at one draw."""
    _redraw(module, gen, positive)
    xs = tuple(
        (torch.rand if positive else torch.randn)((BATCH, *s), generator=gen, dtype=torch.float64)
        + (0.5 if positive else 0.0)
        for s in shapes
    )
    try:
        jac = torch.autograd.functional.jacobian(module, xs, vectorize=True)
    except RuntimeError:  # an op without a batching rule: one backward per output
        jac = torch.autograd.functional.jacobian(module, xs)
    return tuple(j != 0 for j in jac)


def _level(mask: torch.Tensor, i: int, j: int, centre: tuple[int, ...]) -> Level:
    """The entry (input axis i, output axis j) of one input's mask."""
    line = mask[(*centre[:j], slice(None), *centre[j + 1 :])]  # [n_j, *input]
    # the slice axis is axis 0 of `line`, input axis i is axis i + 1
    others = [d for d in range(line.ndim) if d != i + 1]
    if not bool(line.any(dim=others).all()):
        return Level.NONE
    at = mask[centre]
    rest = [d for d in range(at.ndim) if d != i]
    count = int((at.any(dim=rest) if rest else at).sum())
    size = at.shape[i]
    if count == size:
        return Level.ALL
    return Level.MANY if count > 1 else Level.ONE


def probe_mixing(program: Program, seed: int = 0, patience: int = 6, max_draws: int = 64) -> Mixing:
    """The concrete mixing of a program (see the module's docstring): the
    union of nonzero Jacobian masks over draws, until ``patience`` draws in a
    row add nothing (at most ``max_draws``)."""
    inst = analyze(program)
    module = build(program, inst).double().eval()
    shapes = [inst.shapes[i.id] for i in inst.graph.inputs]
    gen = torch.Generator().manual_seed(seed)
    masks = list(_masks(module, shapes, gen, positive=True))
    quiet = 0
    for _ in range(max_draws - 1):
        if quiet >= patience:
            break
        new = _masks(module, shapes, gen, positive=False)
        grown = any(bool((n & ~m).any()) for n, m in zip(new, masks))
        masks = [m | n for m, n in zip(masks, new)]
        quiet = 0 if grown else quiet + 1
    out_shape = (BATCH, *inst.output_shape)
    centre = tuple(n // 2 for n in out_shape)
    pairs = {}
    for inp, mask in zip(inst.graph.inputs, masks):
        in_rank = len(inst.shapes[inp.id]) + 1
        pairs[(inp.id, inst.graph.output)] = tuple(
            tuple(_level(mask, i, j, centre) for j in range(len(out_shape)))
            for i in range(in_rank)
        )
    return Mixing.of(pairs)
