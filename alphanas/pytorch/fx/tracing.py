"""Loading and tracing: the module a model spec names, the torch.fx tracer
(which modules stay whole: torch's own layers and every type of
:data:`~alphanas.pytorch.fx.converters.MODULE_CONVERTERS`), and the two runs
that record every node's shape or value (batch 2 for real, batch 3 on meta
tensors, to tell the batch axis from the others).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import sys
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from alphanas.lang.errors import ImportFailure
from alphanas.pytorch.fx.context import BATCH, BATCH_CHECK, Shape, _is_namedtuple, _Meta
from alphanas.pytorch.fx.converters import MODULE_CONVERTERS


def _classifier_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _load(spec: str | nn.Module) -> tuple[nn.Module, str]:
    """The module a spec names, and a default model name."""
    if isinstance(spec, nn.Module):
        return spec, type(spec).__name__.lower()
    if not isinstance(spec, str) or ":" not in spec:
        raise ImportFailure(
            f"cannot read the model spec {spec!r}",
            hint="give torchvision:NAME (e.g. torchvision:resnet18), package.module:callable, or an nn.Module",
        )
    where, name = spec.split(":", 1)
    if where == "torchvision":
        import torchvision

        if name not in torchvision.models.list_models():
            close = difflib.get_close_matches(name, _classifier_names(), n=5, cutoff=0.5)
            raise ImportFailure(
                f"torchvision has no model {name!r}",
                hint=(f"did you mean {', '.join(close)}? " if close else "")
                + "`torchvision.models.list_models(module=torchvision.models)` lists the classifiers",
            )
        # weights=None: the architecture alone, never a download
        return torchvision.models.get_model(name, weights=None), name
    try:
        obj: Any = importlib.import_module(where)
        for part in name.split("."):
            obj = getattr(obj, part)
        module = obj()
    except Exception as err:  # the user's code: any failure is an import failure
        raise ImportFailure(f"cannot create the model {spec}: {type(err).__name__}: {err}",
                            hint="the callable must build an nn.Module without arguments") from None
    if not isinstance(module, nn.Module):
        raise ImportFailure(f"{spec} returned a {type(module).__name__}, not an nn.Module")
    return module, name.split(".")[-1]


class _Tracer(fx.Tracer):
    """torch.fx's tracer, keeping the module types we convert whole (such as
    torchvision's StochasticDepth) besides torch's own layers."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return type(m) in MODULE_CONVERTERS or super().is_leaf_module(m, module_qualified_name)


def _summarise(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return _Meta(tuple(value.shape), value.dtype)
    if isinstance(value, torch.Size):
        return tuple(value)
    if _is_namedtuple(value):
        return tuple(_summarise(v) for v in value)  # torch.return_types
    if isinstance(value, (list, tuple)):
        return type(value)(_summarise(v) for v in value)
    return value


class _Recorder(ShapeProp):
    """ShapeProp that also keeps every node's result: shapes of tensors, and
    the values of everything else (sizes, shape arithmetic, flags)."""

    def __init__(self, gm: fx.GraphModule, fake_mode: Any = None) -> None:
        super().__init__(gm, fake_mode)
        self.results: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        self.results[n] = _summarise(result)
        return result


class _MetaRecorder(_Recorder):
    """The same on meta tensors: shapes and values without arithmetic or
    memory, for the second (batch-checking) run."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.meta: dict[int, torch.Tensor] = {}

    def _meta(self, t: torch.Tensor) -> torch.Tensor:
        if id(t) not in self.meta:  # keyed by identity: shared tensors stay shared
            self.meta[id(t)] = torch.empty_like(t, device="meta")
        return self.meta[id(t)]

    def get_attr(self, target: Any, args: Any, kwargs: Any) -> Any:
        value = super().get_attr(target, args, kwargs)
        return self._meta(value) if isinstance(value, torch.Tensor) else value

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        m = self.fetch_attr(target)
        state = {n: self._meta(t) for n, t in (*m.named_parameters(), *m.named_buffers())}
        return torch.func.functional_call(m, state, args, kwargs)


def _run(gm: fx.GraphModule, input_shape: Shape, batch: int, meta: bool) -> dict[fx.Node, Any]:
    recorder = _MetaRecorder(gm) if meta else _Recorder(gm)
    # ShapeProp prints the traceback of a failing node before raising; the
    # failure is reported as an ImportFailure instead, and any other output
    # (the model's warnings) is passed on
    captured = io.StringIO()
    with torch.no_grad(), contextlib.redirect_stderr(captured):
        recorder.propagate(torch.randn(batch, *input_shape, device="meta" if meta else None))
    sys.stderr.write(captured.getvalue())
    return recorder.results


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _trace(module: nn.Module, input_shape: Shape, what: str) -> tuple[fx.GraphModule, _Tracer, tuple[dict, dict]]:
    tracer = _Tracer()
    try:
        graph = tracer.trace(module)
    except Exception as err:
        raise ImportFailure(
            f"torch.fx cannot trace {what}: {type(err).__name__}: {err}",
            hint="symbolic tracing needs control flow that does not depend on tensor values",
        ) from None
    gm = fx.GraphModule(tracer.root, graph)
    try:
        main = _run(gm, input_shape, BATCH, meta=False)
    except Exception as err:  # the user's model: any failure is an import failure
        cause = _root_cause(err)
        raise ImportFailure(
            f"{what} fails on an input of shape {[BATCH, *input_shape]}: {type(cause).__name__}: {cause}",
            hint="check the input shape (per sample, without the batch axis), e.g. 3,224,224",
        ) from None
    try:
        check = _run(gm, input_shape, BATCH_CHECK, meta=True)
    except Exception:  # an op without a meta kernel: compute for real
        check = _run(gm, input_shape, BATCH_CHECK, meta=False)
    return gm, tracer, (main, check)
