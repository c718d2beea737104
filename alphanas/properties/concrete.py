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

Only unions of Jacobian rows are read — over each line through ``c``, and
``c``'s own row — so each is computed as one vector-Jacobian product with
generic positive weights on the line (one batched backward pass per draw,
``rank + 2`` seeds, instead of the full Jacobian).
"""

from __future__ import annotations

import torch

from alphanas.lang.analysis import analyze
from alphanas.lang.ir import Program
from alphanas.properties import Level
from alphanas.properties.mixing import Mixing
from alphanas.pytorch.codegen import build

BATCH = 3


def _redraw(module: torch.nn.Module, gen: torch.Generator, positive: bool) -> None:
    """Generic weights and statistics. Weights of rank ≥ 2 (convolutions,
    dense layers, attention projections) are scaled by their fan-in (1/fan_in
    in the positive draw, 1/sqrt(fan_in) otherwise) so that activations stay
    of order one: saturating ops (relu6, hardsigmoid, hardswish) are then in
    their sloped range often enough for the masks to converge."""
    with torch.no_grad():
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if not t.is_floating_point():
                continue
            if positive and name.endswith("running_mean"):
                t.zero_()  # normalised values stay positive: relus after batchnorm active
            elif positive or name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen, dtype=t.dtype) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen, dtype=t.dtype))
            if t.ndim >= 2 and not name.endswith(("running_mean", "running_var")):
                fan_in = max(1, t[0].numel())
                t.div_(fan_in if positive else fan_in**0.5)


def _seeds(out_shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Backward seeds: for each output axis ``j``, random positive weights on
    the line through the centre along ``j`` (zero elsewhere), then a one-hot
    seed at the centre. A weighted sum of a line's Jacobian rows is nonzero
    where some row of the line is (generic weights: nothing cancels), and the
    union over the line is all that the entries read, so one backward pass
    per line is enough."""
    centre = tuple(n // 2 for n in out_shape)
    seeds = torch.zeros((len(out_shape) + 1, *out_shape), dtype=torch.float64)
    for j, n in enumerate(out_shape):
        index = (j, *centre[:j], slice(None), *centre[j + 1 :])
        seeds[index] = torch.rand(n, generator=gen, dtype=torch.float64) + 0.5
    seeds[(len(out_shape), *centre)] = 1.0
    return seeds


def _masks(module: torch.nn.Module, shapes, gen: torch.Generator, positive: bool) -> tuple[torch.Tensor, ...]:
    """For each input, the nonzero masks ``[rank + 2, batch, *input]`` of the
    line-weighted Jacobian rows (one per output axis, batch included) and of
    the centre's row, at one draw (see :func:`_seeds`)."""
    _redraw(module, gen, positive)
    xs = tuple(
        ((torch.rand if positive else torch.randn)((BATCH, *s), generator=gen, dtype=torch.float64)
         + (0.5 if positive else 0.0)).requires_grad_()
        for s in shapes
    )
    y = module(*xs)
    seeds = _seeds(tuple(y.shape), gen)
    if not y.requires_grad:  # the output reads neither the inputs nor a weight
        return tuple(torch.zeros((len(seeds), *x.shape), dtype=torch.bool) for x in xs)
    try:
        grads = torch.autograd.grad(y, xs, seeds, is_grads_batched=True, allow_unused=True, retain_graph=True)
    except RuntimeError:  # an op without a batching rule: one backward per seed
        per_seed = [torch.autograd.grad(y, xs, seed, allow_unused=True, retain_graph=True) for seed in seeds]
        grads = tuple(
            None if per_seed[0][k] is None else torch.stack([g[k] for g in per_seed]) for k in range(len(xs))
        )
    return tuple(
        torch.zeros((len(seeds), *x.shape), dtype=torch.bool) if g is None else g != 0 for g, x in zip(grads, xs)
    )


def _level(mask: torch.Tensor, i: int, j: int) -> Level:
    """The entry (input axis i, output axis j) of one input's masks: ``mask[j]``
    is what the line along output axis j reads, ``mask[-1]`` what the centre
    reads (input axes batch first)."""
    line = mask[j]
    others = [d for d in range(line.ndim) if d != i]
    if not bool((line.any(dim=others) if others else line).all()):
        return Level.NONE
    at = mask[-1]
    count = int((at.any(dim=others) if others else at).sum())
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
    out_shape = (BATCH, *inst.output_shape)
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
    pairs = {}
    for k, (inp, mask) in enumerate(zip(inst.graph.inputs, masks)):
        in_rank = len(inst.shapes[inp.id]) + 1
        pairs[(k, 0)] = tuple(tuple(_level(mask, i, j) for j in range(len(out_shape))) for i in range(in_rank))
    return Mixing.of(pairs, (tuple(inst.graph.input_ids), (inst.graph.output,)))
