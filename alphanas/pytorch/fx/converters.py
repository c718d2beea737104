"""The converters: one small function per kind of torch module, function or
Tensor method, and the three tables that map torch's targets to them
(:data:`MODULE_CONVERTERS`, :data:`FUNCTION_CONVERTERS`, :data:`METHOD_CONVERTERS`).

The op library (:mod:`alphanas.ops`) is the only one that knows our names for
ops, so the converters below only construct nodes, through the
:class:`~alphanas.pytorch.fx.context._Context`. To support a new layer, write
a converter and register it in one of the tables.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from alphanas.pytorch.fx.context import (
    _FAILED,
    BATCH,
    Converter,
    _Attr,
    _bind,
    _Cascade,
    _Context,
    _label,
    _Multi,
    _square,
    _Weights,
)

# -- converters: layers ----------------------------------------------------------------


def _module(node: fx.Node) -> _Weights:
    return _Weights(module=str(node.target))


def _conv2d(c: _Context, node: fx.Node, m: nn.Conv2d) -> str:
    if m.padding_mode != "zeros":
        c.fail(f"padding_mode={m.padding_mode!r}; the language pads with zeros")
    k = _square(c, m.kernel_size, "kernel_size")
    s = _square(c, m.stride, "stride")
    d = _square(c, m.dilation, "dilation")
    if m.padding == "valid":
        p = 0
    elif m.padding == "same":
        if (d * (k - 1)) % 2:
            c.fail("padding='same' with an even window pads unevenly")
        p = d * (k - 1) // 2
    else:
        p = _square(c, m.padding, "padding")
    return c.emit("conv2d", [c.x(node.args[0])], weights=_module(node), out=m.out_channels,
                  k=k, s=s, p=p, d=d, groups=m.groups, bias=m.bias is not None)


def _linear(c: _Context, node: fx.Node, m: nn.Linear) -> str:
    return c.emit("dense", [c.x(node.args[0])], weights=_module(node), out=m.out_features, bias=m.bias is not None)


def _batchnorm(c: _Context, node: fx.Node, m: nn.modules.batchnorm._BatchNorm) -> str:
    if not m.track_running_stats or m.momentum is None:
        c.fail("batch norm without running statistics (or with a cumulative average) is not the library's batchnorm")
    return c.emit("batchnorm", [c.x(node.args[0])], weights=_module(node), eps=m.eps, momentum=m.momentum, affine=m.affine)


def _layernorm(c: _Context, node: fx.Node, m: nn.LayerNorm) -> str:
    if m.elementwise_affine and m.bias is None:
        c.fail("layer norm with a weight but no bias")
    return c.emit("layernorm", [c.x(node.args[0])], weights=_module(node),
                  dims=len(m.normalized_shape), eps=m.eps, affine=m.elementwise_affine)


def _groupnorm(c: _Context, node: fx.Node, m: nn.GroupNorm) -> str:
    return c.emit("groupnorm", [c.x(node.args[0])], weights=_module(node), groups=m.num_groups, eps=m.eps, affine=m.affine)


def _activation(op: str, **fixed: Any) -> Converter:
    """A converter for an elementwise activation (module, function or method)."""

    def convert(c: _Context, node: fx.Node, target: Any) -> str:
        return c.emit(op, [c.x(node.args[0] if node.args else node.kwargs["input"])], **fixed)

    return convert


def _gelu_module(c: _Context, node: fx.Node, m: nn.GELU) -> str:
    return c.emit("gelu", [c.x(node.args[0])], approximate=m.approximate)


def _gelu_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "approximate"])
    return c.emit("gelu", [c.x(a["input"])], approximate=c.const(a.get("approximate", "none")))


def _softmax_at(c: _Context, node: fx.Node, x: Any, dim: Any) -> str:
    if dim is None:
        c.fail("softmax without an explicit dim")
    rank = len(c.full_shape(x))
    d = c.axis(dim, rank, "dim")
    return c.emit("softmax", [c.x(x)], dim=-1 if d == rank - 2 else d)


def _softmax_module(c: _Context, node: fx.Node, m: nn.Softmax) -> str:
    return _softmax_at(c, node, node.args[0], m.dim)


def _softmax_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "dim"])
    if c.const(node.kwargs.get("dtype")) is not None:
        c.fail("softmax with a dtype")
    return _softmax_at(c, node, a["input"], c.const(a.get("dim")))


def _pool(c: _Context, node: fx.Node, op: str, x: Any, k: Any, s: Any, p: Any, ceil: Any) -> str:
    k = _square(c, c.const(k), "kernel_size")
    s = c.const(s)
    s = k if s is None or len(s if isinstance(s, (tuple, list)) else [s]) == 0 else _square(c, s, "stride")
    p = _square(c, c.const(p), "padding")
    # the library's default stride is the window: leave it out then, as one writes it
    return c.emit(op, [c.x(x)], k=k, s=None if s == k else s, p=p, ceil=bool(c.const(ceil)))


def _maxpool_module(c: _Context, node: fx.Node, m: nn.MaxPool2d) -> str:
    if _square(c, m.dilation, "dilation") != 1 or m.return_indices:
        c.fail("max pooling with dilation or returned indices")
    return _pool(c, node, "maxpool", node.args[0], m.kernel_size, m.stride, m.padding, m.ceil_mode)


def _maxpool_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"])
    if _square(c, c.const(a.get("dilation", 1)), "dilation") != 1 or c.const(a.get("return_indices", False)):
        c.fail("max pooling with dilation or returned indices")
    return _pool(c, node, "maxpool", a["input"], a["kernel_size"], a.get("stride"), a.get("padding", 0), a.get("ceil_mode", False))


def _avgpool_checks(c: _Context, p: Any, count_include_pad: Any, divisor_override: Any) -> None:
    # the library's avgpool counts the zero padding, as torch does by default
    if _square(c, c.const(p), "padding") and not c.const(count_include_pad):
        c.fail("average pooling that excludes the padding from the count")
    if c.const(divisor_override) is not None:
        c.fail("average pooling with divisor_override")


def _avgpool_module(c: _Context, node: fx.Node, m: nn.AvgPool2d) -> str:
    _avgpool_checks(c, m.padding, m.count_include_pad, m.divisor_override)
    return _pool(c, node, "avgpool", node.args[0], m.kernel_size, m.stride, m.padding, m.ceil_mode)


def _avgpool_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"])
    _avgpool_checks(c, a.get("padding", 0), a.get("count_include_pad", True), a.get("divisor_override"))
    return _pool(c, node, "avgpool", a["input"], a["kernel_size"], a.get("stride"), a.get("padding", 0), a.get("ceil_mode", False))


def _adaptive(op: str) -> Converter:
    def convert(c: _Context, node: fx.Node, target: Any) -> str:
        if isinstance(target, nn.Module):
            x, size = node.args[0], target.output_size
        else:
            a = _bind(node, ["input", "output_size"])
            x, size = a["input"], c.const(a["output_size"])
        if isinstance(size, (tuple, list)) and None in size:
            c.fail(f"output_size {tuple(size)} keeps an input size")
        return c.emit(op, [c.x(x)], size=_square(c, size, "output_size"))

    return convert


def _dropout_module(c: _Context, node: fx.Node, m: nn.Dropout) -> str:
    return c.emit("dropout", [c.x(node.args[0])], p=m.p)


def _dropout_function(c: _Context, node: fx.Node, fn: Any) -> str:
    # `training` is the traced (eval) mode; the library's dropout follows the
    # module's mode, as F.dropout(x, p, self.training) does
    a = _bind(node, ["input", "p", "training", "inplace"])
    return c.emit("dropout", [c.x(a["input"])], p=c.const(a.get("p", 0.5)))


def _identity(c: _Context, node: fx.Node, target: Any) -> str:
    """A value that is its input: no op (nn.Identity, .contiguous(), .clone())."""
    return c.x(node.args[0] if node.args else node.kwargs["input"])


def _same_dtype(c: _Context, node: fx.Node, target: Any) -> str:
    """``.to()``/``.float()``/``.type_as()``: the identity when nothing changes."""
    if c.meta(node).dtype != c.meta(node.args[0]).dtype:
        c.fail(f"a conversion to {c.meta(node).dtype}")
    return c.x(node.args[0])


def _flatten_at(c: _Context, x: Any, start: Any, end: Any) -> str:
    rank = len(c.full_shape(x))
    s, e = c.axis(c.const(start), rank, "start_dim"), c.axis(c.const(end), rank, "end_dim")
    if s == e:
        return c.x(x)
    return c.emit("flatten", [c.x(x)], start=s, end=-1 if e == rank - 2 else e)


def _flatten_module(c: _Context, node: fx.Node, m: nn.Flatten) -> str:
    return _flatten_at(c, node.args[0], m.start_dim, m.end_dim)


def _flatten_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["start_dim", "end_dim"], skip=1)  # x comes first as function and method
    return _flatten_at(c, node.args[0], a.get("start_dim", 0), a.get("end_dim", -1))


def _attention(c: _Context, node: fx.Node, m: nn.MultiheadAttention) -> _Multi:
    a = _bind(node, ["query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
                     "average_attn_weights", "is_causal"])
    if not (a["query"] is a["key"] is a["value"]):
        c.fail("attention whose query, key and value differ (the library has self-attention)")
    for mask in ("key_padding_mask", "attn_mask"):
        if a.get(mask) is not None:
            c.fail(f"attention with {mask}")
    if c.const(a.get("is_causal", False)):
        c.fail("causal attention")
    if not m.batch_first:
        c.fail("nn.MultiheadAttention(batch_first=False) reads axis 1 as the batch")
    if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
        c.fail("attention with kdim/vdim, add_bias_kv or add_zero_attn")
    value = c.emit("attention", [c.x(a["query"])], weights=_module(node), heads=m.num_heads,
                   dropout=m.dropout, bias=m.in_proj_bias is not None)

    def pick(i: int) -> str:
        if i != 0:
            c.fail("the attention weights (the second output of nn.MultiheadAttention)")
        return value

    return _Multi(pick)


def _stochastic_depth_module(c: _Context, node: fx.Node, m: Any) -> str:
    return c.emit("stochastic_depth", [c.x(node.args[0])], p=m.p, mode=m.mode)


def _stochastic_depth_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "p", "mode", "training"])
    return c.emit("stochastic_depth", [c.x(a["input"])], p=c.const(a["p"]), mode=c.const(a["mode"]))


def _layer_norm_function(c: _Context, node: fx.Node, fn: Any) -> str:
    a = _bind(node, ["input", "normalized_shape", "weight", "bias", "eps"])
    weight, bias = a.get("weight"), a.get("bias")
    tensors = []
    for our, arg in (("weight", weight), ("bias", bias)):
        if arg is None:
            continue
        v = c.env.get(arg) if isinstance(arg, fx.Node) else None
        if not isinstance(v, _Attr):
            c.fail(f"layer_norm's {our} is computed, not a parameter")
        # nn.LayerNorm's names: the library's layernorm is an nn.LayerNorm
        tensors.append((our, v.target))
    if (weight is None) != (bias is None):
        c.fail("layer_norm with only one of weight and bias")
    shape = c.const(a["normalized_shape"])
    dims = 1 if isinstance(shape, int) else len(shape)
    return c.emit("layernorm", [c.x(a["input"])], weights=_Weights(tensors=tuple(tensors)) if tensors else None,
                  dims=dims, eps=c.const(a.get("eps", 1e-5)), affine=weight is not None)


# -- converters: arithmetic -------------------------------------------------------------


def _arith_args(node: fx.Node) -> tuple[list[Any], float]:
    """The two operands of a binary call, and ``alpha`` of torch.add/sub."""
    a = _bind(node, ["input", "other"])
    return [a["input"], a["other"]], node.kwargs.get("alpha", 1)


def _scaled(c: _Context, v: str, factor: float, label: str | None = None) -> str:
    return v if factor == 1.0 else c.emit("scale", [v], factor=factor, label=label)


def _add(sign: float) -> Converter:
    """x + y (sign 1) or x - y (sign -1, as add(x, scale(y, -1)): the library has no sub)."""

    def convert(c: _Context, node: fx.Node, target: Any) -> str:
        (left, right), alpha = _arith_args(node)
        rank = len(c.full_shape(node))
        x, y = c.operand(left, rank), c.operand(right, rank)
        factor = sign * float(c.const(alpha))
        if isinstance(y, float) and y * factor == 0.0 and isinstance(x, str):
            return x
        if isinstance(x, float) or isinstance(y, float):
            c.fail("adding a constant to a tensor (the library has no constant shift)")
        # the operand's own name (sub_neg) keeps `add` for the sum
        operand = _scaled(c, y, factor, label=f"{_label(node)}_{'neg' if factor == -1.0 else 'scaled'}")
        return c.emit("add", [x, operand])

    return convert


def _mul(c: _Context, node: fx.Node, target: Any) -> str:
    (left, right), _ = _arith_args(node)
    rank = len(c.full_shape(node))
    operands = [c.operand(left, rank), c.operand(right, rank)]
    tensors = [v for v in operands if isinstance(v, str)]
    factor = math.prod(v for v in operands if isinstance(v, float))
    value = tensors[0] if len(tensors) == 1 else c.emit("mul", tensors)
    return _scaled(c, value, factor)


def _div(c: _Context, node: fx.Node, target: Any) -> str:
    (left, right), _ = _arith_args(node)
    if node.kwargs.get("rounding_mode") is not None:
        c.fail("division with rounding")
    rank = len(c.full_shape(node))
    x, y = c.operand(left, rank), c.operand(right, rank)
    if not isinstance(x, str) or not isinstance(y, float) or y == 0.0:
        c.fail("division other than of a tensor by a nonzero number")
    return _scaled(c, x, 1.0 / y)


def _neg(c: _Context, node: fx.Node, target: Any) -> str:
    return c.emit("scale", [c.x(node.args[0])], factor=-1.0)


def _cat(c: _Context, node: fx.Node, target: Any) -> str:
    a = _bind(node, ["tensors", "dim"])
    tensors = list(a["tensors"])
    rank = len(c.full_shape(node))
    values = [c.x(t) for t in tensors]
    if len(values) == 1:
        return values[0]
    return c.emit("concat", values, dim=c.axis(c.const(a.get("dim", 0)), rank, "dim"))


def _mean(c: _Context, node: fx.Node, target: Any) -> str:
    a = _bind(node, ["dim", "keepdim"], skip=1)
    if c.const(node.kwargs.get("dtype")) is not None:
        c.fail("mean with a dtype")
    x = node.args[0]
    rank = len(c.full_shape(x))
    dims = c.const(a.get("dim"))
    if dims is None:
        c.fail("a mean over every axis, the batch included")
    dims = [dims] if isinstance(dims, int) else list(dims)
    return c.emit("mean", [c.x(x)], dims=[c.axis(d, rank, "dim") for d in dims], keep=bool(c.const(a.get("keepdim", False))))


# -- converters: shapes and axes ---------------------------------------------------------


def _reshape(c: _Context, node: fx.Node, target: Any) -> str:
    """view/reshape/squeeze/unsqueeze/unflatten: the traced output shape is the
    new per-sample shape (the size arguments may be computed from x.size())."""
    x = node.args[0]
    value = c.x(x)
    out = c.out_shape()
    return value if out == c.shape(x) else c.emit("reshape", [value], shape=out)


def _permute(c: _Context, node: fx.Node, target: Any) -> str:
    x = node.args[0]
    dims = c.const(node.args[1:] or node.kwargs["dims"])
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = dims[0]
    rank = len(c.full_shape(x))
    dims = [d + rank if d < 0 else d for d in dims]
    if not dims or dims[0] != 0:
        c.fail(f"permute({list(dims)}) moves the batch axis")
    per_sample = [c.axis(d, rank) for d in dims[1:]]
    if per_sample == sorted(per_sample):
        return c.x(x)
    return c.emit("permute", [c.x(x)], dims=per_sample)


def _transpose(c: _Context, node: fx.Node, target: Any) -> str:
    a = _bind(node, ["dim0", "dim1"], skip=1)
    for ours, alias in (("dim0", "axis0"), ("dim1", "axis1")):  # swapaxes' names
        a.setdefault(ours, node.kwargs.get(alias))
    x = node.args[0]
    rank = len(c.full_shape(x))
    d0, d1 = c.axis(c.const(a["dim0"]), rank), c.axis(c.const(a["dim1"]), rank)
    if d0 == d1:
        return c.x(x)
    return c.emit("transpose", [c.x(x)], a=min(d0, d1), b=max(d0, d1))


def _expand(c: _Context, node: fx.Node, target: Any) -> str:
    """expand() over the batch: a parameter shared by every sample (ViT's
    class token) becomes a ``param``; a batched tensor expanded to its own
    shape is itself."""
    x = node.args[0]
    out = c.meta(node).shape
    v = c.env.get(x)
    if isinstance(v, _Attr):
        s = c.values[x].shape
        if len(s) == len(out) and s[0] == 1 and tuple(s[1:]) == tuple(out[1:]) and c.batched(node):
            return c.param(x, tuple(s[1:]))
        c.fail(f"expand of parameter {v.target} along a per-sample axis")
    if c.shape(x) == c.out_shape():
        return c.x(x)
    return c.fail("expand along a per-sample axis (the library has no broadcast op)")


def _pieces(c: _Context, node: fx.Node, x: Any, dim: Any, squeeze: bool = False) -> _Multi:
    """chunk/split/unbind: each item picked by getitem becomes a ``slice``
    (and, for unbind, a ``reshape`` dropping the axis), named after the call."""
    rank = len(c.full_shape(x))
    d = c.axis(c.const(dim), rank, "dim")
    items = c.values[node]
    sizes = [1 if squeeze else m.shape[d + 1] for m in items]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    label = _label(node)
    source = c.x(x)

    def pick(i: int) -> str:
        if not -len(sizes) <= i < len(sizes):
            c.fail(f"item {i} of {len(sizes)}")
        i %= len(sizes)
        v = c.emit("slice", [source], label=label, dim=d, start=starts[i], end=starts[i] + sizes[i])
        if squeeze:
            v = c.emit("reshape", [v], label=label, shape=items[i].shape[1:])
        return v

    return _Multi(pick)


def _chunk(c: _Context, node: fx.Node, target: Any) -> _Multi:
    a = _bind(node, ["input", "chunks", "dim"])
    return _pieces(c, node, a["input"], a.get("dim", 0))


def _split(c: _Context, node: fx.Node, target: Any) -> _Multi:
    a = _bind(node, ["tensor", "split_size_or_sections", "dim"])
    a.setdefault("dim", node.kwargs.get("dim", 0))
    return _pieces(c, node, a["tensor"], a.get("dim", 0))


def _unbind(c: _Context, node: fx.Node, target: Any) -> _Multi:
    a = _bind(node, ["input", "dim"])
    return _pieces(c, node, a["input"], a.get("dim", 0), squeeze=True)


def _getitem(c: _Context, node: fx.Node, target: Any) -> str:
    source, index = node.args
    v = c.env.get(source)
    if v is _FAILED:
        raise _Cascade
    if isinstance(v, _Multi):
        i = c.const(index)
        if not isinstance(i, int):
            c.fail(f"index {i!r} into the outputs of {source.name}")
        return v.get(i)
    return _index(c, node, source, c.const(index))


def _index(c: _Context, node: fx.Node, x: fx.Node, index: Any) -> str:
    """x[...] with ints, slices, None and Ellipsis: a ``slice`` per narrowed
    axis, then a ``reshape`` if ints dropped axes or None added some."""
    full = c.full_shape(x)
    index = index if isinstance(index, tuple) else (index,)
    if any(not isinstance(i, (int, slice, type(None), type(Ellipsis))) or isinstance(i, bool) for i in index):
        c.fail("indexing with tensors or lists")
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if index.count(Ellipsis) > 1 or used > len(full):
        c.fail(f"index {index!r}")
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(full) - used) + index[at + 1 :]
    value, axis, reshape = c.x(x), 0, False
    for i in index:
        if i is None:
            reshape = True
            continue
        if axis == 0:
            if not (isinstance(i, slice) and i.indices(BATCH) == (0, BATCH, 1)):
                c.fail("indexing that selects samples of the batch")
        elif isinstance(i, slice):
            start, stop, step = i.indices(full[axis])
            if step < 1 or stop <= start:
                c.fail(f"slice {i} (reversed or empty)")
            if (start, stop, step) != (0, full[axis], 1):
                value = c.emit("slice", [value], dim=axis - 1, start=start, end=stop, step=step)
        else:
            j = i + full[axis] if i < 0 else i
            value = c.emit("slice", [value], dim=axis - 1, start=j, end=j + 1)
            reshape = True
        axis += 1
    if reshape:
        value = c.emit("reshape", [value], shape=c.out_shape())
    return value


# -- the tables --------------------------------------------------------------------------


def _torchvision_modules() -> dict[type, Converter]:
    try:
        from torchvision.ops import StochasticDepth
    except ImportError:  # torchvision is optional for importing plain torch models
        return {}
    return {StochasticDepth: _stochastic_depth_module}


#: exact module types to converters; these modules stay whole when tracing
MODULE_CONVERTERS: dict[type, Converter] = {
    nn.Conv2d: _conv2d,
    nn.Linear: _linear,
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.LayerNorm: _layernorm,
    nn.GroupNorm: _groupnorm,
    nn.ReLU: _activation("relu"),
    nn.ReLU6: _activation("relu6"),
    nn.GELU: _gelu_module,
    nn.SiLU: _activation("silu"),
    nn.Hardswish: _activation("hardswish"),
    nn.Hardsigmoid: _activation("hardsigmoid"),
    nn.Sigmoid: _activation("sigmoid"),
    nn.Tanh: _activation("tanh"),
    nn.Softmax: _softmax_module,
    nn.MaxPool2d: _maxpool_module,
    nn.AvgPool2d: _avgpool_module,
    nn.AdaptiveAvgPool2d: _adaptive("adaptive_avgpool"),
    nn.AdaptiveMaxPool2d: _adaptive("adaptive_maxpool"),
    nn.Dropout: _dropout_module,
    nn.Identity: _identity,
    nn.Flatten: _flatten_module,
    nn.Unflatten: _reshape,
    nn.MultiheadAttention: _attention,
    **_torchvision_modules(),
}


def _torchvision_functions() -> dict[Any, Converter]:
    try:
        from torchvision.ops import stochastic_depth
    except ImportError:
        return {}
    return {stochastic_depth: _stochastic_depth_function}


#: functions (call_function targets) to converters
FUNCTION_CONVERTERS: dict[Any, Converter] = {
    operator.add: _add(1.0),
    operator.iadd: _add(1.0),
    torch.add: _add(1.0),
    operator.sub: _add(-1.0),
    operator.isub: _add(-1.0),
    torch.sub: _add(-1.0),
    operator.mul: _mul,
    operator.imul: _mul,
    torch.mul: _mul,
    operator.truediv: _div,
    operator.itruediv: _div,
    torch.div: _div,
    operator.neg: _neg,
    operator.getitem: _getitem,
    torch.cat: _cat,
    torch.concat: _cat,
    torch.flatten: _flatten_function,
    torch.mean: _mean,
    torch.reshape: _reshape,
    torch.squeeze: _reshape,
    torch.unsqueeze: _reshape,
    torch.permute: _permute,
    torch.transpose: _transpose,
    torch.swapaxes: _transpose,
    torch.swapdims: _transpose,
    torch.chunk: _chunk,
    torch.split: _split,
    torch.unbind: _unbind,
    torch.relu: _activation("relu"),
    F.relu: _activation("relu"),
    F.relu6: _activation("relu6"),
    F.gelu: _gelu_function,
    F.silu: _activation("silu"),
    F.hardswish: _activation("hardswish"),
    F.hardsigmoid: _activation("hardsigmoid"),
    torch.sigmoid: _activation("sigmoid"),
    F.sigmoid: _activation("sigmoid"),
    torch.tanh: _activation("tanh"),
    F.tanh: _activation("tanh"),
    torch.softmax: _softmax_function,
    F.softmax: _softmax_function,
    F.max_pool2d: _maxpool_function,
    F.avg_pool2d: _avgpool_function,
    F.adaptive_avg_pool2d: _adaptive("adaptive_avgpool"),
    F.adaptive_max_pool2d: _adaptive("adaptive_maxpool"),
    F.dropout: _dropout_function,
    F.layer_norm: _layer_norm_function,
    **_torchvision_functions(),
}

#: Tensor methods (call_method targets) to converters
METHOD_CONVERTERS: dict[str, Converter] = {
    "add": _add(1.0),
    "sub": _add(-1.0),
    "mul": _mul,
    "div": _div,
    "neg": _neg,
    "view": _reshape,
    "reshape": _reshape,
    "squeeze": _reshape,
    "unsqueeze": _reshape,
    "flatten": _flatten_function,
    "mean": _mean,
    "permute": _permute,
    "transpose": _transpose,
    "swapaxes": _transpose,
    "swapdims": _transpose,
    "expand": _expand,
    "chunk": _chunk,
    "split": _split,
    "unbind": _unbind,
    "relu": _activation("relu"),
    "sigmoid": _activation("sigmoid"),
    "tanh": _activation("tanh"),
    "softmax": _softmax_function,
    "contiguous": _identity,
    "clone": _identity,
    "to": _same_dtype,
    "type_as": _same_dtype,
    "float": _same_dtype,
}
