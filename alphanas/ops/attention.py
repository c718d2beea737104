"""Attention and learned tensors (class token, positional embedding)."""

from __future__ import annotations

from collections.abc import Sequence

from alphanas.ops import arith, mixrules
from alphanas.ops.levels import Matrix
from alphanas.ops.registry import register
from alphanas.ops.spec import Attrs, Check, Cost, Op, Shape, param

#: how `param` initialises its tensor (see modules.LearnedTensor)
INITS = ("zeros", "ones", "normal")


@register
class LearnedParam(Op):
    name = "param"
    arity = 0
    synthesize = False
    params = (
        param("shape", "ints", positional=True, doc="the per-sample shape of the tensor"),
        param("init", "str", "zeros", doc='"zeros", "ones" or "normal" (std 0.02)'),
    )
    doc = (
        "A learned tensor shared by every sample (no tensor input): "
        "class token, positional embedding, layer scale."
    )

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        check.require(len(a.shape) >= 1, "param: shape must have at least one axis")
        for n in a.shape:
            check.require(n >= 1, f"param: sizes {list(a.shape)} must be positive")
        check.require(a.init in INITS, f"param: init must be one of {', '.join(INITS)}, not {a.init!r}")
        return tuple(a.shape)

    def cost(self, ins, a, out) -> Cost:
        # One tensor for the whole batch: parameters, but no per-sample activations.
        return Cost(params=arith.prod(out))

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        return ()  # no tensor input

    def torch_module(self, ins, a, out) -> str:
        return f'LearnedTensor({list(out)}, init="{a.init}")'

    def torch_call(self, xs, m, ins, a, out) -> str:
        return f"{m}()"


@register
class Attention(Op):
    name = "attention"
    params = (
        param("heads", "int", positional=True, size=True, doc="number of heads; divides the features", domain="heads"),
        param("dropout", "float", 0.0, doc="dropout on the attention weights, in training"),
        param("bias", "bool", True, doc="biases in the input and output projections"),
    )
    depth_kind = "nonlinear"
    doc = "Multi-head self-attention over an [L, D] input (tokens × features), torch's nn.MultiheadAttention."

    def shape(self, check: Check, ins: Sequence[Shape], a: Attrs) -> Shape:
        (x,) = ins
        check.require(
            len(x) == 2, f"attention expects an [L, D] input (tokens × features), got {list(x)}"
        )
        length, dim = x
        check.require(a.heads >= 1, f"attention: heads={a.heads} must be at least 1")
        check.require(dim % a.heads == 0, f"attention: features {dim} are not divisible by heads={a.heads}")
        check.require(0.0 <= a.dropout < 1.0, f"attention: dropout={a.dropout} must be in [0, 1)")
        return (length, dim)

    def cost(self, ins, a, out) -> Cost:
        length, dim = ins[0]
        tokens = length * dim
        # Projections: queries, keys, values (3D outputs) and the output (D).
        projections = 2 * tokens * 3 * dim + 2 * tokens * dim
        # Scores q·k and the weighted sum of values: each L×L×D multiply-adds.
        mixing = 2 * 2 * length * length * dim
        softmax = 3 * a.heads * length * length
        biases = 4 * tokens if a.bias else 0
        scaling = tokens  # queries divided by sqrt(D / heads)
        return Cost(
            params=4 * dim * dim + (4 * dim if a.bias else 0),
            matmul_flops=projections + mixing,
            other_flops=softmax + biases + scaling,
            activations=tokens,
        )

    def mixing(self, ins: Sequence[Shape], a: Attrs, out: Shape) -> tuple[Matrix, ...]:
        # every token and feature of a sample feeds every output of the sample
        return mixrules.elementwise(ins, out, whole=[0, 1])

    def torch_module(self, ins, a, out) -> str:
        # batch_first: our tensors are [batch, L, D]; the parameter names and
        # shapes are those of torchvision's ViT (in_proj_weight, out_proj...).
        return (
            f"nn.MultiheadAttention({ins[0][1]}, {a.heads}, dropout={a.dropout!r}, "
            f"bias={a.bias}, batch_first=True)"
        )

    def torch_call(self, xs, m, ins, a, out) -> str:
        x = xs[0]
        return f"{m}({x}, {x}, {x}, need_weights=False)[0]"
